/**
 * THE way berth reads a directory tree that an agent controls (a worktree, a pipeline source).
 * Every host-side read of such a tree goes through `walkTree()`; nothing else walks one by path.
 *
 * The agent can create, swap and re-point symlinks while we read, so the walk never hands the
 * kernel a path with more than one agent-controlled component:
 *  - each directory is opened relative to its already-opened parent, with O_DIRECTORY|O_NOFOLLOW,
 *    through `/proc/self/fd/<parentfd>/<name>` (openat(2), which Node does not expose; see
 *    https://man7.org/linux/man-pages/man5/proc_pid_fd.5.html);
 *  - each file is opened the same way with O_NOFOLLOW|O_NONBLOCK and checked with fstat on the open
 *    handle, so what is read is exactly the regular file inside the tree, or nothing;
 *  - a directory swapped for a symlink after it was listed fails to open (ELOOP/ENOTDIR) and is
 *    reported as `vanished`, never followed. Symlinks are reported with their target text, never
 *    followed.
 * Without /proc (macOS development) walkTree refuses to run rather than fall back to paths.
 */
import { constants as C, existsSync, type Stats } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import { BerthError } from '../errors.js';

const PROC_FD = '/proc/self/fd';

export type EntryKind = 'file' | 'dir' | 'symlink';

export interface TreeEntry {
  /** Path relative to the root, '/'-separated, never empty. */
  readonly rel: string;
  readonly name: string;
  readonly kind: EntryKind;
  /** Permission bits (and setuid/setgid/sticky) as found; callers decide what to keep. */
  readonly mode: number;
  readonly size: number;
  readonly mtimeMs: number;
  /** Symlink target text (never followed). */
  readonly linkTarget?: string;
  /**
   * For files: open the file for reading. The handle is fstat-checked to be the same regular file;
   * a swapped entry yields undefined. The caller closes the handle.
   */
  open(): Promise<FileHandle | undefined>;
}

export interface WalkTreeOptions {
  /**
   * Called for every entry before it is reported or descended into; return false to skip it (and,
   * for a directory, everything below). `rel` is '/'-separated.
   */
  readonly include?: (rel: string, kind: EntryKind) => boolean;
  /** Called for entries that are neither file, directory nor symlink (FIFOs, sockets, devices). */
  readonly onSpecial?: (rel: string) => void;
  /** Called when an entry changed or vanished between listing and opening (a race with the agent). */
  readonly onVanished?: (rel: string) => void;
  /**
   * Called when a directory is opened, before its entries are listed ('' is the root), with a
   * reader for regular files directly inside it (fd-relative, O_NOFOLLOW, fstat-checked; undefined
   * when missing or not a regular file). Lets a caller load rules such as a .gitignore before
   * `include` sees that directory's entries, whatever their sort order.
   */
  readonly onDirectory?: (rel: string, readFile: (name: string, maxBytes: number) => Promise<Buffer | undefined>) => Promise<void> | void;
  readonly signal?: AbortSignal;
}

export function canWalkSafely(): boolean {
  return process.platform === 'linux' && existsSync(PROC_FD);
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

const RACE_ERRNOS = new Set(['ENOENT', 'ELOOP', 'ENOTDIR', 'ENXIO', 'EMLINK']);

function kindOf(st: Stats): EntryKind | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return undefined;
}

async function openDirAt(parent: FileHandle, name: string): Promise<FileHandle | undefined> {
  try {
    return await fs.open(`${PROC_FD}/${parent.fd}/${name}`, C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
  } catch (err) {
    if (RACE_ERRNOS.has(errno(err) ?? '')) return undefined;
    throw err;
  }
}

async function openFileAt(parent: FileHandle, name: string, expected: Stats): Promise<FileHandle | undefined> {
  let h: FileHandle;
  try {
    h = await fs.open(`${PROC_FD}/${parent.fd}/${name}`, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK | C.O_NOCTTY);
  } catch (err) {
    if (RACE_ERRNOS.has(errno(err) ?? '')) return undefined;
    throw err;
  }
  const st = await h.stat();
  if (!st.isFile() || st.ino !== expected.ino || st.dev !== expected.dev) {
    await h.close();
    return undefined;
  }
  return h;
}

/**
 * Walk the tree under `root` depth-first, in sorted name order, yielding every file, directory and
 * symlink. Directory handles stay open while their entries are yielded, so `entry.open()` must be
 * called before the generator is resumed past the entry's directory (consume entries in order).
 */
export async function* walkTree(root: string, opts: WalkTreeOptions = {}): AsyncGenerator<TreeEntry> {
  if (!canWalkSafely()) {
    throw new BerthError('FS_ERROR', `reading ${JSON.stringify(root)} safely needs /proc/self/fd (Linux): run berth on Linux`);
  }
  const top = await fs.open(root, C.O_RDONLY | C.O_DIRECTORY);
  try {
    yield* walkDir(top, '', opts);
  } finally {
    await top.close();
  }
}

async function* walkDir(dir: FileHandle, prefix: string, opts: WalkTreeOptions): AsyncGenerator<TreeEntry> {
  if (opts.onDirectory) await opts.onDirectory(prefix, (name, maxBytes) => readFileAt(dir, prefix, name, maxBytes));
  let names: string[];
  try {
    names = (await fs.readdir(`${PROC_FD}/${dir.fd}`)).sort();
  } catch (err) {
    if (RACE_ERRNOS.has(errno(err) ?? '')) return;
    throw err;
  }
  for (const name of names) {
    opts.signal?.throwIfAborted();
    const rel = prefix ? `${prefix}/${name}` : name;
    let st: Stats;
    try {
      st = await fs.lstat(`${PROC_FD}/${dir.fd}/${name}`);
    } catch (err) {
      if (RACE_ERRNOS.has(errno(err) ?? '')) {
        opts.onVanished?.(rel);
        continue;
      }
      throw err;
    }
    const kind = kindOf(st);
    if (!kind) {
      opts.onSpecial?.(rel);
      continue;
    }
    if (opts.include && !opts.include(rel, kind)) continue;
    yield* visit(dir, name, rel, kind, st, opts);
  }
}

async function* visit(dir: FileHandle, name: string, rel: string, kind: EntryKind, st: Stats, opts: WalkTreeOptions): AsyncGenerator<TreeEntry> {
  const base = { rel, name, kind, mode: st.mode & 0o7777, size: st.size, mtimeMs: st.mtimeMs };
  if (kind === 'symlink') {
    let linkTarget: string;
    try {
      linkTarget = await fs.readlink(`${PROC_FD}/${dir.fd}/${name}`);
    } catch (err) {
      if (!RACE_ERRNOS.has(errno(err) ?? '') && errno(err) !== 'EINVAL') throw err;
      opts.onVanished?.(rel);
      return;
    }
    yield { ...base, linkTarget, open: async () => undefined };
    return;
  }
  if (kind === 'file') {
    yield { ...base, open: () => openFileAt(dir, name, st) };
    return;
  }
  const sub = await openDirAt(dir, name);
  if (!sub) {
    opts.onVanished?.(rel);
    return;
  }
  try {
    const real = await sub.stat();
    if (real.ino !== st.ino || real.dev !== st.dev) {
      opts.onVanished?.(rel);
      return;
    }
    yield { ...base, open: async () => undefined };
    yield* walkDir(sub, rel, opts);
  } finally {
    await sub.close();
  }
}

async function readFileAt(dir: FileHandle, prefix: string, name: string, maxBytes: number): Promise<Buffer | undefined> {
  let st: Stats;
  try {
    st = await fs.lstat(`${PROC_FD}/${dir.fd}/${name}`);
  } catch (err) {
    if (RACE_ERRNOS.has(errno(err) ?? '')) return undefined;
    throw err;
  }
  if (!st.isFile()) return undefined;
  const rel = prefix ? `${prefix}/${name}` : name;
  return readEntry({ rel, name, kind: 'file', mode: st.mode & 0o7777, size: st.size, mtimeMs: st.mtimeMs, open: () => openFileAt(dir, name, st) }, maxBytes);
}

/** Read a whole file entry, refusing more than `maxBytes`; undefined when it vanished or was swapped. */
export async function readEntry(entry: TreeEntry, maxBytes: number): Promise<Buffer | undefined> {
  const h = await entry.open();
  if (!h) return undefined;
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    const buf = Buffer.allocUnsafe(64 * 1024);
    for (;;) {
      const { bytesRead } = await h.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) {
        throw new BerthError('FILE_TOO_LARGE', `${JSON.stringify(entry.rel)} is larger than ${maxBytes} bytes: berth reads at most that much of one file`);
      }
      chunks.push(Buffer.from(buf.subarray(0, bytesRead)));
    }
    return Buffer.concat(chunks, total);
  } finally {
    await h.close();
  }
}

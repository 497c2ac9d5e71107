/**
 * Confined path resolution for WorkspaceFiles. Every path comes from a possibly hostile agent that
 * also controls the worktree's contents from inside its container (it can create, swap and point
 * symlinks anywhere while we work), so resolution never hands an agent path to the kernel.
 *
 * How it stays inside the root:
 *  1. The agent path is validated and normalised lexically into components under the root.
 *  2. The components are walked one at a time from the root, like the kernel does, but by us: each
 *     directory is opened with O_DIRECTORY|O_NOFOLLOW, so a component that is (or has just been
 *     swapped into) a symlink fails to open instead of being followed. Symlinks are resolved by
 *     reading them and splicing their target into the walk; `..` and absolute targets are checked
 *     against the root, so the walk can never step outside (that is containment after the real
 *     path of the deepest existing ancestor, computed without trusting realpath's race).
 *  3. On Linux the walk is fd-relative: every step addresses `/proc/self/fd/<dirfd>/<name>`, the
 *     equivalent of openat(2)/unlinkat(2)/renameat(2), which Node does not expose (proc(5):
 *     https://man7.org/linux/man-pages/man5/proc_pid_fd.5.html). The magic link
 *     resolves to the directory we opened, wherever it is now, so swapping an ancestor for a symlink
 *     after we passed it changes nothing. Callers then act on (dir, name) with O_NOFOLLOW on the leaf.
 *     Remaining window (documented honestly): between our lstat of a leaf and the operation on it the
 *     leaf itself can be swapped; every leaf operation is either O_NOFOLLOW (open), acts on the link
 *     itself (unlink, rename-over, lstat), or fails, so the swap can at worst make the call fail or
 *     act on a different entry *inside the same directory*, never outside the root.
 *  4. Without /proc (macOS development), the same walk runs on real absolute paths. Each step is
 *     still checked with O_NOFOLLOW, but an ancestor swapped between the walk and the operation is
 *     followed by the kernel: that TOCTOU window exists only in this fallback.
 */
import { constants as C, existsSync, type Stats } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { BerthError } from '../../src/errors.js';

/** Linux PATH_MAX / NAME_MAX; longer input is rejected before touching the disk. */
export const MAX_PATH_BYTES = 4096;
export const MAX_NAME_BYTES = 255;
/** Linux's MAXSYMLINKS: the same budget the kernel allows before ELOOP. */
export const MAX_SYMLINK_HOPS = 40;

const PROC_FD_AVAILABLE = process.platform === 'linux' && existsSync('/proc/self/fd');

export type ResolveMode = 'auto' | 'fd' | 'path';

export interface RootInfo {
  /** realpath of the worktree. */
  readonly real: string;
  /** The root as configured (may contain symlinks, e.g. a temp dir under /tmp on macOS). */
  readonly given: string;
  /** Absolute path of the worktree inside the container (e.g. `/workspace`), if any. */
  readonly containerWorkdir: string | undefined;
  /** true: fd-relative walk through /proc/self/fd; false: absolute-path fallback. */
  readonly fdMode: boolean;
}

export function useFdMode(mode: ResolveMode): boolean {
  if (mode === 'path') return false;
  if (mode === 'fd' && !PROC_FD_AVAILABLE) {
    throw new BerthError('BAD_INPUT', `resolveMode 'fd' needs /proc/self/fd (Linux); use 'auto' or 'path' on this platform.`);
  }
  return PROC_FD_AVAILABLE;
}

/** A directory reached by the walk: its real components under the root and (fd mode) an open handle. */
export interface DirRef {
  readonly rel: readonly string[];
  readonly abs: string;
  readonly handle: FileHandle | undefined;
}

/** Path of `name` inside `dir`, addressed without re-resolving the directory in fd mode. */
export function at(dir: DirRef, name: string): string {
  return dir.handle ? `/proc/self/fd/${dir.handle.fd}/${name}` : path.join(dir.abs, name);
}

/** Path naming the directory itself (for readdir). */
export function dirPath(dir: DirRef): string {
  return dir.handle ? `/proc/self/fd/${dir.handle.fd}` : dir.abs;
}

export async function closeDir(dir: DirRef | undefined): Promise<void> {
  await dir?.handle?.close().catch(() => undefined);
}

/** Quote an agent-supplied value for an error message: JSON (shows NUL, newlines), bounded length. */
export function quote(value: string): string {
  return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
}

export function relString(parts: readonly string[]): string {
  return parts.length === 0 ? '.' : parts.join('/');
}

/** True when `parts` is the worktree's own `.git` or anything below it. */
export function isGitPath(parts: readonly string[]): boolean {
  return parts[0] !== undefined && parts[0].toLowerCase() === '.git';
}

export function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/** Translate a foreign fs error (the one place this module does so) into a BerthError. */
export function fsError(err: unknown, what: string, display: string): BerthError {
  if (err instanceof BerthError) return err;
  const code = errnoOf(err);
  if (code === 'ENOENT') {
    return new BerthError('FILE_NOT_FOUND', `${what} ${quote(display)}: it does not exist (it may have just been removed). Check the path with list.`, {
      cause: err,
    });
  }
  if (code === 'ELOOP' || code === 'ENOTDIR') {
    return new BerthError(
      'PATH_INVALID',
      `${what} ${quote(display)}: the path changed while it was being accessed (a component became a symlink or a file). Retry the call.`,
      { cause: err },
    );
  }
  if (code === 'ENAMETOOLONG') {
    return new BerthError('PATH_INVALID', `${what} ${quote(display)}: the resolved path is too long for the filesystem. Use a shorter path.`, { cause: err });
  }
  const detail = err instanceof Error ? err.message.replace(/\/proc\/self\/fd\/\d+\//g, '') : String(err);
  return new BerthError('FS_ERROR', `${what} ${quote(display)} failed (${code ?? 'error'}): ${detail}. Check permissions and free space in the workspace.`, {
    cause: err,
    details: { errno: code },
  });
}

/**
 * Validate an agent path and turn it into normalised components relative to the root.
 * Relative paths resolve against the root; absolute ones must lie inside the container workdir (the
 * form an agent sees) or the host root.
 */
export function toRelParts(input: unknown, root: RootInfo): string[] {
  if (typeof input !== 'string') {
    throw new BerthError('PATH_INVALID', `path must be a string, got ${typeof input}. Pass a path relative to the workspace root, e.g. "src/index.ts".`);
  }
  if (input.length === 0) {
    throw new BerthError('PATH_INVALID', `path "" is empty. Pass a path relative to the workspace root, e.g. "src/index.ts", or "." for the root.`);
  }
  if (input.includes('\0')) {
    throw new BerthError('PATH_INVALID', `path ${quote(input)} contains a NUL byte, which no file name can hold. Remove it.`);
  }
  const bytes = Buffer.byteLength(input, 'utf8');
  if (bytes > MAX_PATH_BYTES) {
    throw new BerthError('PATH_INVALID', `path ${quote(input)} is ${bytes} bytes long; the limit is ${MAX_PATH_BYTES}. Use a shorter path.`);
  }
  let rel: string;
  if (path.posix.isAbsolute(input)) {
    const norm = path.posix.normalize(input);
    const mapped = mapAbsolute(norm, root);
    if (mapped === undefined) {
      const where = root.containerWorkdir ? ` or an absolute path under ${root.containerWorkdir}` : '';
      throw new BerthError('PATH_OUTSIDE', `path ${quote(input)} is outside the workspace. Use a path relative to the workspace root${where}.`);
    }
    rel = mapped;
  } else {
    rel = path.posix.normalize(input);
    if (rel === '..' || rel.startsWith('../')) {
      throw new BerthError('PATH_OUTSIDE', `path ${quote(input)} escapes the workspace root with "..". Use a path inside the workspace.`);
    }
  }
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  for (const p of parts) {
    if (Buffer.byteLength(p, 'utf8') > MAX_NAME_BYTES) {
      throw new BerthError('PATH_INVALID', `path ${quote(input)} has a component longer than ${MAX_NAME_BYTES} bytes. Use shorter names.`);
    }
  }
  return parts;
}

/** Map a normalised absolute path to a root-relative one, or undefined when it is outside. */
export function mapAbsolute(norm: string, root: RootInfo): string | undefined {
  // The container form comes first: it is what agents see. Host forms serve the runner itself.
  for (const base of [root.containerWorkdir, root.given, root.real]) {
    if (base === undefined) continue;
    if (norm === base) return '.';
    if (norm.startsWith(`${base}/`)) return norm.slice(base.length + 1);
  }
  return undefined;
}

export async function openRootDir(root: RootInfo): Promise<DirRef> {
  const handle = root.fdMode ? await fs.open(root.real, C.O_RDONLY | C.O_DIRECTORY) : undefined;
  return { rel: [], abs: root.real, handle };
}

/**
 * Open `name` inside `dir` as a directory without following a symlink. Errors keep their errno:
 * ENOENT (missing), ENOTDIR/ELOOP (a file or a symlink: caller lstat()s to tell which).
 */
export async function openDirAt(dir: DirRef, name: string, root: RootInfo): Promise<DirRef> {
  const h = await fs.open(at(dir, name), C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
  const ref: DirRef = { rel: [...dir.rel, name], abs: path.join(dir.abs, name), handle: root.fdMode ? h : undefined };
  if (!root.fdMode) await h.close();
  return ref;
}

/** Re-open a directory from the root with no symlink following (used after `..` and by list). */
export async function openStrict(root: RootInfo, rel: readonly string[]): Promise<DirRef> {
  let dir = await openRootDir(root);
  try {
    for (const name of rel) {
      const next = await openDirAt(dir, name, root);
      await closeDir(dir);
      dir = next;
    }
    return dir;
  } catch (err) {
    await closeDir(dir);
    throw err;
  }
}

export async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await fs.lstat(p);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return null;
    throw err;
  }
}

/**
 * mkdir inside `dir`. When berth runs as root on the host, new entries take the owner of their
 * parent so the (usually unprivileged) container user can still modify them.
 */
export async function mkdirOwned(dir: DirRef, name: string): Promise<void> {
  try {
    await fs.mkdir(at(dir, name));
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') return; // raced with the agent; the O_NOFOLLOW open decides
    throw err;
  }
  await adoptParentOwner(dir, at(dir, name));
}

/** chown a new entry to its parent directory's owner (only when running as root; best effort). */
export async function adoptParentOwner(dir: DirRef, target: string | FileHandle): Promise<void> {
  if (process.getuid?.() !== 0) return;
  try {
    const parent = await fs.stat(at(dir, '.'));
    if (parent.uid === 0 && parent.gid === 0) return;
    // A worktree's top directory stays root-owned for git, with the session user's group
    // (identity.ts): entries made there belong to the session user (uid = gid, as berth sets it).
    const uid = parent.uid === 0 ? parent.gid : parent.uid;
    if (typeof target === 'string') await fs.lchown(target, uid, parent.gid);
    else await target.chown(uid, parent.gid);
  } catch {
    // Best effort: ownership is a convenience for the container user, not a safety property.
  }
}

/**
 * The worktree tarball on import: extracting an untrusted one without letting it touch anything
 * outside its destination (packing is pack.ts).
 *
 * Extraction is done entry by entry with our own checks instead of tar's Unpack, because the rules
 * differ from a general-purpose extractor: every entry is either written inside `dest` or reported
 * in `rejected` with a reason, and nothing is ever written through a symlink.
 *  - paths: absolute, "..", a ".git" component (would reach the worktree's git link) → rejected
 *  - hard links, devices, FIFOs and unknown types → rejected
 *  - symlinks: relative targets only, and the target must stay inside `dest` without passing
 *    through another symlink (checked against the final set of links, so a later link cannot
 *    redirect an earlier one); links are created after all files
 *  - an existing path is never overwritten (the worktree's tracked files win)
 *  - modes are normalised to 0644/0755 (setuid/setgid/sticky dropped and reported in `adjusted`)
 *  - totals are capped (entries, bytes); exceeding a cap aborts the extraction
 *
 * The entry rules (checkEntryPath, entryKind, symlinkProblem) are shared with the volume and image
 * archives (volume-archive.ts, image-archive.ts); the tar plumbing is tar-io.ts.
 */
import { constants as fsc } from 'node:fs';
import { lstat, mkdir, open, realpath, symlink } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import type { ReadEntry } from 'tar';
import { BerthError, isBerthError } from '../../src/errors.js';
import { readGzipTar } from './tar-io.js';

export interface ArchiveLimits {
  /** Maximum number of tar entries (any type, rejected ones included). */
  readonly maxEntries: number;
  /** Maximum total bytes of file contents written. */
  readonly maxBytes: number;
}

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = Object.freeze({ maxEntries: 200_000, maxBytes: 8 * 1024 ** 3 });

export interface RejectedEntry {
  readonly path: string;
  readonly type: string;
  readonly reason: string;
}

export interface AdjustedEntry {
  readonly path: string;
  readonly change: string;
}

export interface ExtractReport {
  readonly files: number;
  readonly directories: number;
  readonly symlinks: number;
  readonly bytes: number;
  readonly rejected: readonly RejectedEntry[];
  readonly adjusted: readonly AdjustedEntry[];
}

type PathCheck = { ok: true; segments: string[] } | { ok: false; reason: string };

const MAX_PATH_BYTES = 4096;

/**
 * Validate an archive path; returns its normalised segments or why it is refused. `allowGit`
 * lifts the ".git" rule for destinations that are not a worktree (volume contents).
 */
export function checkEntryPath(raw: string, opts: { allowGit?: boolean } = {}): PathCheck {
  if (raw.includes('\0')) return { ok: false, reason: 'path contains a NUL byte' };
  if (Buffer.byteLength(raw) > MAX_PATH_BYTES) return { ok: false, reason: `path longer than ${MAX_PATH_BYTES} bytes` };
  if (raw.startsWith('/')) return { ok: false, reason: 'absolute path' };
  const segments = raw.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.length === 0) return { ok: false, reason: 'empty path' };
  if (segments.includes('..')) return { ok: false, reason: 'path contains ".." (would escape the destination)' };
  // Case-insensitive: on macOS/Windows file systems ".GIT" is the same entry.
  if (!opts.allowGit && segments.some((s) => s.toLowerCase() === '.git')) return { ok: false, reason: 'path is inside ".git" (would modify git metadata)' };
  return { ok: true, segments };
}

/**
 * Check a symlink target: relative, and when resolved from the link's directory it stays inside
 * the root (`opts.place` names it in the reason) and does not pass through any symlink among
 * `links` (or, with `opts.root`, on disk under it) before its last component; unless
 * `opts.allowGit`, it must not point into ".git". Returns the reason it is refused, or undefined.
 */
export async function symlinkProblem(
  linkSegments: readonly string[],
  target: string,
  links: ReadonlySet<string>,
  opts: { place: string; root?: string; allowGit?: boolean },
): Promise<string | undefined> {
  if (target === '') return 'empty symlink target';
  if (target.includes('\0')) return 'symlink target contains a NUL byte';
  if (target.startsWith('/')) return `symlink to absolute path ${JSON.stringify(target)}`;
  const cur = linkSegments.slice(0, -1);
  const parts = target.split('/').filter((s) => s !== '' && s !== '.');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (part === '..') {
      if (cur.length === 0) return `symlink target ${JSON.stringify(target)} points outside ${opts.place}`;
      cur.pop();
      continue;
    }
    cur.push(part);
    if (i === parts.length - 1) break;
    const rel = cur.join('/');
    if (links.has(rel)) return `symlink target ${JSON.stringify(target)} passes through another symlink`;
    if (opts.root === undefined) continue;
    try {
      if ((await lstat(posix.join(opts.root, rel))).isSymbolicLink()) return `symlink target ${JSON.stringify(target)} passes through another symlink`;
    } catch {
      // Not there: it is a plain name as far as this link is concerned.
    }
  }
  if (!opts.allowGit && cur.some((s) => s.toLowerCase() === '.git')) return `symlink target ${JSON.stringify(target)} points into ".git"`;
  return undefined;
}

/** How a tar entry type is handled: written as a file, directory or symlink, or refused (why). */
export function entryKind(type: string): 'file' | 'dir' | 'symlink' | { reject: string } {
  switch (type) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
      return 'file';
    case 'Directory':
      return 'dir';
    case 'SymbolicLink':
      return 'symlink';
    case 'Link':
      return { reject: 'hard link (not allowed)' };
    case 'CharacterDevice':
    case 'BlockDevice':
      return { reject: 'device file (not allowed)' };
    case 'FIFO':
      return { reject: 'FIFO (not allowed)' };
    default:
      return { reject: `unsupported entry type ${type}` };
  }
}

/** fs errors that concern one entry (reported) rather than the destination as a whole (fatal). */
const ENTRY_ERRNO = new Set(['EEXIST', 'ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'ELOOP', 'EINVAL', 'EILSEQ']);

/** One entry refused while writing (reported per entry, the extraction goes on). */
function entryRejected(reason: string): BerthError {
  return new BerthError('UNSAFE_CONTENT', reason, { details: { entryRejected: true } });
}

export interface ExtractOptions {
  readonly limits?: Partial<ArchiveLimits>;
  readonly signal?: AbortSignal;
}

/**
 * Extract a gzip-compressed tar from `source` into the existing directory `dest`. Resolves with a
 * report of what was written and what was refused; rejects (BerthError) when the archive is not
 * a gzip tar, is truncated, exceeds a limit, the destination cannot be written, or on abort. On
 * rejection, files already written stay: the caller owns `dest` and removes it.
 */
export async function extractArchive(source: Readable, dest: string, opts: ExtractOptions = {}): Promise<ExtractReport> {
  const x = new Extraction(await realpath(dest), { ...DEFAULT_ARCHIVE_LIMITS, ...opts.limits }, opts.signal);
  await readGzipTar(source, {
    label: 'the worktree archive',
    cancelled: 'archive extraction was cancelled',
    rejected: x.rejected,
    onEntry: (entry) => x.entry(entry),
    signal: opts.signal,
  });
  // Links last, judged against the complete set so a later link cannot redirect an earlier one.
  await x.links();
  return x.report();
}

/** The state of one extraction: what was written, refused and adjusted, and the links still to make. */
class Extraction {
  readonly rejected: RejectedEntry[] = [];
  readonly #adjusted: AdjustedEntry[] = [];
  readonly #knownDirs = new Set<string>(['']);
  readonly #pendingLinks: { rel: string; segments: string[]; target: string }[] = [];
  #entries = 0;
  #files = 0;
  #directories = 0;
  #symlinks = 0;
  #bytes = 0;

  constructor(
    private readonly root: string,
    private readonly limits: ArchiveLimits,
    private readonly signal: AbortSignal | undefined,
  ) {}

  report(): ExtractReport {
    return {
      files: this.#files,
      directories: this.#directories,
      symlinks: this.#symlinks,
      bytes: this.#bytes,
      rejected: this.rejected,
      adjusted: this.#adjusted,
    };
  }

  #reject(path: string, type: string, reason: string): void {
    this.rejected.push({ path, type, reason });
  }

  /** Create the directories for `segments` (all of them), refusing to pass through anything but real directories. */
  async #ensureDirs(segments: string[]): Promise<void> {
    for (let i = 1; i <= segments.length; i++) {
      const rel = segments.slice(0, i).join('/');
      if (this.#knownDirs.has(rel)) continue;
      const abs = posix.join(this.root, rel);
      try {
        const st = await lstat(abs);
        if (st.isSymbolicLink()) throw entryRejected(`parent ${JSON.stringify(rel)} is a symlink`);
        if (!st.isDirectory()) throw entryRejected(`parent ${JSON.stringify(rel)} is not a directory`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        await mkdir(abs, { mode: 0o755 });
      }
      this.#knownDirs.add(rel);
    }
  }

  #tooLarge(rel: string, suffix: string): BerthError {
    return new BerthError('FILE_TOO_LARGE', `archive expands beyond the ${this.limits.maxBytes}-byte limit at ${JSON.stringify(rel)}${suffix}`, {
      details: { maxBytes: this.limits.maxBytes, path: rel },
    });
  }

  async #writeFile(entry: ReadEntry, segments: string[], rel: string): Promise<void> {
    if (this.#bytes + entry.size > this.limits.maxBytes)
      throw this.#tooLarge(rel, ': refusing to extract it. Raise the import limit if this export is trusted');
    await this.#ensureDirs(segments.slice(0, -1));
    // O_EXCL: never replace what is there; O_NOFOLLOW: never write through a symlink.
    const fh = await open(posix.join(this.root, rel), fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
    try {
      for await (const chunk of entry as AsyncIterable<Buffer>) {
        this.#bytes += chunk.length;
        if (this.#bytes > this.limits.maxBytes) throw this.#tooLarge(rel, '');
        await fh.write(chunk);
      }
      const mode = entry.mode ?? 0o644;
      if (mode & 0o7000)
        this.#adjusted.push({ path: rel, change: `dropped setuid/setgid/sticky bits (mode ${(mode & 0o7777).toString(8)} → ${mode & 0o111 ? '755' : '644'})` });
      await fh.chmod(mode & 0o111 ? 0o755 : 0o644);
      const mtime = entry.mtime;
      if (mtime instanceof Date && Number.isFinite(mtime.getTime())) await fh.utimes(mtime, mtime);
    } finally {
      await fh.close();
    }
    this.#files++;
  }

  /** One archive entry: written, queued (links) or rejected with a reason. */
  async entry(entry: ReadEntry): Promise<void> {
    if (++this.#entries > this.limits.maxEntries) {
      throw new BerthError(
        'FILE_TOO_LARGE',
        `archive has more than ${this.limits.maxEntries} entries: refusing to extract it. Raise the import limit if this export is trusted`,
        {
          details: { maxEntries: this.limits.maxEntries },
        },
      );
    }
    const raw = entry.path;
    const kind = entryKind(entry.type);
    const check = checkEntryPath(raw);
    if (typeof kind === 'object' || !check.ok) {
      entry.resume();
      return this.#reject(raw, entry.type, typeof kind === 'object' ? kind.reject : (check as { reason: string }).reason);
    }
    const rel = check.segments.join('/');
    try {
      if (kind === 'dir') {
        entry.resume();
        await this.#ensureDirs(check.segments);
        this.#directories++;
      } else if (kind === 'symlink') {
        entry.resume();
        this.#pendingLinks.push({ rel, segments: check.segments, target: entry.linkpath ?? '' });
      } else {
        await this.#writeFile(entry, check.segments, rel);
      }
    } catch (err) {
      entry.resume();
      const reason = entryProblem(err, 'path is a symlink');
      if (reason === undefined) throw err;
      this.#reject(raw, entry.type, reason);
    }
  }

  /** Create the queued symlinks that pass symlinkProblem against the complete set. */
  async links(): Promise<void> {
    const linkSet = new Set(this.#pendingLinks.map((l) => l.rel));
    for (const link of this.#pendingLinks) {
      if (this.signal?.aborted) throw new BerthError('ABORTED', 'archive extraction was cancelled');
      const problem = await symlinkProblem(link.segments, link.target, linkSet, { place: 'the destination', root: this.root });
      if (problem !== undefined) {
        this.#reject(link.rel, 'SymbolicLink', problem);
        continue;
      }
      try {
        await this.#ensureDirs(link.segments.slice(0, -1));
        await symlink(link.target, posix.join(this.root, link.rel));
        this.#symlinks++;
      } catch (err) {
        const reason = entryProblem(err, undefined);
        if (reason === undefined) throw err;
        this.#reject(link.rel, 'SymbolicLink', reason);
      }
    }
  }
}

/** Why one entry could not be written (reported), or undefined for a fatal error. */
function entryProblem(err: unknown, eloop: string | undefined): string | undefined {
  if (isBerthError(err, 'UNSAFE_CONTENT') && err.details?.entryRejected === true) return err.message;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === undefined || !ENTRY_ERRNO.has(code)) return undefined;
  if (code === 'EEXIST') return 'already exists (not overwritten)';
  if (code === 'ELOOP' && eloop !== undefined) return eloop;
  return `cannot be created (${code})`;
}

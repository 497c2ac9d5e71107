/**
 * Volume contents in an export: a gzip-compressed tar of the volume root as Docker's archive API
 * produces it, and, on import, a vetting pass that rewrites an untrusted one into a clean tar for
 * Docker to apply to the fresh volume.
 *
 * The entry rules and the tar plumbing are the worktree archive's (archive.ts: checkEntryPath,
 * entryKind (no hard links, devices or FIFOs), symlinkProblem (relative symlinks that stay inside
 * and do not pass through other links), links last, setuid/setgid/sticky dropped, capped totals,
 * readGzipTar), with two differences that suit a volume rather than a git worktree: ".git" paths
 * are allowed (a volume may hold a repository), and permission bits and numeric owners are kept (a
 * database directory must stay 0700 and owned by its user). Rejected entries are reported, not
 * written; a damaged archive or a broken limit fails the whole import. Docker itself extracts
 * inside the helper container's root (chrootarchive), so even an entry these rules missed could not
 * reach the host. The export side is archive.ts gzipTar over Docker's tar of the volume.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { ReadEntry } from 'tar';
import { BerthError } from '../../src/errors.js';
import {
  checkEntryPath,
  DEFAULT_ARCHIVE_LIMITS,
  entryKind,
  symlinkProblem,
  type ArchiveLimits,
  type ExtractReport,
  type RejectedEntry,
  type AdjustedEntry,
} from './archive.js';
import { readGzipTar, tarHeaderBlocks } from './tar-io.js';

/** What a volume restore wrote and refused: the same shape as a worktree extraction's report. */
export type VolumeRestoreReport = ExtractReport;

function owner(n: unknown): number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 && n < 2 ** 31 ? n : 0;
}

/**
 * Read the gzip tar `source` (untrusted), write a vetted plain tar to `out`. Resolves with what was
 * kept and refused; rejects with BAD_INPUT (damaged archive), FILE_TOO_LARGE (limits) or ABORTED.
 */
export async function vetVolumeArchive(
  source: Readable,
  out: string,
  opts: { limits?: Partial<ArchiveLimits>; signal?: AbortSignal } = {},
): Promise<VolumeRestoreReport> {
  const limits: ArchiveLimits = { ...DEFAULT_ARCHIVE_LIMITS, ...opts.limits };
  const rejected: RejectedEntry[] = [];
  const adjusted: AdjustedEntry[] = [];
  /** Files and directories written so far; links are judged at the end. */
  const seen = new Set<string>();
  const linkPaths = new Set<string>();
  /** Paths that are (or must be) directories: every parent of an emitted entry. */
  const dirs = new Set<string>();
  const links: { rel: string; segments: string[]; target: string; mode: number; uid: number; gid: number; mtime: Date | undefined }[] = [];
  let entries = 0;
  let files = 0;
  let directories = 0;
  let bytes = 0;
  const fh: FileHandle = await open(out, 'wx', 0o600);
  const write = async (bufs: Buffer[]) => {
    for (const b of bufs) await fh.write(b);
  };
  const tooLarge = (what: string, rel?: string) =>
    new BerthError('FILE_TOO_LARGE', `a volume archive ${what}: refusing to restore it. Raise the import limit if this export is trusted`, {
      details: { ...limits, ...(rel !== undefined ? { path: rel } : {}) },
    });

  const handle = async (entry: ReadEntry) => {
    entries++;
    if (entries > limits.maxEntries) throw tooLarge(`has more than ${limits.maxEntries} entries`);
    const raw = entry.path;
    if (/^(\.\/?)?$/.test(raw)) return void entry.resume(); // the volume root itself
    const reject = (reason: string) => {
      entry.resume();
      rejected.push({ path: raw, type: entry.type, reason });
    };
    const check = checkEntryPath(raw, { allowGit: true });
    if (!check.ok) return reject(check.reason);
    const rel = check.segments.join('/');
    if (seen.has(rel) || linkPaths.has(rel)) return reject('duplicate entry (the first one is kept)');
    for (let i = 1; i < check.segments.length; i++) {
      const parent = check.segments.slice(0, i).join('/');
      if (seen.has(parent) && !dirs.has(parent)) return reject(`parent ${JSON.stringify(parent)} is not a directory`);
    }
    const mode = entry.mode ?? 0o644;
    const keep = mode & 0o777;
    const base = {
      uid: owner(entry.uid),
      gid: owner(entry.gid),
      uname: '',
      gname: '',
      mtime: entry.mtime instanceof Date && Number.isFinite(entry.mtime.getTime()) ? entry.mtime : new Date(0),
    };
    const kind = entryKind(entry.type);
    switch (kind) {
      case 'dir': {
        entry.resume();
        await write(tarHeaderBlocks({ ...base, path: `${rel}/`, type: 'Directory', mode: keep, size: 0 }));
        directories++;
        break;
      }
      case 'file': {
        if (dirs.has(rel)) return reject('path is also a directory in the archive');
        if (bytes + entry.size > limits.maxBytes) throw tooLarge(`expands beyond the ${limits.maxBytes}-byte limit at ${JSON.stringify(rel)}`, rel);
        await write(tarHeaderBlocks({ ...base, path: rel, type: 'File', mode: keep, size: entry.size }));
        let n = 0;
        for await (const chunk of entry as AsyncIterable<Buffer>) {
          n += chunk.length;
          if (n > entry.size)
            throw new BerthError('BAD_INPUT', `a volume archive entry ${JSON.stringify(rel)} is longer than its header says: re-export the workspace`, {
              details: { reason: 'corrupt-archive' },
            });
          await fh.write(chunk);
        }
        if (n !== entry.size)
          throw new BerthError('BAD_INPUT', `a volume archive entry ${JSON.stringify(rel)} is truncated: re-export the workspace`, {
            details: { reason: 'corrupt-archive' },
          });
        const pad = (512 - (entry.size % 512)) % 512;
        if (pad > 0) await fh.write(Buffer.alloc(pad));
        bytes += entry.size;
        files++;
        break;
      }
      case 'symlink': {
        entry.resume();
        links.push({ rel, segments: check.segments, target: entry.linkpath ?? '', mode: 0o777, uid: base.uid, gid: base.gid, mtime: base.mtime });
        linkPaths.add(rel);
        return;
      }
      default:
        return reject(kind.reject);
    }
    if (mode & 0o7000) adjusted.push({ path: rel, change: `dropped setuid/setgid/sticky bits (mode ${(mode & 0o7777).toString(8)} → ${keep.toString(8)})` });
    seen.add(rel);
    if (kind === 'dir') dirs.add(rel);
    for (let i = 1; i < check.segments.length; i++) dirs.add(check.segments.slice(0, i).join('/'));
  };

  try {
    await readGzipTar(source, {
      label: 'a volume archive',
      cancelled: 'restoring a volume was cancelled',
      rejected,
      onEntry: handle,
      signal: opts.signal,
    });

    // Links last, judged against the complete set, so no file is ever written through one.
    const linkSet = new Set(links.map((l) => l.rel));
    let symlinks = 0;
    for (const l of links) {
      const problem =
        seen.has(l.rel) || dirs.has(l.rel)
          ? 'path is also a file or directory in the archive'
          : await symlinkProblem(l.segments, l.target, linkSet, { place: 'the volume', allowGit: true });
      if (problem !== undefined) {
        rejected.push({ path: l.rel, type: 'SymbolicLink', reason: problem });
        continue;
      }
      await write(
        tarHeaderBlocks({
          path: l.rel,
          type: 'SymbolicLink',
          linkpath: l.target,
          mode: l.mode,
          size: 0,
          uid: l.uid,
          gid: l.gid,
          uname: '',
          gname: '',
          ...(l.mtime ? { mtime: l.mtime } : {}),
        }),
      );
      symlinks++;
    }
    await fh.write(Buffer.alloc(1024));
    return { files, directories, symlinks, bytes, rejected, adjusted };
  } finally {
    await fh.close();
  }
}

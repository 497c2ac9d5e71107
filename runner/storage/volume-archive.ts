/**
 * Volume contents in an export: a gzip-compressed tar of the volume root as Docker's archive API
 * produces it, and, on import, a vetting pass that rewrites an untrusted one into a clean tar for
 * Docker to apply to the fresh volume.
 *
 * The entry rules are the worktree archive's (archive.ts: checkEntryPath, no hard links, devices or
 * FIFOs, relative symlinks that stay inside and do not pass through other links, links last,
 * setuid/setgid/sticky dropped, capped totals), with two differences that suit a volume rather than
 * a git worktree: ".git" paths are allowed (a volume may hold a repository), and permission bits
 * and numeric owners are kept (a database directory must stay 0700 and owned by its user).
 * Rejected entries are reported, not written; a damaged archive or a broken limit fails the whole
 * import. Docker itself extracts inside the helper container's root (chrootarchive), so even an
 * entry these rules missed could not reach the host.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { Header, Parser, Pax, type HeaderData, type ReadEntry } from 'tar';
import { RunnerError } from '../errors.js';
import { checkEntryPath, DEFAULT_ARCHIVE_LIMITS, type AdjustedEntry, type ArchiveLimits, type RejectedEntry } from './archive.js';

export interface VolumeRestoreReport {
  readonly files: number;
  readonly directories: number;
  readonly symlinks: number;
  readonly bytes: number;
  readonly rejected: readonly RejectedEntry[];
  readonly adjusted: readonly AdjustedEntry[];
}

/** gzip over Docker's tar of a volume (export side). */
export function gzipVolumeTar(tar: Readable): Readable {
  const gz = createGzip({ level: 6 });
  tar.on('error', (err) => gz.destroy(err));
  gz.on('close', () => {
    if (!tar.destroyed) tar.destroy();
  });
  return tar.pipe(gz);
}

function headerBlocks(data: HeaderData): Buffer[] {
  const header = new Header(data);
  const out: Buffer[] = [];
  // Long or non-ASCII names do not fit ustar fields: a pax record carries them (POSIX.1-2001).
  if (header.encode()) out.push(new Pax({ path: data.path, linkpath: data.linkpath, size: data.size, mtime: data.mtime }).encode());
  if (!header.block) throw new Error(`could not encode a tar header for ${JSON.stringify(data.path)}`);
  out.push(header.block);
  return out;
}

/** Lexical check of a symlink target against the archive's own set of links (the volume starts empty). */
function linkProblem(linkSegments: readonly string[], target: string, links: ReadonlySet<string>): string | undefined {
  if (target === '') return 'empty symlink target';
  if (target.includes('\0')) return 'symlink target contains a NUL byte';
  if (target.startsWith('/')) return `symlink to absolute path ${JSON.stringify(target)}`;
  const cur = linkSegments.slice(0, -1);
  const parts = target.split('/').filter((s) => s !== '' && s !== '.');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (part === '..') {
      if (cur.length === 0) return `symlink target ${JSON.stringify(target)} points outside the volume`;
      cur.pop();
      continue;
    }
    cur.push(part);
    if (i < parts.length - 1 && links.has(cur.join('/'))) return `symlink target ${JSON.stringify(target)} passes through another symlink`;
  }
  return undefined;
}

function owner(n: unknown): number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 && n < 2 ** 31 ? n : 0;
}

/**
 * Read the gzip tar `source` (untrusted), write a vetted plain tar to `out`. Resolves with what was
 * kept and refused; rejects with BAD_INPUT (damaged archive), FILE_TOO_LARGE (limits) or ABORTED.
 */
export async function vetVolumeArchive(source: Readable, out: string, opts: { limits?: Partial<ArchiveLimits>; signal?: AbortSignal } = {}): Promise<VolumeRestoreReport> {
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
    new RunnerError('FILE_TOO_LARGE', `a volume archive ${what}: refusing to restore it. Raise the import limit if this export is trusted`, {
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
    const base = { uid: owner(entry.uid), gid: owner(entry.gid), uname: '', gname: '', mtime: entry.mtime instanceof Date && Number.isFinite(entry.mtime.getTime()) ? entry.mtime : new Date(0) };
    switch (entry.type) {
      case 'Directory': {
        entry.resume();
        await write(headerBlocks({ ...base, path: `${rel}/`, type: 'Directory', mode: keep, size: 0 }));
        directories++;
        break;
      }
      case 'File':
      case 'OldFile':
      case 'ContiguousFile': {
        if (dirs.has(rel)) return reject('path is also a directory in the archive');
        if (bytes + entry.size > limits.maxBytes) throw tooLarge(`expands beyond the ${limits.maxBytes}-byte limit at ${JSON.stringify(rel)}`, rel);
        await write(headerBlocks({ ...base, path: rel, type: 'File', mode: keep, size: entry.size }));
        let n = 0;
        for await (const chunk of entry as AsyncIterable<Buffer>) {
          n += chunk.length;
          if (n > entry.size) throw new RunnerError('BAD_INPUT', `a volume archive entry ${JSON.stringify(rel)} is longer than its header says: re-export the workspace`, { details: { reason: 'corrupt-archive' } });
          await fh.write(chunk);
        }
        if (n !== entry.size) throw new RunnerError('BAD_INPUT', `a volume archive entry ${JSON.stringify(rel)} is truncated: re-export the workspace`, { details: { reason: 'corrupt-archive' } });
        const pad = (512 - (entry.size % 512)) % 512;
        if (pad > 0) await fh.write(Buffer.alloc(pad));
        bytes += entry.size;
        files++;
        break;
      }
      case 'SymbolicLink': {
        entry.resume();
        links.push({ rel, segments: check.segments, target: entry.linkpath ?? '', mode: 0o777, uid: base.uid, gid: base.gid, mtime: base.mtime });
        linkPaths.add(rel);
        return;
      }
      case 'Link':
        return reject('hard link (not allowed)');
      case 'CharacterDevice':
      case 'BlockDevice':
        return reject('device file (not allowed)');
      case 'FIFO':
        return reject('FIFO (not allowed)');
      default:
        return reject(`unsupported entry type ${entry.type}`);
    }
    if (mode & 0o7000) adjusted.push({ path: rel, change: `dropped setuid/setgid/sticky bits (mode ${(mode & 0o7777).toString(8)} → ${keep.toString(8)})` });
    seen.add(rel);
    if (entry.type === 'Directory') dirs.add(rel);
    for (let i = 1; i < check.segments.length; i++) dirs.add(check.segments.slice(0, i).join('/'));
  };

  try {
    await new Promise<void>((resolvePromise, rejectPromise) => {
      let settled = false;
      let chain: Promise<void> = Promise.resolve();
      const gunzip = createGunzip();
      const parser = new Parser({ strict: false, maxMetaEntrySize: 1024 * 1024 });
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        opts.signal?.removeEventListener('abort', onAbort);
        source.unpipe(gunzip);
        source.destroy();
        gunzip.destroy();
        parser.abort(err instanceof Error ? err : new Error(String(err)));
        rejectPromise(err);
      };
      const onAbort = () => fail(new RunnerError('ABORTED', 'restoring a volume was cancelled', { cause: opts.signal?.reason }));
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const corrupt = (what: string, cause?: unknown) =>
        fail(new RunnerError('BAD_INPUT', `a volume archive is damaged (${what}): re-export the workspace`, { cause, details: { reason: 'corrupt-archive' } }));
      source.on('error', (err) => fail(err));
      gunzip.on('error', (err) => corrupt(`not valid gzip: ${err.message}`, err));
      parser.on('error', (err: Error) => corrupt(err.message, err));
      parser.on('warn', (code: string, message: string, data: { header?: { path?: string } }) => {
        if (code === 'TAR_BAD_ARCHIVE' || code === 'TAR_ABORT') corrupt(message);
        else rejected.push({ path: data?.header?.path ?? '(unreadable header)', type: 'invalid', reason: `${code}: ${message}` });
      });
      parser.on('entry', (entry: ReadEntry) => {
        chain = chain.then(async () => {
          if (settled) return void entry.resume();
          await handle(entry);
        });
        chain.catch(fail);
      });
      parser.on('end', () => {
        chain.then(() => {
          if (settled) return;
          settled = true;
          opts.signal?.removeEventListener('abort', onAbort);
          resolvePromise();
        }, fail);
      });
      source.pipe(gunzip).pipe(parser as unknown as NodeJS.WritableStream);
    });

    // Links last, judged against the complete set, so no file is ever written through one.
    const linkSet = new Set(links.map((l) => l.rel));
    let symlinks = 0;
    for (const l of links) {
      const problem = seen.has(l.rel) || dirs.has(l.rel) ? 'path is also a file or directory in the archive' : linkProblem(l.segments, l.target, linkSet);
      if (problem !== undefined) {
        rejected.push({ path: l.rel, type: 'SymbolicLink', reason: problem });
        continue;
      }
      await write(headerBlocks({ path: l.rel, type: 'SymbolicLink', linkpath: l.target, mode: l.mode, size: 0, uid: l.uid, gid: l.gid, uname: '', gname: '', ...(l.mtime ? { mtime: l.mtime } : {}) }));
      symlinks++;
    }
    await fh.write(Buffer.alloc(1024));
    return { files, directories, symlinks, bytes, rejected, adjusted };
  } finally {
    await fh.close();
  }
}

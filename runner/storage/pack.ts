/**
 * The worktree tarball on export: the untracked files git listed, streamed as a tar.gz.
 *
 * The worktree belongs to the agent, which may swap a directory for a symlink to a host path while
 * we read. So the files are read through walkTree (src/fs/tree.ts): every directory and file is
 * opened fd-relative with O_NOFOLLOW and checked with fstat, so what lands in the archive is a
 * file inside the worktree or nothing. Symlinks are stored as symlinks (target text, never
 * followed); FIFOs, sockets and devices are skipped; setuid/setgid/sticky bits are dropped; the
 * total size is capped. Entries that vanish or change type mid-walk are skipped and reported.
 * Headers are written here rather than by tar's packer because its packer stores a second name of
 * the same inode as a hard-link entry, which extraction (rightly) rejects.
 */
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { walkTree, type TreeEntry } from '../../src/fs/index.js';
import { BerthError } from '../../src/errors.js';
import { DEFAULT_ARCHIVE_LIMITS } from './archive.js';
import { gzipTar, tarHeaderBlocks } from './tar-io.js';

export interface PackOptions {
  /** Total bytes of file contents (default DEFAULT_ARCHIVE_LIMITS.maxBytes): FILE_TOO_LARGE beyond. */
  readonly maxBytes?: number;
  /** A listed path that was not archived, and why (vanished, swapped, special file). */
  readonly onSkipped?: (rel: string, reason: string) => void;
  readonly signal?: AbortSignal;
}

/**
 * Stream `files` (paths relative to `root`, as `git ls-files` lists them) as a gzip-compressed tar.
 * Only one chunk of one file is in memory at a time.
 */
export function packFiles(root: string, files: readonly string[], opts: PackOptions = {}): Readable {
  return gzipTar(Readable.from(tarBlocks(root, files, opts), { objectMode: false }));
}

const COMMON = { uid: 0, gid: 0, uname: '', gname: '' };
const SMALL_FILE_BYTES = 256 * 1024;

async function* tarBlocks(root: string, files: readonly string[], opts: PackOptions): AsyncGenerator<Buffer> {
  const wanted = new Set(files);
  const dirs = new Set<string>();
  for (const f of files) {
    const parts = f.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const reported = new Set<string>();
  const skipped = (rel: string, reason: string) => {
    if ((wanted.has(rel) || dirs.has(rel)) && !reported.has(rel)) opts.onSkipped?.(rel, reason);
    reported.add(rel);
  };
  const budget = { bytes: 0, max: opts.maxBytes ?? DEFAULT_ARCHIVE_LIMITS.maxBytes };
  const walk = walkTree(root, {
    include: (rel, kind) => (kind === 'dir' ? dirs.has(rel) : wanted.has(rel)),
    onSpecial: (rel) => skipped(rel, 'not a regular file, directory or symlink'),
    onVanished: (rel) => skipped(rel, 'vanished or was replaced while exporting'),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const seen = new Set<string>();
  for await (const e of walk) {
    if (e.kind !== 'dir') seen.add(e.rel);
    if (e.kind === 'symlink') {
      yield* tarHeaderBlocks({ ...COMMON, path: e.rel, type: 'SymbolicLink', linkpath: e.linkTarget ?? '', mode: 0o777, size: 0, mtime: new Date(e.mtimeMs) });
    } else if (e.kind === 'file') {
      const h = await e.open();
      if (!h) {
        skipped(e.rel, 'vanished or was replaced while exporting');
        continue;
      }
      try {
        yield* fileBlocks(e, h, budget);
      } finally {
        await h.close();
      }
    }
  }
  for (const f of files) if (!seen.has(f)) skipped(f, 'vanished or was replaced while exporting');
  // End-of-archive marker: two zero blocks.
  yield Buffer.alloc(1024);
}

/** One regular file: header with the size fstat reports on the open handle, then exactly that many bytes. */
async function* fileBlocks(e: TreeEntry, h: FileHandle, budget: { bytes: number; max: number }): AsyncGenerator<Buffer> {
  const st = await h.stat();
  budget.bytes += st.size;
  if (budget.bytes > budget.max) {
    throw new BerthError(
      'FILE_TOO_LARGE',
      `the untracked files exceed ${budget.max} bytes at ${JSON.stringify(e.rel)}: delete or git-ignore large build output, then export again`,
      {
        details: { maxBytes: budget.max, path: e.rel },
      },
    );
  }
  yield* tarHeaderBlocks({ ...COMMON, path: e.rel, type: 'File', mode: st.mode & 0o777, size: st.size, mtime: st.mtime });
  let read = 0;
  // Exactly the size in the header: a file that grows meanwhile is cut at that size.
  if (st.size > 0 && st.size <= SMALL_FILE_BYTES) {
    // Most untracked files are small: one read, no stream set-up (it dominated 3000-file exports).
    const buf = Buffer.allocUnsafe(st.size);
    for (let n = -1; n !== 0 && read < st.size; read += n) n = (await h.read(buf, read, st.size - read, read)).bytesRead;
    yield buf.subarray(0, read);
  } else if (st.size > 0) {
    // The stream reads the verified handle; autoClose off, the caller closes it.
    for await (const chunk of h.createReadStream({ start: 0, end: st.size - 1, autoClose: false }) as AsyncIterable<Buffer>) {
      read += chunk.length;
      yield chunk;
    }
  }
  if (read !== st.size) {
    throw new BerthError(
      'STORAGE_ERROR',
      `${JSON.stringify(e.rel)} shrank while it was being archived (${st.size} → ${read} bytes): export again once nothing writes to the worktree`,
      {
        details: { reason: 'local', path: e.rel },
      },
    );
  }
  const pad = (512 - (st.size % 512)) % 512;
  if (pad > 0) yield Buffer.alloc(pad);
}

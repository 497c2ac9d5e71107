/**
 * Tar plumbing shared by every archive berth writes or reads: header encoding (pax when ustar
 * fields cannot hold a name), gzip piping, the entry-by-entry parse loop, and the translation of
 * local file-system failures. The rules about what an entry may be live in archive.ts.
 */
import type { Readable } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { Header, Parser, Pax, type HeaderData, type ReadEntry } from 'tar';
import { BerthError, isBerthError } from '../../src/errors.js';
import type { RejectedEntry } from './archive.js';

/** gzip a tar stream: the tar's error fails the gzip, and closing the gzip stops the tar. */
export function gzipTar(tar: Readable): Readable {
  const gzip = createGzip({ level: 6 });
  tar.on('error', (err) => gzip.destroy(err));
  gzip.on('close', () => {
    if (!tar.destroyed) tar.destroy();
  });
  return tar.pipe(gzip);
}

/** The tar header block(s) of one entry: a pax record first when ustar fields cannot hold it. */
export function tarHeaderBlocks(data: HeaderData): Buffer[] {
  const header = new Header(data);
  const out: Buffer[] = [];
  // Long or non-ASCII names do not fit ustar fields: a pax record carries them (POSIX.1-2001).
  if (header.encode()) out.push(new Pax({ path: data.path, linkpath: data.linkpath, size: data.size, mtime: data.mtime }).encode());
  if (!header.block) throw new Error(`could not encode a tar header for ${JSON.stringify(data.path)}`);
  out.push(header.block);
  return out;
}

export interface ReadGzipTarOptions {
  /** Names the archive in the BAD_INPUT message: "<label> is damaged (...): re-export the workspace". */
  readonly label: string;
  /** The ABORTED message. */
  readonly cancelled: string;
  /** tar's per-entry warnings (an unreadable header) are reported here with type "invalid". */
  readonly rejected: RejectedEntry[];
  /** Handles one entry; entries are handed over one at a time, in archive order. */
  readonly onEntry: (entry: ReadEntry) => Promise<unknown>;
  readonly signal?: AbortSignal | undefined;
  /** false: `source` is a plain tar (a docker-save archive). Default true. */
  readonly gzip?: boolean;
}

/**
 * Parse the gzip-compressed (or, with `gzip: false`, plain) tar `source` entry by entry. Resolves once every entry was handled;
 * rejects with the first error of `onEntry` or `source`, BAD_INPUT (reason corrupt-archive) when
 * it is not a gzip tar or is truncated, or ABORTED. On rejection the source is destroyed and the
 * entry being handled is destroyed, so `onEntry` does not keep reading.
 */
export function readGzipTar(source: Readable, opts: ReadGzipTarOptions): Promise<void> {
  return new Promise<void>((resolvePromise, rejectPromise) => {
    let settled = false;
    let current: ReadEntry | undefined;
    let chain: Promise<void> = Promise.resolve();
    const gunzip = createGunzip();
    const parser = new Parser({ strict: false, maxMetaEntrySize: 1024 * 1024 });

    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      source.unpipe();
      gunzip.unpipe();
      source.destroy();
      gunzip.destroy();
      // abort() makes the parser drop any further input instead of writing into a destroyed entry.
      parser.abort(err instanceof Error ? err : new Error(String(err)));
      current?.destroy();
      rejectPromise(err);
    };
    const onAbort = () => fail(new BerthError('ABORTED', opts.cancelled, { cause: opts.signal?.reason }));
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const corrupt = (what: string, cause?: unknown) =>
      fail(new BerthError('BAD_INPUT', `${opts.label} is damaged (${what}): re-export the workspace`, { cause, details: { reason: 'corrupt-archive' } }));

    source.on('error', (err) => fail(err));
    gunzip.on('error', (err) => corrupt(`not valid gzip: ${err.message}`, err));
    parser.on('error', (err: Error) => corrupt(err.message, err));
    parser.on('warn', (code: string, message: string, data: { header?: { path?: string } }) => {
      if (code === 'TAR_BAD_ARCHIVE' || code === 'TAR_ABORT') corrupt(message);
      else opts.rejected.push({ path: data?.header?.path ?? '(unreadable header)', type: 'invalid', reason: `${code}: ${message}` });
    });
    parser.on('entry', (entry: ReadEntry) => {
      chain = chain.then(async () => {
        if (settled) return void entry.resume();
        current = entry;
        await opts.onEntry(entry);
        current = undefined;
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
    if (opts.gzip === false) source.pipe(parser as unknown as NodeJS.WritableStream);
    else source.pipe(gunzip).pipe(parser as unknown as NodeJS.WritableStream);
  });
}

/** Wrap non-RunnerErrors from the local file system with a remedy. */
export function archiveFsError(err: unknown, what: string): BerthError {
  if (isBerthError(err)) return err;
  const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
  return new BerthError('STORAGE_ERROR', `${what} failed (${code}): ${(err as Error).message}. Check free disk space and permissions`, {
    cause: err,
    details: { reason: 'local', errno: code },
  });
}

/**
 * One export object on its way to or from the bucket, with its size and sha256: an upload measures
 * what it sends (the manifest records it), a download checks what arrives against the manifest.
 * Shared by the git side of an export (transfer.ts) and the container state (container-transfer.ts).
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BerthError, isBerthError } from '../../src/errors.js';
import { archiveFsError } from './tar-io.js';
import { keyFor, type S3Location } from './config.js';
import type { ObjectStore } from './s3.js';

/**
 * Pass-through that counts and hashes what flows by; `limit` fails the stream beyond that size.
 * The count is private on purpose: lib-storage's Upload takes a body's `size` (or `length`,
 * `byteLength`) property as its total length, and a public `size` of 0 made every multipart upload
 * fail with "Expected 0 part(s)" (seen as a 405 from s3rver, which lacks AbortMultipartUpload).
 */
class Meter extends Transform {
  #bytes = 0;
  readonly #hash = createHash('sha256');
  readonly #limit: { max: number; what: string } | undefined;

  constructor(limit?: { max: number; what: string }) {
    super();
    this.#limit = limit;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.#bytes += chunk.length;
    if (this.#limit && this.#bytes > this.#limit.max) {
      cb(
        new BerthError(
          'STORAGE_ERROR',
          `${this.#limit.what} is larger than its manifest says (${this.#limit.max} bytes): the export is damaged or was overwritten mid-way; re-export the workspace`,
          {
            details: { reason: 'integrity' },
          },
        ),
      );
      return;
    }
    this.#hash.update(chunk);
    cb(null, chunk);
  }

  bytes(): number {
    return this.#bytes;
  }

  digest(): string {
    return this.#hash.digest('hex');
  }
}

export interface ObjectDigest {
  readonly size: number;
  readonly sha256: string;
}

/** Where an object of the export at `loc` lives, as messages name it. */
export function objectUrl(loc: S3Location, key: string): string {
  return `s3://${loc.bucket}/${keyFor(loc, key)}`;
}

/**
 * Stream `source` to the export object `key`, measuring it on the way. When the upload fails
 * because `source` itself failed (a file vanished, the disk failed), that failure is what is
 * thrown ("reading <what> for upload"), not the upload it broke; otherwise the store's error.
 */
export async function uploadObject(
  store: ObjectStore,
  loc: S3Location,
  key: string,
  source: Readable,
  opts: { what: string; contentType: string; contentLength?: number; signal: AbortSignal | undefined },
): Promise<ObjectDigest> {
  const m = new Meter();
  let sourceError: unknown;
  // pipe(), not pipeline(): when the upload gives up and destroys `m`, the source must just
  // stop, not be failed with a "premature close" that would masquerade as a local error.
  source.on('error', (e) => {
    sourceError ??= e;
    m.destroy(e);
  });
  source.pipe(m);
  try {
    // Without a length: lib-storage's multipart Upload, at most partSize × queueSize in memory.
    await store.putStream(keyFor(loc, key), m, {
      signal: opts.signal,
      contentType: opts.contentType,
      ...(opts.contentLength !== undefined ? { contentLength: opts.contentLength } : {}),
    });
  } catch (err) {
    source.destroy();
    if (sourceError !== undefined && !opts.signal?.aborted) throw archiveFsError(sourceError, `reading ${opts.what} for upload`);
    throw err;
  }
  return { size: m.bytes(), sha256: m.digest() };
}

/**
 * Download the manifest object `obj` into the new file `file` (created 0600, never replaced),
 * refusing it when the manifest says it is larger than `maxBytes` and checking its size and
 * sha256. Resolves false when the bucket does not have it: whether that is an error is the
 * caller's call.
 */
export async function downloadObject(
  store: ObjectStore,
  loc: S3Location,
  obj: { readonly key: string } & ObjectDigest,
  file: string,
  opts: { maxBytes: number; signal: AbortSignal | undefined },
): Promise<boolean> {
  const where = objectUrl(loc, obj.key);
  if (obj.size > opts.maxBytes) {
    throw new BerthError(
      'FILE_TOO_LARGE',
      `${where} is ${obj.size} bytes, above the import limit of ${opts.maxBytes}: raise maxObjectBytes if this export is trusted`,
      {
        details: { key: obj.key, size: obj.size },
      },
    );
  }
  const stream = await store.getStream(keyFor(loc, obj.key), { signal: opts.signal });
  if (stream === undefined) return false;
  const m = new Meter({ max: obj.size, what: where });
  try {
    await pipeline(stream, m, createWriteStream(file, { flags: 'wx', mode: 0o600 }), opts.signal ? { signal: opts.signal } : {});
  } catch (err) {
    if (opts.signal?.aborted) throw new BerthError('ABORTED', `downloading ${where} was cancelled`, { cause: err });
    throw isBerthError(err) ? err : archiveFsError(err, `saving ${where}`);
  }
  if (m.bytes() !== obj.size || m.digest() !== obj.sha256) {
    throw new BerthError(
      'STORAGE_ERROR',
      `${where} does not match its manifest (size or sha256 differ): the export is damaged or was overwritten mid-way; re-export the workspace`,
      {
        details: { reason: 'integrity', key: obj.key },
      },
    );
  }
  return true;
}

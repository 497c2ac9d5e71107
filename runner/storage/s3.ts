/**
 * The only module that talks to the AWS SDK. Everything the SDK (or the socket under it) throws is
 * translated here into a BerthError: STORAGE_ERROR with `details.reason` in
 * auth | credentials | bucket | transport | timeout | server, or ABORTED. A missing object is not an
 * error: the read methods return undefined.
 */
import { PassThrough, type Readable } from 'node:stream';
import type * as S3Sdk from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import type * as StorageSdk from '@aws-sdk/lib-storage';
import type { Upload } from '@aws-sdk/lib-storage';
import { BerthError, isBerthError } from '../../src/errors.js';
import { silentLogger, type Logger } from '../../src/log.js';
import type { StorageConfig } from './config.js';

export type StorageFailure = 'auth' | 'credentials' | 'bucket' | 'transport' | 'timeout' | 'server';

interface Ctx {
  readonly op: string;
  readonly bucket: string;
  readonly key?: string;
  readonly endpoint: string | undefined;
}

interface SdkishError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

const AUTH_NAMES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'Forbidden',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'RequestTimeTooSkewed',
  'AllAccessDisabled',
]);

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
]);

function networkCode(err: unknown, depth = 0): string | undefined {
  if (!err || typeof err !== 'object' || depth > 4) return undefined;
  const e = err as SdkishError;
  if (e.code && NETWORK_CODES.has(e.code)) return e.code;
  if (e.name && NETWORK_CODES.has(e.name)) return e.name;
  if (typeof e.message === 'string' && /socket hang up|aborted|premature close/i.test(e.message) && e.name !== 'AbortError') {
    return 'ECONNRESET';
  }
  return networkCode(e.cause, depth + 1);
}

function where(ctx: Ctx): string {
  return `s3://${ctx.bucket}${ctx.key ? `/${ctx.key}` : ''}`;
}

function endpointLabel(ctx: Ctx): string {
  return ctx.endpoint ?? 'AWS S3';
}

/** Translate anything the SDK threw into a BerthError (idempotent on RunnerErrors). */
export function translateS3Error(err: unknown, ctx: Ctx, signal?: AbortSignal): BerthError {
  if (isBerthError(err)) return err;
  const e = (err && typeof err === 'object' ? err : { message: String(err) }) as SdkishError;
  const status = e.$metadata?.httpStatusCode;
  const name = e.name ?? 'Error';
  // HEAD responses carry no body, so the SDK cannot name the error ("Unknown"): show the status.
  const label = /^Unknown/.test(name) ? `HTTP ${status ?? '?'}` : `${name}${status ? `, HTTP ${status}` : ''}`;
  const base = { op: ctx.op, bucket: ctx.bucket, key: ctx.key, endpoint: ctx.endpoint, status, awsCode: name };
  const mk = (reason: StorageFailure, message: string) => new BerthError('STORAGE_ERROR', message, { cause: err, details: { ...base, reason } });

  if (signal?.aborted || name === 'AbortError') {
    return new BerthError('ABORTED', `${ctx.op} of ${where(ctx)} was cancelled`, { cause: err, details: base });
  }
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(e.message ?? '')) {
    return mk(
      'credentials',
      `no S3 credentials found for ${ctx.op} of ${where(ctx)}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for temporary keys), or configure an AWS profile`,
    );
  }
  if (AUTH_NAMES.has(name) || status === 401 || status === 403) {
    return mk(
      'auth',
      `${endpointLabel(ctx)} refused ${ctx.op} of ${where(ctx)} (${label}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), the system clock, and that the key may read and write this bucket`,
    );
  }
  if (name === 'NoSuchBucket') {
    return mk(
      'bucket',
      `bucket ${JSON.stringify(ctx.bucket)} does not exist at ${endpointLabel(ctx)}: create it first (e.g. \`aws s3 mb s3://${ctx.bucket}\`) or fix the s3:// URL`,
    );
  }
  if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || status === 301) {
    return mk(
      'bucket',
      `bucket ${JSON.stringify(ctx.bucket)} is in another region or needs another addressing style (${name}): set AWS_REGION to the bucket's region, or BERTH_S3_FORCE_PATH_STYLE`,
    );
  }
  // Before the timeout check: the SDK names a reset socket "TimeoutError" (code ECONNRESET).
  const net = networkCode(err);
  if (net !== undefined) {
    return mk(
      'transport',
      `could not complete ${ctx.op} of ${where(ctx)}: connection to ${endpointLabel(ctx)} failed (${net}). Check that the server is up, BERTH_S3_ENDPOINT is right and the network allows it, then retry`,
    );
  }
  if (name === 'TimeoutError' || e.code === 'ETIMEDOUT' || name === 'RequestTimeout') {
    return mk('timeout', `${ctx.op} of ${where(ctx)} timed out talking to ${endpointLabel(ctx)}: check the network and BERTH_S3_ENDPOINT, then retry`);
  }
  const detail = e.message && e.message !== 'UnknownError' ? `: ${e.message}` : '';
  return mk('server', `${ctx.op} of ${where(ctx)} failed at ${endpointLabel(ctx)} (${label})${detail}. Retry later or check the server's logs`);
}

function isMissing(err: unknown): boolean {
  const e = err as SdkishError | undefined;
  // HeadObject has no body, so a 404 arrives as name "NotFound"; GetObject says NoSuchKey.
  return e?.name === 'NoSuchKey' || (e?.name === 'NotFound' && e.$metadata?.httpStatusCode === 404);
}

interface Sdk {
  readonly s3: typeof S3Sdk;
  readonly storage: typeof StorageSdk;
}

let sdkLoad: Promise<Sdk> | undefined;

/**
 * The AWS SDK, loaded on the first S3 call: it is ~20 MiB of a runner's memory (issue 14) and an
 * idle `berth mcp` or a CLI command that never exports has no use for it.
 */
function sdk(): Promise<Sdk> {
  sdkLoad ??= Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')]).then(([s3, storage]) => ({ s3, storage }));
  return sdkLoad;
}

export interface CallOptions {
  readonly signal?: AbortSignal;
}

/**
 * One bucket on one S3-compatible server. Not a connection: the SDK pools sockets internally;
 * close() releases them (idempotent).
 */
export class ObjectStore implements AsyncDisposable {
  readonly bucket: string;
  readonly config: StorageConfig;
  /** Made on the first call (connect), with the SDK. */
  private client: S3Client | undefined;
  private readonly logger: Logger;
  private closed = false;

  constructor(config: StorageConfig, bucket: string, logger: Logger = silentLogger) {
    this.config = config;
    this.bucket = bucket;
    this.logger = logger;
  }

  /** The SDK and this store's client (made once); refuses a store closed while the SDK loaded. */
  private async connect(): Promise<Sdk & { client: S3Client }> {
    const loaded = await sdk();
    this.guard();
    const config = this.config;
    const checksum = config.checksums === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
    this.client ??= new loaded.s3.S3Client({
      region: config.region,
      ...(config.endpoint !== undefined ? { endpoint: config.endpoint } : {}),
      forcePathStyle: config.forcePathStyle,
      ...(config.credentials !== undefined ? { credentials: { ...config.credentials } } : {}),
      requestChecksumCalculation: checksum,
      responseChecksumValidation: checksum,
      maxAttempts: config.maxAttempts,
      requestHandler: { connectionTimeout: config.connectTimeoutMs, socketTimeout: config.idleTimeoutMs },
    });
    return { ...loaded, client: this.client };
  }

  private ctx(op: string, key?: string): Ctx {
    return { op, bucket: this.bucket, key, endpoint: this.config.endpoint };
  }

  private guard(): void {
    if (this.closed) throw new BerthError('STORAGE_ERROR', 'object store is closed: open a new one', { details: { reason: 'closed' } });
  }

  /** Upload a small, fully known body with one PutObject. */
  async putBytes(key: string, body: Uint8Array, opts: CallOptions & { contentType?: string } = {}): Promise<void> {
    this.guard();
    const { client, s3 } = await this.connect();
    try {
      await client.send(new s3.PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentLength: body.byteLength, ContentType: opts.contentType }), {
        abortSignal: opts.signal,
      });
    } catch (err) {
      throw translateS3Error(err, this.ctx('upload', key), opts.signal);
    }
  }

  /**
   * Upload a stream. With a known `contentLength` up to one part, it goes out as a single streamed
   * PutObject (nothing buffered); otherwise lib-storage's Upload buffers at most partSize ×
   * queueSize bytes, and a body shorter than one part still becomes a single PutObject. Streamed
   * bodies are where flexible checksums would switch to aws-chunked framing (see
   * StorageConfig.checksums). On failure the multipart upload is aborted (best effort: the server
   * may be gone) and the body is destroyed, which stops whatever produces it. A BerthError raised
   * by the body itself is rethrown unchanged, so the producer's own diagnosis reaches the caller.
   */
  async putStream(key: string, body: Readable, opts: CallOptions & { contentType?: string; contentLength?: number } = {}): Promise<void> {
    this.guard();
    const { client, s3, storage } = await this.connect();
    let bodyError: unknown;
    const onBodyError = (e: unknown) => {
      bodyError ??= e;
    };
    body.on('error', onBodyError);
    const abortController = new AbortController();
    const onAbort = () => abortController.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) abortController.abort();
    let upload: Upload | undefined;
    try {
      if (opts.contentLength !== undefined && opts.contentLength <= this.config.partSizeBytes) {
        await client.send(
          new s3.PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentLength: opts.contentLength, ContentType: opts.contentType }),
          { abortSignal: abortController.signal },
        );
      } else {
        upload = new storage.Upload({
          client,
          params: { Bucket: this.bucket, Key: key, Body: body, ContentType: opts.contentType },
          partSize: this.config.partSizeBytes,
          queueSize: this.config.queueSize,
          // We abort the multipart upload ourselves (abortMultipart): lib-storage's own abort
          // replaces the upload's real error with the abort's, and servers without
          // AbortMultipartUpload (s3rver answers 405 MethodNotAllowed) then hide the cause.
          leavePartsOnError: true,
          abortController,
        });
        await upload.done();
      }
    } catch (err) {
      if (!body.destroyed) body.destroy();
      if (upload) await this.abortMultipart(key, upload, client, s3);
      // A producer that failed with its own BerthError (e.g. a file shrank while archiving)
      // is the cause; anything else is judged as a transfer failure.
      if (isBerthError(bodyError) && !opts.signal?.aborted) throw bodyError;
      const translated = translateS3Error(err, this.ctx('upload', key), opts.signal);
      this.logger.debug('upload failed', { key, reason: translated.details?.reason });
      throw translated;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      body.off('error', onBodyError);
    }
  }

  /** Best effort: drop the parts of a failed multipart upload; its own failure is only logged. */
  private async abortMultipart(key: string, upload: Upload, client: S3Client, s3: typeof S3Sdk): Promise<void> {
    // lib-storage keeps the id on the instance without typing it.
    const uploadId = (upload as unknown as { uploadId?: string }).uploadId;
    if (uploadId === undefined) return;
    try {
      await client.send(new s3.AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }));
    } catch (err) {
      this.logger.debug('could not abort a failed multipart upload', { key, error: (err as Error).message });
    }
  }

  /** Stream an object, or undefined when it does not exist. Stream errors arrive translated. */
  async getStream(key: string, opts: CallOptions = {}): Promise<Readable | undefined> {
    this.guard();
    const { client, s3 } = await this.connect();
    let body: Readable;
    try {
      const out = await client.send(new s3.GetObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: opts.signal });
      body = out.Body as Readable;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw translateS3Error(err, this.ctx('download', key), opts.signal);
    }
    // Errors from the socket mid-body must not escape untranslated.
    const out = new PassThrough();
    body.on('error', (err) => out.destroy(translateS3Error(err, this.ctx('download', key), opts.signal)));
    out.on('close', () => {
      if (!body.destroyed) body.destroy();
    });
    body.pipe(out);
    return out;
  }

  /** Read a small object fully, refusing anything larger than maxBytes. */
  async getBytes(key: string, maxBytes: number, opts: CallOptions = {}): Promise<Buffer | undefined> {
    const stream = await this.getStream(key, opts);
    if (stream === undefined) return undefined;
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        total += chunk.length;
        if (total > maxBytes) {
          throw new BerthError(
            'FILE_TOO_LARGE',
            `s3://${this.bucket}/${key} is larger than the ${maxBytes}-byte limit for this object: it is not a berth export file`,
            {
              details: { key, maxBytes },
            },
          );
        }
        chunks.push(chunk);
      }
    } finally {
      stream.destroy();
    }
    return Buffer.concat(chunks);
  }

  /** Size of an object, or undefined when it does not exist. */
  async head(key: string, opts: CallOptions = {}): Promise<{ readonly size: number } | undefined> {
    this.guard();
    const { client, s3 } = await this.connect();
    try {
      const out = await client.send(new s3.HeadObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: opts.signal });
      return { size: out.ContentLength ?? 0 };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw translateS3Error(err, this.ctx('stat', key), opts.signal);
    }
  }

  /** Delete objects one by one (deleting a missing key is not an error in S3). */
  async deleteKeys(keys: readonly string[], opts: CallOptions = {}): Promise<void> {
    this.guard();
    const { client, s3 } = await this.connect();
    for (const key of keys) {
      try {
        await client.send(new s3.DeleteObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: opts.signal });
      } catch (err) {
        throw translateS3Error(err, this.ctx('delete', key), opts.signal);
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client?.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

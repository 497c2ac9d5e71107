/**
 * A real S3-compatible server for the storage suites: s3rver on 127.0.0.1 (random free port,
 * private temp directory), behind a small front that verifies AWS Signature V4.
 *
 * Why the front: s3rver 3.x checks that the access key id exists (unknown ids get
 * InvalidAccessKeyId from s3rver itself), but skips V4 signature verification entirely
 * (lib/middleware/authentication.js: "Signature version 4 calculation is unimplemented"), so a
 * wrong secret would be accepted. The front recomputes each request's SigV4 signature with the
 * secret it knows for the key id and answers 403 SignatureDoesNotMatch on a mismatch, the way S3
 * does. Requests with unknown key ids pass through so s3rver's own check answers them.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { resolveStorageConfig, type StorageConfig, type StorageOptions } from '../../runner/storage/config.js';

export const BUCKET = 'berth-test';
/** s3rver's built-in key pair. */
export const GOOD_CREDENTIALS = Object.freeze({ accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });
const SECRETS = new Map([[GOOD_CREDENTIALS.accessKeyId, GOOD_CREDENTIALS.secretAccessKey]]);

export interface TestS3 {
  readonly endpoint: string;
  /** s3rver's storage directory (objects live under <dir>/<bucket>/...). */
  readonly dir: string;
  /** "METHOD /path?query" of every request that reached the server. */
  readonly requests: string[];
  /** A storage config pointing at this server (no environment involved). */
  config(overrides?: StorageOptions): StorageConfig;
  /** Called for each incoming request before it is handled. */
  onRequest(fn: (req: IncomingMessage) => void): void;
  /** Stop accepting and cut every open connection at once (a crashed server). */
  kill(): void;
  /** Stop the server and remove its directory (idempotent). */
  stop(): Promise<void>;
}

function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** 'ok', 'unknown-key' (let s3rver answer) or the S3 error code to answer with. */
export function checkSigV4(req: IncomingMessage, secrets: ReadonlyMap<string, string>): 'ok' | 'unknown-key' | 'SignatureDoesNotMatch' | 'AccessDenied' {
  const auth = req.headers.authorization;
  if (!auth) return 'AccessDenied';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
    auth,
  );
  if (!m) return 'AccessDenied';
  const [, keyId = '', date = '', region = '', service = '', signedHeaders = '', signature = ''] = m;
  const secret = secrets.get(keyId);
  if (secret === undefined) return 'unknown-key';
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const rawUrl = req.url ?? '/';
  const q = rawUrl.indexOf('?');
  const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const query = q < 0 ? '' : rawUrl.slice(q + 1);
  const canonicalQuery = query
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const i = pair.indexOf('=');
      const k = decodeURIComponent((i < 0 ? pair : pair.slice(0, i)).replace(/\+/g, '%20'));
      const v = i < 0 ? '' : decodeURIComponent(pair.slice(i + 1).replace(/\+/g, '%20'));
      return [rfc3986(k), rfc3986(v)] as const;
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const headers = signedHeaders
    .split(';')
    .map(
      (h) =>
        `${h}:${String(req.headers[h] ?? '')
          .trim()
          .replace(/\s+/g, ' ')}\n`,
    )
    .join('');
  const payloadHash = String(req.headers['x-amz-content-sha256'] ?? 'UNSIGNED-PAYLOAD');
  const canonicalRequest = [req.method, path, canonicalQuery, headers, signedHeaders, payloadHash].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
  const expected = hmac(key, stringToSign);
  const given = Buffer.from(signature, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected) ? 'ok' : 'SignatureDoesNotMatch';
}

function s3ErrorResponse(res: ServerResponse, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  res.writeHead(403, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export async function startS3(opts: { dir?: string; buckets?: string[] } = {}): Promise<TestS3> {
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'berth-s3rver-')));
  const s3 = new S3rver({ silent: true, directory: dir, configureBuckets: (opts.buckets ?? [BUCKET]).map((name) => ({ name })) });
  await s3.configureBuckets();
  const app = s3.callback();
  const hooks: ((req: IncomingMessage) => void)[] = [];
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    for (const h of hooks) h(req);
    const verdict = checkSigV4(req, SECRETS);
    if (verdict === 'SignatureDoesNotMatch') {
      req.resume();
      return s3ErrorResponse(res, verdict, 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
    }
    if (verdict === 'AccessDenied') {
      req.resume();
      return s3ErrorResponse(res, verdict, 'Anonymous or malformed requests are not allowed.');
    }
    app(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  let stopped = false;
  const kill = () => {
    server.close();
    server.closeAllConnections();
  };
  return {
    endpoint,
    dir,
    requests,
    config: (overrides = {}) =>
      resolveStorageConfig({ endpoint, region: 'us-east-1', credentials: GOOD_CREDENTIALS, maxAttempts: 1, connectTimeoutMs: 2000, ...overrides }, {}),
    onRequest: (fn) => hooks.push(fn),
    kill,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      kill();
      s3.logger.close();
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

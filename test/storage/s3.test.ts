/**
 * ObjectStore against a real S3-compatible server (s3rver on loopback, SigV4-verifying front; see
 * harness.ts). No mocks: every assertion is about bytes the server stored or errors it returned.
 */
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBerthError, type BerthError } from '../../src/errors.js';
import { parseS3Url, resolveStorageConfig } from '../../runner/storage/config.js';
import { ObjectStore } from '../../runner/storage/s3.js';
import { uploadObject } from '../../runner/storage/objects.js';
import { BUCKET, startS3, type TestS3 } from './harness.js';

let s3: TestS3;

beforeAll(async () => {
  s3 = await startS3();
});

afterAll(async () => {
  await s3?.stop();
});

async function rejection(p: Promise<unknown>): Promise<BerthError> {
  try {
    await p;
  } catch (err) {
    if (isBerthError(err)) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('ObjectStore', () => {
  it('stores a streamed 300,000-byte upload as exactly 300,000 bytes (no aws-chunked framing)', async () => {
    await using store = new ObjectStore(s3.config(), BUCKET);
    const data = randomBytes(300_000);
    const chunks = () => Readable.from([data.subarray(0, 70_000), data.subarray(70_000, 250_000), data.subarray(250_000)]);
    // Known length: one streamed PutObject (how export sends its bundle and patches).
    await store.putStream('sizes/known.bin', chunks(), { contentLength: 300_000 });
    // Unknown length: lib-storage Upload (how export sends the tarball).
    await store.putStream('sizes/unknown.bin', chunks());
    for (const key of ['known', 'unknown']) {
      expect((await store.head(`sizes/${key}.bin`))?.size, key).toBe(300_000);
      // What s3rver wrote to its disk, not just what it reports.
      expect((await stat(join(s3.dir, BUCKET, 'sizes', `${key}.bin._S3rver_object`))).size, key).toBe(300_000);
      expect((await store.getBytes(`sizes/${key}.bin`, 1_000_000))?.equals(data), key).toBe(true);
    }
  });

  it('control: with the SDK default (WHEN_SUPPORTED) the same streamed PutObject is stored with chunk framing', async () => {
    // Shows the test above is sensitive to the setting: the SDK wraps the stream in aws-chunked
    // encoding with a CRC32 trailer, which s3rver stores verbatim.
    await using store = new ObjectStore(s3.config({ checksums: 'when_supported' }), BUCKET);
    const data = randomBytes(300_000);
    await store.putStream('sizes/framed.bin', Readable.from([data.subarray(0, 150_000), data.subarray(150_000)]), { contentLength: 300_000 });
    expect((await store.head('sizes/framed.bin'))?.size).toBeGreaterThan(300_000);
  });

  it('uploads multi-part streams larger than one part intact', async () => {
    await using store = new ObjectStore(s3.config({ partSizeBytes: 5 * 1024 * 1024, queueSize: 2 }), BUCKET);
    const data = randomBytes(11 * 1024 * 1024 + 123);
    const chunks: Buffer[] = [];
    for (let i = 0; i < data.length; i += 1024 * 1024) chunks.push(data.subarray(i, i + 1024 * 1024));
    await store.putStream('sizes/multi.bin', Readable.from(chunks));
    expect(s3.requests.some((r) => r.startsWith('PUT /berth-test/sizes/multi.bin?') && r.includes('partNumber=3'))).toBe(true);
    expect((await store.head('sizes/multi.bin'))?.size).toBe(data.length);
    expect((await store.getBytes('sizes/multi.bin', data.length))?.equals(data)).toBe(true);
  });

  it('uploads a measured export object larger than one part (the container snapshot path)', async () => {
    // Regression: the meter's public `size` (0) was taken by lib-storage as the body length, so
    // every multipart export object failed ("Expected 0 part(s)"), reported by s3rver as a 405.
    await using store = new ObjectStore(s3.config({ partSizeBytes: 5 * 1024 * 1024, queueSize: 2 }), BUCKET);
    const data = randomBytes(11 * 1024 * 1024 + 7);
    const chunks: Buffer[] = [];
    for (let i = 0; i < data.length; i += 1024 * 1024) chunks.push(data.subarray(i, i + 1024 * 1024));
    const r = await uploadObject(store, parseS3Url(`s3://${BUCKET}/metered`), 'objects/x/image.tar', Readable.from(chunks), {
      what: 'a snapshot',
      contentType: 'application/octet-stream',
      signal: undefined,
    });
    expect(r.size).toBe(data.length);
    expect((await store.getBytes('metered/objects/x/image.tar', data.length))?.equals(data)).toBe(true);
  });

  it('treats a missing object as absent, not as an error', async () => {
    await using store = new ObjectStore(s3.config(), BUCKET);
    expect(await store.getStream('no/such/key')).toBeUndefined();
    expect(await store.getBytes('no/such/key', 10)).toBeUndefined();
    expect(await store.head('no/such/key')).toBeUndefined();
  });

  it('refuses to read more than the caller allows', async () => {
    await using store = new ObjectStore(s3.config(), BUCKET);
    await store.putBytes('sizes/small.bin', Buffer.alloc(2000, 1));
    expect((await rejection(store.getBytes('sizes/small.bin', 1000))).code).toBe('FILE_TOO_LARGE');
  });

  it('reports a wrong secret as an auth failure (signature checked by the verifying front)', async () => {
    await using store = new ObjectStore(s3.config({ credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'wrong-secret' } }), BUCKET);
    const err = await rejection(store.getStream('anything'));
    expect(err.code).toBe('STORAGE_ERROR');
    expect(err.details).toMatchObject({ reason: 'auth', awsCode: 'SignatureDoesNotMatch', status: 403 });
    expect(err.message).toContain('AWS_SECRET_ACCESS_KEY');
    const put = await rejection(store.putBytes('x', Buffer.from('x')));
    expect(put.details).toMatchObject({ reason: 'auth' });
    const head = await rejection(store.head('x'));
    expect(head.details).toMatchObject({ reason: 'auth', status: 403 });
  });

  it("reports an unknown access key as an auth failure (s3rver's own InvalidAccessKeyId)", async () => {
    await using store = new ObjectStore(s3.config({ credentials: { accessKeyId: 'NOBODY', secretAccessKey: 'x' } }), BUCKET);
    const err = await rejection(store.getStream('anything'));
    expect(err.details).toMatchObject({ reason: 'auth', awsCode: 'InvalidAccessKeyId' });
  });

  it('names a missing bucket with a remedy', async () => {
    await using store = new ObjectStore(s3.config(), 'not-created-here');
    const err = await rejection(store.getStream('k'));
    expect(err.details).toMatchObject({ reason: 'bucket' });
    expect(err.message).toContain('"not-created-here" does not exist');
  });

  it('reports an unreachable endpoint as a transport failure', async () => {
    const dead = await startS3();
    const config = dead.config();
    await dead.stop();
    await using store = new ObjectStore(config, BUCKET);
    const err = await rejection(store.getStream('k'));
    expect(err.code).toBe('STORAGE_ERROR');
    expect(err.details).toMatchObject({ reason: 'transport' });
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('turns an abort into ABORTED', async () => {
    await using store = new ObjectStore(s3.config(), BUCKET);
    const ac = new AbortController();
    ac.abort();
    expect((await rejection(store.getStream('k', { signal: ac.signal }))).code).toBe('ABORTED');
  });

  it('rejects calls after close', async () => {
    const store = new ObjectStore(resolveStorageConfig({ endpoint: s3.endpoint, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }, {}), BUCKET);
    store.close();
    store.close();
    expect((await rejection(store.head('k'))).code).toBe('STORAGE_ERROR');
  });
});

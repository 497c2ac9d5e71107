import { describe, expect, it } from 'vitest';
import { bucketNameProblem, keyFor, parseS3Url, resolveStorageConfig } from '../../runner/storage/config.js';
import { isBerthError } from '../../src/errors.js';

function catchErr(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('resolveStorageConfig', () => {
  it('uses defaults when nothing is set', () => {
    const c = resolveStorageConfig({}, {});
    expect(c).toMatchObject({
      endpoint: undefined,
      region: 'us-east-1',
      forcePathStyle: false,
      checksums: 'when_supported',
      credentials: undefined,
      maxAttempts: 3,
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reads the environment, and a custom endpoint switches on path style and WHEN_REQUIRED checksums', () => {
    const c = resolveStorageConfig(
      {},
      {
        BERTH_S3_ENDPOINT: 'http://127.0.0.1:9000',
        AWS_REGION: 'eu-west-3',
        AWS_ACCESS_KEY_ID: 'id',
        AWS_SECRET_ACCESS_KEY: 'secret',
        AWS_SESSION_TOKEN: 'tok',
      },
    );
    expect(c).toMatchObject({ endpoint: 'http://127.0.0.1:9000', region: 'eu-west-3', forcePathStyle: true, checksums: 'when_required' });
    expect(c.credentials).toEqual({ accessKeyId: 'id', secretAccessKey: 'secret', sessionToken: 'tok' });
    expect(Object.isFrozen(c.credentials)).toBe(true);
  });

  it('lets call options win over the environment, and explicit env switches win over derived defaults', () => {
    const env = {
      BERTH_S3_ENDPOINT: 'http://127.0.0.1:9000',
      BERTH_S3_FORCE_PATH_STYLE: 'false',
      BERTH_S3_CHECKSUMS: 'when_supported',
      AWS_DEFAULT_REGION: 'ap-south-1',
    };
    const fromEnv = resolveStorageConfig({}, env);
    expect(fromEnv).toMatchObject({ forcePathStyle: false, checksums: 'when_supported', region: 'ap-south-1' });
    const fromCall = resolveStorageConfig({ endpoint: 'https://s3.example.test', forcePathStyle: true, checksums: 'when_required', region: 'us-west-2' }, env);
    expect(fromCall).toMatchObject({ endpoint: 'https://s3.example.test', forcePathStyle: true, checksums: 'when_required', region: 'us-west-2' });
  });

  it('rejects bad values with the setting name and a remedy', () => {
    const bad = [
      () => resolveStorageConfig({}, { BERTH_S3_ENDPOINT: 'not a url' }),
      () => resolveStorageConfig({}, { BERTH_S3_ENDPOINT: 'http://user:pw@host:9000' }),
      () => resolveStorageConfig({}, { BERTH_S3_FORCE_PATH_STYLE: 'maybe' }),
      () => resolveStorageConfig({}, { BERTH_S3_CHECKSUMS: 'always' }),
      () => resolveStorageConfig({}, { AWS_REGION: 'US East' }),
      () => resolveStorageConfig({ partSizeBytes: 1024 }, {}),
    ];
    for (const fn of bad) {
      const err = catchErr(fn);
      expect(isBerthError(err, 'BAD_INPUT'), String(err)).toBe(true);
    }
    expect((catchErr(() => resolveStorageConfig({}, { BERTH_S3_CHECKSUMS: 'always' })) as Error).message).toContain('BERTH_S3_CHECKSUMS="always"');
  });

  it('refuses half-set static credentials instead of silently falling back to a profile', () => {
    const err = catchErr(() => resolveStorageConfig({}, { AWS_ACCESS_KEY_ID: 'id' }));
    expect(isBerthError(err, 'BAD_INPUT')).toBe(true);
    expect((err as Error).message).toContain('AWS_SECRET_ACCESS_KEY is missing');
  });
});

describe('s3:// URLs and bucket names', () => {
  it('parses bucket and prefix', () => {
    expect(parseS3Url('s3://my-bucket/team/ws/')).toEqual({ bucket: 'my-bucket', prefix: 'team/ws', url: 's3://my-bucket/team/ws' });
    const root = parseS3Url('s3://my.bucket-1');
    expect(root.prefix).toBe('');
    expect(keyFor(root, 'manifest.json')).toBe('manifest.json');
    expect(keyFor(parseS3Url('s3://abc/p'), 'manifest.json')).toBe('p/manifest.json');
  });

  it('rejects invalid bucket names with the reason', () => {
    const cases: [string, string][] = [
      ['ab', '3 to 63'],
      ['a'.repeat(64), '3 to 63'],
      ['My-Bucket', 'lowercase'],
      ['under_score', 'lowercase'],
      ['-start', 'begin and end'],
      ['end-', 'begin and end'],
      ['a..b', 'adjacent dots'],
      ['192.168.10.1', 'IP address'],
      ['xn--punycode', 'reserved prefix'],
      ['data-s3alias', 'reserved suffix'],
    ];
    for (const [name, reason] of cases) {
      expect(bucketNameProblem(name), name).toContain(reason);
      const err = catchErr(() => parseS3Url(`s3://${name}/x`));
      expect(isBerthError(err, 'BAD_INPUT')).toBe(true);
      expect((err as Error).message).toContain(JSON.stringify(name));
    }
    for (const ok of ['abc', 'my.bucket-1', 'a'.repeat(63), '1bucket']) expect(bucketNameProblem(ok), ok).toBeUndefined();
  });

  it('rejects malformed URLs and prefixes', () => {
    for (const raw of [
      'http://bucket/x',
      'bucket/x',
      's3:/bucket',
      's3://bucket/a/../b',
      's3://bucket/a//b',
      's3://bucket/./a',
      's3://bucket/a\\b',
      's3://bucket/a\nb',
    ]) {
      expect(
        isBerthError(
          catchErr(() => parseS3Url(raw)),
          'BAD_INPUT',
        ),
        raw,
      ).toBe(true);
    }
  });
});

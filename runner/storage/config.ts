/**
 * Storage configuration for `berth ws export/import`: where the S3-compatible server is and how to
 * talk to it. Resolved once (call options > environment > defaults) into a deeply frozen object;
 * nothing below this module reads process.env.
 *
 * The bucket and key prefix are not configuration: they come from the `s3://bucket/prefix` URL the
 * user passes to each command (see parseS3Url).
 */
import { z } from 'zod';
import { BerthError } from '../../src/errors.js';

/**
 * Paste-ready reference for the README (keep in sync with resolveStorageConfig):
 *
 * | Setting          | Environment variable                          | Default                                   |
 * |------------------|-----------------------------------------------|-------------------------------------------|
 * | endpoint         | BERTH_S3_ENDPOINT                             | unset: AWS S3's regional endpoint         |
 * | region           | AWS_REGION, then AWS_DEFAULT_REGION           | us-east-1                                 |
 * | forcePathStyle   | BERTH_S3_FORCE_PATH_STYLE (true/false/1/0)    | true when an endpoint is set, else false  |
 * | checksums        | BERTH_S3_CHECKSUMS (when_required/when_supported) | when_required with an endpoint, else when_supported |
 * | credentials      | AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN) | the AWS SDK's default chain (profile, SSO, instance role) |
 * | maxAttempts      | (call option only)                            | 3 (SDK retries with backoff)              |
 * | connectTimeoutMs | (call option only)                            | 10000                                     |
 * | idleTimeoutMs    | (call option only)                            | 120000 (socket idle, not total time)      |
 * | partSizeBytes    | (call option only)                            | 8 MiB (S3 minimum 5 MiB)                  |
 * | queueSize        | (call option only)                            | 2 (memory per upload ≈ partSize × queueSize) |
 */

const MIB = 1024 * 1024;

export type ChecksumMode = 'when_required' | 'when_supported';

export interface StorageCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface StorageConfig {
  /** Full URL of an S3-compatible server, or undefined for AWS S3 itself. */
  readonly endpoint: string | undefined;
  readonly region: string;
  /** Address buckets as https://host/bucket instead of https://bucket.host (needed by most self-hosted servers). */
  readonly forcePathStyle: boolean;
  /**
   * Flexible checksums. Recent AWS SDKs default to computing CRC32 on every upload and sending
   * streamed bodies in the `aws-chunked` encoding with a trailing checksum; servers that do not
   * speak that encoding (s3rver, older MinIO, some gateways) then store the chunk framing as part of
   * the object (a 300,000-byte file becomes 300,045 bytes). `when_required` turns that off except
   * for operations that mandate it. See
   * https://docs.aws.amazon.com/sdkref/latest/guide/feature-dataintegrity.html
   */
  readonly checksums: ChecksumMode;
  /** Undefined: let the SDK's default provider chain find credentials (shared profile, SSO, role). */
  readonly credentials: StorageCredentials | undefined;
  readonly maxAttempts: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly partSizeBytes: number;
  readonly queueSize: number;
}

/** Call options; each one wins over its environment variable. */
export interface StorageOptions {
  readonly endpoint?: string;
  readonly region?: string;
  readonly forcePathStyle?: boolean;
  readonly checksums?: ChecksumMode;
  readonly credentials?: StorageCredentials;
  readonly maxAttempts?: number;
  readonly connectTimeoutMs?: number;
  readonly idleTimeoutMs?: number;
  readonly partSizeBytes?: number;
  readonly queueSize?: number;
}

const endpointSchema = z
  .string()
  .min(1)
  .max(2048)
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && !u.username && !u.password && !u.search && !u.hash;
    } catch {
      return false;
    }
  }, 'must be a full http:// or https:// URL without credentials, query or fragment');

const regionSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must look like "us-east-1" (lowercase letters, digits, dashes)');

const credentialsSchema = z.object({
  accessKeyId: z.string().min(1).max(256),
  secretAccessKey: z.string().min(1).max(1024),
  sessionToken: z.string().min(1).max(16_384).optional(),
});

const optionsSchema = z.object({
  endpoint: endpointSchema.optional(),
  region: regionSchema.optional(),
  forcePathStyle: z.boolean().optional(),
  checksums: z.enum(['when_required', 'when_supported']).optional(),
  credentials: credentialsSchema.optional(),
  maxAttempts: z.number().int().min(1).max(10).optional(),
  connectTimeoutMs: z.number().int().min(100).max(600_000).optional(),
  idleTimeoutMs: z.number().int().min(100).max(3_600_000).optional(),
  partSizeBytes: z
    .number()
    .int()
    .min(5 * MIB)
    .max(512 * MIB)
    .optional(),
  queueSize: z.number().int().min(1).max(16).optional(),
});

function bad(what: string, value: unknown, remedy: string): BerthError {
  return new BerthError('BAD_INPUT', `storage setting ${what}=${JSON.stringify(value)} is invalid: ${remedy}`, {
    details: { setting: what },
  });
}

function parseBool(name: string, raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (v === '1' || v === 'true' || v === 'yes') return true;
  if (v === '0' || v === 'false' || v === 'no') return false;
  throw bad(name, raw, 'use true or false');
}

function nonEmpty(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/**
 * Resolve storage settings once: call options > environment > defaults. The result is frozen and
 * safe to share; it contains credentials, so never print it whole (see describeStorageConfig).
 */
export function resolveStorageConfig(options: StorageOptions = {}, env: NodeJS.ProcessEnv = process.env): StorageConfig {
  const parsedOpts = optionsSchema.safeParse(options);
  if (!parsedOpts.success) {
    const issue = parsedOpts.error.issues[0];
    const key = issue?.path.join('.') ?? '?';
    const value = key === 'credentials' || key.startsWith('credentials.') ? '<redacted>' : (options as Record<string, unknown>)[key];
    throw bad(key, value, issue?.message ?? 'invalid value');
  }
  const o = parsedOpts.data;

  const envEndpoint = nonEmpty(env, 'BERTH_S3_ENDPOINT');
  if (o.endpoint === undefined && envEndpoint !== undefined && !endpointSchema.safeParse(envEndpoint).success) {
    throw bad('BERTH_S3_ENDPOINT', envEndpoint, 'set a full URL such as http://127.0.0.1:9000 (no credentials in it)');
  }
  const endpoint = o.endpoint ?? envEndpoint;

  const envRegion = nonEmpty(env, 'AWS_REGION') ?? nonEmpty(env, 'AWS_DEFAULT_REGION');
  if (o.region === undefined && envRegion !== undefined && !regionSchema.safeParse(envRegion).success) {
    throw bad('AWS_REGION', envRegion, 'use a region name such as us-east-1');
  }
  const region = o.region ?? envRegion ?? 'us-east-1';

  const envPathStyle = nonEmpty(env, 'BERTH_S3_FORCE_PATH_STYLE');
  const forcePathStyle = o.forcePathStyle ?? (envPathStyle !== undefined ? parseBool('BERTH_S3_FORCE_PATH_STYLE', envPathStyle) : endpoint !== undefined);

  const envChecksums = nonEmpty(env, 'BERTH_S3_CHECKSUMS')?.toLowerCase();
  if (o.checksums === undefined && envChecksums !== undefined && envChecksums !== 'when_required' && envChecksums !== 'when_supported') {
    throw bad('BERTH_S3_CHECKSUMS', envChecksums, 'use when_required or when_supported');
  }
  const checksums: ChecksumMode = o.checksums ?? (envChecksums as ChecksumMode | undefined) ?? (endpoint !== undefined ? 'when_required' : 'when_supported');

  let credentials: StorageCredentials | undefined = o.credentials;
  if (credentials === undefined) {
    const id = nonEmpty(env, 'AWS_ACCESS_KEY_ID');
    const secret = nonEmpty(env, 'AWS_SECRET_ACCESS_KEY');
    const token = nonEmpty(env, 'AWS_SESSION_TOKEN');
    if ((id === undefined) !== (secret === undefined)) {
      throw new BerthError(
        'BAD_INPUT',
        `only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set (${id === undefined ? 'AWS_ACCESS_KEY_ID' : 'AWS_SECRET_ACCESS_KEY'} is missing): set both, or neither to use your AWS profile`,
        { details: { setting: 'credentials' } },
      );
    }
    if (id !== undefined && secret !== undefined) {
      credentials = token === undefined ? { accessKeyId: id, secretAccessKey: secret } : { accessKeyId: id, secretAccessKey: secret, sessionToken: token };
    }
  }

  return Object.freeze({
    endpoint,
    region,
    forcePathStyle,
    checksums,
    credentials: credentials === undefined ? undefined : Object.freeze({ ...credentials }),
    maxAttempts: o.maxAttempts ?? 3,
    connectTimeoutMs: o.connectTimeoutMs ?? 10_000,
    idleTimeoutMs: o.idleTimeoutMs ?? 120_000,
    partSizeBytes: o.partSizeBytes ?? 8 * MIB,
    queueSize: o.queueSize ?? 2,
  });
}

/** The config without secrets, for logs and `--json` output. */
export function describeStorageConfig(c: StorageConfig): Record<string, unknown> {
  return {
    endpoint: c.endpoint ?? '(AWS S3)',
    region: c.region,
    forcePathStyle: c.forcePathStyle,
    checksums: c.checksums,
    credentials: c.credentials ? `static (${c.credentials.accessKeyId.slice(0, 4)}…)` : 'AWS default chain',
  };
}

// ---------------------------------------------------------------------------------------------
// s3:// URLs
// ---------------------------------------------------------------------------------------------

export interface S3Location {
  readonly bucket: string;
  /** Key prefix without leading or trailing slash; '' means the bucket root. */
  readonly prefix: string;
  /** Canonical form, for messages. */
  readonly url: string;
}

/** Reserved prefixes and suffixes from the S3 naming rules. */
const RESERVED_PREFIXES = ['xn--', 'sthree-', 'amzn-s3-demo-'];
const RESERVED_SUFFIXES = ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'];

/**
 * Check a bucket name against the S3 general-purpose bucket naming rules
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html). Returns the
 * reason it is invalid, or undefined when it is fine.
 */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return `must be 3 to 63 characters long (it is ${name.length})`;
  if (!/^[a-z0-9.-]+$/.test(name)) return 'may contain only lowercase letters, digits, dots and hyphens';
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) return 'must begin and end with a letter or digit';
  if (name.includes('..')) return 'must not contain two adjacent dots';
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return 'must not look like an IP address';
  for (const p of RESERVED_PREFIXES) if (name.startsWith(p)) return `must not start with the reserved prefix "${p}"`;
  for (const s of RESERVED_SUFFIXES) if (name.endsWith(s)) return `must not end with the reserved suffix "${s}"`;
  return undefined;
}

export function validateBucketName(name: string): string {
  const problem = bucketNameProblem(name);
  if (problem !== undefined) {
    throw new BerthError('BAD_INPUT', `invalid bucket name ${JSON.stringify(name)}: it ${problem}. Use a valid S3 bucket name such as "berth-exports".`, {
      details: { bucket: name },
    });
  }
  return name;
}

const MAX_PREFIX_BYTES = 800; // S3 keys are ≤1024 bytes; leave room for objects/<export id>/<file>.

/** Parse `s3://bucket[/prefix]`. The prefix must be a clean relative path (no '.', '..' or empty segments). */
export function parseS3Url(raw: string): S3Location {
  const m = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(raw);
  if (!m) {
    throw new BerthError('BAD_INPUT', `${JSON.stringify(raw)} is not an s3:// URL: write it as s3://bucket/prefix`, { details: { url: raw } });
  }
  const bucket = validateBucketName(m[1] ?? '');
  const prefix = (m[2] ?? '').replace(/\/+$/, '');
  if (prefix !== '') {
    const segments = prefix.split('/');
    const badSeg = segments.find((s) => s === '' || s === '.' || s === '..');
    if (badSeg !== undefined || /[\u0000-\u001f\u007f\\]/.test(prefix) || Buffer.byteLength(prefix) > MAX_PREFIX_BYTES) {
      throw new BerthError(
        'BAD_INPUT',
        `invalid key prefix ${JSON.stringify(prefix)} in ${JSON.stringify(raw)}: use slash-separated names without empty, "." or ".." segments, control characters or backslashes, at most ${MAX_PREFIX_BYTES} bytes`,
        { details: { url: raw } },
      );
    }
  }
  return Object.freeze({ bucket, prefix, url: `s3://${bucket}${prefix ? `/${prefix}` : ''}` });
}

/** Join the location's prefix with a relative key. */
export function keyFor(loc: S3Location, rel: string): string {
  return loc.prefix ? `${loc.prefix}/${rel}` : rel;
}

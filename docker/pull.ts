/**
 * Pulling images by reference, with progress and honest failure (an error event inside the pull
 * stream fails the pull: docker/progress.ts).
 */
import { BerthError } from '../src/errors.js';
import { authFor, registryOf } from './auth.js';
import { docker, imageExists, translateDockerError, type Docker } from './client.js';
import { followProgress, type ProgressEvent } from './progress.js';

export type PullPolicy = 'missing' | 'always' | 'never';

/** One pull event, reduced to what progress displays need. */
export interface PullProgress {
  /** The layer id (short digest) or undefined for whole-image status lines. */
  readonly layer: string | undefined;
  readonly status: string;
  readonly currentBytes: number | undefined;
  readonly totalBytes: number | undefined;
}

export interface PullOpts {
  onProgress?: (p: PullProgress) => void;
  signal?: AbortSignal;
  client?: Docker;
  env?: NodeJS.ProcessEnv;
}

/** Pull `ref`. Throws REGISTRY_NOT_FOUND / REGISTRY_UNAUTHORIZED / REGISTRY_UNREACHABLE with the registry named. */
export async function pullImage(ref: string, opts: PullOpts = {}): Promise<void> {
  const client = opts.client ?? docker();
  const auth = await authFor(ref, opts.env);
  const hadAuth = auth !== undefined;
  let stream: NodeJS.ReadableStream;
  try {
    stream = (await client.pull(ref, { ...(auth ? { authconfig: auth } : {}), ...(opts.signal ? { abortSignal: opts.signal } : {}) })) as NodeJS.ReadableStream;
  } catch (err) {
    throw pullError(ref, errorText(err), err, hadAuth);
  }
  await followProgress(
    client,
    stream,
    (detail, cause) => pullError(ref, detail, cause, hadAuth),
    (e: ProgressEvent) => {
      if (!e.status) return;
      opts.onProgress?.({
        layer: e.id && e.id !== ref.split(':').pop() ? e.id : undefined,
        status: e.status,
        currentBytes: e.progressDetail?.current,
        totalBytes: e.progressDetail?.total,
      });
    },
  );
  // A stream that ended without an error but without the image is still a failure.
  if (!(await imageExists(ref, client))) throw pullError(ref, 'the pull ended but the image is not on the engine', undefined, hadAuth);
}

/** Make `ref` present according to `policy`. Returns true when it pulled. */
export async function ensurePulled(ref: string, policy: PullPolicy, opts: PullOpts = {}): Promise<boolean> {
  const client = opts.client ?? docker();
  if (policy === 'always') {
    await pullImage(ref, opts);
    return true;
  }
  if (await imageExists(ref, client)) return false;
  if (policy === 'never') {
    throw new BerthError(
      'IMAGE_MISSING',
      `image ${JSON.stringify(ref)} is not on the local engine and the spec says pull: never. Pull or build it yourself, or set pull: missing.`,
    );
  }
  await pullImage(ref, opts);
  return true;
}

function errorText(err: unknown): string {
  const e = err as { json?: { message?: string }; message?: string; reason?: string };
  return e?.json?.message ?? e?.message ?? e?.reason ?? String(err);
}

/** Classify a pull failure by the registry's wording (the engine passes it through as text). */
export function pullError(ref: string, detail: string, cause: unknown, hadAuth: boolean): BerthError {
  const registry = registryOf(ref);
  const opts = cause === undefined ? {} : { cause };
  if (/unauthorized|authentication required|denied|no basic auth credentials|incorrect username or password/i.test(detail)) {
    return new BerthError(
      'REGISTRY_UNAUTHORIZED',
      `pulling ${ref}: ${registry} refused ${hadAuth ? 'the credentials from the Docker config' : 'an anonymous pull'} (${detail}). Run docker login ${registry}, or set DOCKER_CONFIG / DOCKER_AUTH_CONFIG to a config with credentials for it.`,
      opts,
    );
  }
  if (/manifest unknown|not found|does not exist|name unknown|repository .* not found/i.test(detail) && !/no such host/i.test(detail)) {
    return new BerthError('REGISTRY_NOT_FOUND', `pulling ${ref}: ${registry} has no such image (${detail}). Check the name and tag.`, opts);
  }
  if (/no such host|dial tcp|connection refused|i\/o timeout|timeout|network is unreachable|EAI_AGAIN|TLS handshake|server misbehaving|EOF/i.test(detail)) {
    return new BerthError(
      'REGISTRY_UNREACHABLE',
      `pulling ${ref}: the registry ${registry} cannot be reached (${detail}). Check the network, or use a local image (berth's toolchain images need no registry).`,
      opts,
    );
  }
  const t = cause === undefined ? undefined : translateDockerError(cause, `pull ${ref}`);
  return t ?? new BerthError('DOCKER_ERROR', `pulling ${ref} failed: ${detail}`);
}

/**
 * Turn pull events into human lines ("layer 1a2b3c: Downloading 12.0/48.5 MB"): every status
 * change per layer, and byte progress at most every 10% of a layer, so a terminal or an MCP
 * progress stream is not flooded.
 */
export function pullProgressLines(ref: string, onLine: (line: string) => void): (p: PullProgress) => void {
  const last = new Map<string, { status: string; decile: number }>();
  const mb = (n: number) => (n / 1e6).toFixed(1);
  return (p) => {
    if (!p.layer) return onLine(`pull ${ref}: ${p.status}`);
    const decile = p.totalBytes && p.currentBytes !== undefined ? Math.floor((p.currentBytes / p.totalBytes) * 10) : -1;
    const prev = last.get(p.layer);
    if (prev && prev.status === p.status && prev.decile === decile) return;
    last.set(p.layer, { status: p.status, decile });
    const bytes = p.totalBytes && p.currentBytes !== undefined ? ` ${mb(p.currentBytes)}/${mb(p.totalBytes)} MB` : '';
    onLine(`pull ${ref}: layer ${p.layer} ${p.status}${bytes}`);
  };
}

/** Byte progress of one pull, summed over its layers (for MCP progress notifications). */
export interface PullBytes {
  readonly ref: string;
  /** The layer this update is about, its status and its own bytes. */
  readonly layer: string;
  readonly status: string;
  readonly layerCurrentBytes: number | undefined;
  readonly layerTotalBytes: number | undefined;
  /** Bytes downloaded so far over every layer announced; never decreases. */
  readonly downloadedBytes: number;
  /** Sum of the announced layers' sizes; grows as the engine announces layers. */
  readonly totalBytes: number;
}

/** Download statuses after which a layer's bytes are all in (the engine stops sending its counts). */
const LAYER_DONE = /^(Verifying Checksum|Download complete|Extracting|Pull complete)$/;

/**
 * Turn raw pull events into running byte totals. Only download bytes count: "Extracting" also
 * reports current/total, but of the same bytes a second time. A layer the engine already has
 * ("Already exists") has no size and adds nothing.
 */
export function pullByteCounter(ref: string, onUpdate: (b: PullBytes) => void): (p: PullProgress) => void {
  const layers = new Map<string, { done: number; total: number }>();
  return (p) => {
    if (!p.layer) return;
    const l = layers.get(p.layer) ?? { done: 0, total: 0 };
    layers.set(p.layer, l);
    if (p.status === 'Downloading' && p.totalBytes) {
      l.total = p.totalBytes;
      l.done = Math.max(l.done, Math.min(p.currentBytes ?? 0, p.totalBytes));
    } else if (LAYER_DONE.test(p.status)) {
      l.done = l.total;
    } else return;
    let downloadedBytes = 0;
    let totalBytes = 0;
    for (const x of layers.values()) {
      downloadedBytes += x.done;
      totalBytes += x.total;
    }
    onUpdate({
      ref,
      layer: p.layer,
      status: p.status,
      layerCurrentBytes: p.status === 'Downloading' ? p.currentBytes : l.total || undefined,
      layerTotalBytes: l.total || undefined,
      downloadedBytes,
      totalBytes,
    });
  };
}

/**
 * The only module that constructs dockerode, and the one place Docker's errors become RunnerErrors.
 * Everything else in runner/ receives a `Docker` from here.
 */
import Docker from 'dockerode';
import { BerthError } from '../src/errors.js';

export type { default as Docker } from 'dockerode';

let shared: Docker | undefined;

/** A dockerode client honouring DOCKER_HOST (dockerode reads it), shared per process. */
export function docker(): Docker {
  shared ??= new Docker();
  return shared;
}

interface DockerodeError {
  statusCode?: number;
  reason?: string;
  json?: { message?: string } | null;
  code?: string;
  message?: string;
}

/** Translate a dockerode/modem error into a BerthError with a remedy. `what` names the operation. */
export function translateDockerError(err: unknown, what: string): BerthError {
  if (err instanceof BerthError) return err;
  const e = (err ?? {}) as DockerodeError;
  const detail = e.json?.message ?? e.reason ?? e.message ?? String(err);
  if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED' || e.code === 'EACCES') {
    return new BerthError(
      'DOCKER_UNAVAILABLE',
      `${what}: no Docker engine answers (${e.code}). Start Docker (bash scripts/ensure-docker.sh) or set DOCKER_HOST.`,
      { cause: err },
    );
  }
  if (e.statusCode === 404) {
    if (/no such image|image.*not found/i.test(detail)) {
      return new BerthError('IMAGE_MISSING', `${what}: ${detail}. Build it with 'berth images build' or set 'image' in berth.yaml.`, { cause: err, details: { statusCode: 404 } });
    }
    if (/no such volume/i.test(detail)) {
      return new BerthError('NOT_FOUND', `${what}: ${detail}`, { cause: err, details: { statusCode: 404 } });
    }
    return new BerthError('CONTAINER_GONE', `${what}: ${detail}`, { cause: err, details: { statusCode: 404 } });
  }
  if (e.statusCode === 304) {
    // start/stop of a container already in that state; callers that care treat it as success.
    return new BerthError('DOCKER_ERROR', `${what}: already in the requested state`, { cause: err, details: { statusCode: 304 } });
  }
  if (e.statusCode === 409 && /is not running|is paused|container stopped/i.test(detail)) {
    return new BerthError('CONTAINER_DIED', `${what}: ${detail} (the container is not running)`, { cause: err, details: { statusCode: 409 } });
  }
  if (e.statusCode === 409) {
    return new BerthError('DOCKER_ERROR', `${what}: conflict: ${detail}`, { cause: err, details: { statusCode: 409 } });
  }
  return new BerthError('DOCKER_ERROR', `${what}: ${detail}`, {
    cause: err,
    details: e.statusCode === undefined ? {} : { statusCode: e.statusCode },
  });
}

/** The HTTP status of a dockerode/modem error (undefined for transport errors). */
export function dockerStatus(err: unknown): number | undefined {
  if (err instanceof BerthError) {
    const s = err.details?.statusCode;
    return typeof s === 'number' ? s : err.code === 'CONTAINER_GONE' || err.code === 'IMAGE_MISSING' ? 404 : undefined;
  }
  const s = (err as DockerodeError | null)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

/** Run a dockerode call, translating its failure. */
export async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw translateDockerError(err, what);
  }
}

export async function imageExists(ref: string, client: Docker = docker()): Promise<boolean> {
  try {
    await client.getImage(ref).inspect();
    return true;
  } catch (err) {
    const t = translateDockerError(err, `inspect image ${ref}`);
    if (t.code === 'IMAGE_MISSING' || t.code === 'CONTAINER_GONE') return false;
    throw t;
  }
}

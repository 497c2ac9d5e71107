/**
 * The only module that constructs dockerode, and the one place Docker's errors become RunnerErrors.
 * Everything else in runner/ receives a `Docker` from here.
 */
import Docker from 'dockerode';
import { RunnerError } from '../errors.js';

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

/** Translate a dockerode/modem error into a RunnerError with a remedy. `what` names the operation. */
export function translateDockerError(err: unknown, what: string): RunnerError {
  if (err instanceof RunnerError) return err;
  const e = (err ?? {}) as DockerodeError;
  const detail = e.json?.message ?? e.reason ?? e.message ?? String(err);
  if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED' || e.code === 'EACCES') {
    return new RunnerError(
      'DOCKER_UNAVAILABLE',
      `${what}: no Docker engine answers (${e.code}). Start Docker (bash scripts/ensure-docker.sh) or set DOCKER_HOST.`,
      { cause: err },
    );
  }
  if (e.statusCode === 404) {
    if (/no such image|image.*not found/i.test(detail)) {
      return new RunnerError('IMAGE_MISSING', `${what}: ${detail}. Build it with 'berth images build' or set 'image' in berth.yaml.`, { cause: err });
    }
    return new RunnerError('CONTAINER_GONE', `${what}: ${detail}`, { cause: err });
  }
  if (e.statusCode === 409) {
    return new RunnerError('DOCKER_ERROR', `${what}: conflict: ${detail}`, { cause: err, details: { statusCode: 409 } });
  }
  return new RunnerError('DOCKER_ERROR', `${what}: ${detail}`, {
    cause: err,
    details: e.statusCode === undefined ? {} : { statusCode: e.statusCode },
  });
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

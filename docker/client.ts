/**
 * The only module that constructs dockerode clients. Everything else receives a `Docker` from
 * here; Docker's errors become BerthErrors through errors.ts's table, in `call`.
 */
// First: defers dockerode's gRPC (BuildKit) and ssh2 parts to their first use (see that file).
import './client-lazy.js';
import Docker from 'dockerode';
import { BerthError } from '../src/errors.js';
import { translateDockerError, type DockerodeError } from './errors.js';

export { translateDockerError } from './errors.js';

export type { default as Docker } from 'dockerode';
/**
 * dockerode's class itself, for tests and bench baselines that measure or inspect Docker without
 * berth's wrappers. Product code takes a client from `docker()` instead.
 */
export { default as Dockerode } from 'dockerode';

let shared: Docker | undefined;

/** A dockerode client honouring DOCKER_HOST (dockerode reads it), shared per process. */
export function docker(): Docker {
  shared ??= new Docker();
  return shared;
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

/** A separate client with its own connection options (e.g. a socket path; tests point one at nothing). */
export function dockerClient(options?: Docker.DockerOptions): Docker {
  return new Docker(options);
}

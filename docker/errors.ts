/**
 * Docker's failures become BerthErrors here, through one table, once. A row matches on the
 * transport code (socket errors), the HTTP status and/or a pattern of the engine's message; the
 * first matching row wins, so specific rows come before the catch-alls. client.ts's `call` and
 * `translateDockerError` are the only users. Messages quote the engine's own text and the
 * operation, and end with the remedy. See E2B js-sdk src/envd/rpc.ts for the pattern.
 */
import { BerthError, type BerthErrorCode } from '../src/errors.js';

/** What dockerode/docker-modem put on a failure. */
export interface DockerodeError {
  statusCode?: number;
  reason?: string;
  json?: { message?: string } | null;
  code?: string;
  message?: string;
}

export interface ErrorRow {
  readonly code: BerthErrorCode;
  /** Transport error codes (ENOENT on the socket path, ECONNREFUSED ...). */
  readonly errno?: readonly string[];
  readonly status?: readonly number[];
  readonly pattern?: RegExp;
  /** The message: `what` is the operation, `detail` the engine's text. */
  readonly message: (what: string, detail: string, e: DockerodeError) => string;
}

const REMEDY_DOCKER = 'Start Docker (bash scripts/ensure-docker.sh) or set DOCKER_HOST.';

/** The table. Order matters: the first row that matches wins. */
export const DOCKER_ERROR_TABLE: readonly ErrorRow[] = [
  {
    code: 'DOCKER_UNAVAILABLE',
    errno: ['ENOENT', 'ECONNREFUSED', 'EACCES', 'ECONNRESET', 'EPIPE'],
    message: (what, _d, e) => `${what}: no Docker engine answers (${e.code}). ${REMEDY_DOCKER}`,
  },
  {
    code: 'IMAGE_MISSING',
    status: [404, 400, 500],
    pattern: /no such image|image .*not found|manifest (for .* )?(not found|unknown)|repository .* not found|pull access denied/i,
    message: (what, d) => `${what}: ${d}. Build it with 'berth images build' or set 'image' in berth.yaml.`,
  },
  {
    code: 'DOCKER_ERROR',
    status: [401, 403, 500],
    pattern: /unauthorized|authentication required|denied: requested access|no basic auth credentials/i,
    message: (what, d) => `${what}: the registry refused the credentials: ${d}. Log in to the registry (docker login) or use a public image.`,
  },
  {
    code: 'DOCKER_ERROR',
    status: [500],
    pattern: /dial tcp|lookup .* no such host|i\/o timeout|TLS handshake timeout|connection refused|network is unreachable/i,
    message: (what, d) => `${what}: the engine could not reach the registry: ${d}. Check the network, or build the image locally ('berth images build').`,
  },
  {
    code: 'NOT_FOUND',
    status: [404],
    pattern: /no such volume|get .*: no such volume/i,
    message: (what, d) => `${what}: ${d}`,
  },
  {
    code: 'NOT_FOUND',
    status: [404],
    pattern: /no such exec/i,
    message: (what, d) => `${what}: ${d} (the exec ended and Docker forgot it)`,
  },
  { code: 'CONTAINER_GONE', status: [404], message: (what, d) => `${what}: ${d}` },
  {
    code: 'DOCKER_ERROR',
    status: [304],
    // start/stop of a container already in that state; callers that care treat it as success.
    message: (what) => `${what}: already in the requested state`,
  },
  {
    code: 'CONTAINER_DIED',
    status: [409, 500],
    pattern: /is not running|is paused|container stopped|is restarting|cannot exec in a stopped/i,
    message: (what, d) => `${what}: ${d} (the container is not running)`,
  },
  {
    code: 'DOCKER_ERROR',
    status: [500, 507],
    pattern: /no space left on device|disk quota exceeded/i,
    message: (what, d) => `${what}: the engine is out of disk space: ${d}. Free space (docker system prune, berth gc) and retry.`,
  },
  {
    code: 'DOCKER_ERROR',
    status: [409],
    pattern: /is already in use|already exists/i,
    message: (what, d) => `${what}: name conflict: ${d}. Another process created it; retry, or remove the old object.`,
  },
  { code: 'DOCKER_ERROR', status: [409], message: (what, d) => `${what}: conflict: ${d}` },
  { code: 'BAD_INPUT', status: [400], message: (what, d) => `${what}: the engine rejected the request: ${d}` },
];

function matches(row: ErrorRow, e: DockerodeError, detail: string): boolean {
  if (row.errno) return e.code !== undefined && row.errno.includes(e.code) && e.statusCode === undefined;
  if (row.status && (e.statusCode === undefined || !row.status.includes(e.statusCode))) return false;
  return !row.pattern || row.pattern.test(detail);
}

/** Translate a dockerode/modem error into a BerthError with a remedy. `what` names the operation. */
export function translateDockerError(err: unknown, what: string): BerthError {
  if (err instanceof BerthError) return err;
  const e = (err ?? {}) as DockerodeError;
  const detail = (e.json?.message ?? e.reason ?? e.message ?? String(err)).trim();
  const details = e.statusCode === undefined ? {} : { statusCode: e.statusCode };
  const row = DOCKER_ERROR_TABLE.find((r) => matches(r, e, detail));
  if (row) return new BerthError(row.code, row.message(what, detail, e), { cause: err, details });
  return new BerthError('DOCKER_ERROR', `${what}: ${detail}`, { cause: err, details });
}

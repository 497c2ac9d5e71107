/**
 * A dockerode client per configured engine: unix sockets, tcp:// (TLS from a DOCKER_CERT_PATH-style
 * directory) and ssh:// through ssh-transport.ts (one kept ssh2 connection per engine, a
 * `docker system dial-stdio` channel per HTTP connection, reused with keep-alive). Each client is guarded at its one entry point, `modem.dial`: a transport
 * failure (the engine is down, the socket is gone, ssh refused) becomes ENGINE_UNAVAILABLE naming
 * the engine and its endpoint, so every caller (sessions, pool, gc, pipelines) reports the same
 * clear error without knowing engines exist. docker/errors.ts passes BerthErrors through unchanged.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
// First: defers dockerode's gRPC (BuildKit) and ssh2 parts to their first use (see that file).
import './client-lazy.js';
import Docker from 'dockerode';
import { BerthError } from '../src/errors.js';
import type { ConnectConfig } from 'ssh2';
import type { EngineEntry } from './engines-config.js';
import { SshDockerAgent } from './ssh-transport.js';

/** Socket-level failures: the engine (or the path to it) is not there. */
const TRANSPORT = new Set([
  'ENOENT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
]);

interface DialError {
  code?: string;
  statusCode?: number;
  /** ssh2 sets this on its errors (client-socket, client-authentication, client-timeout ...). */
  level?: string;
  message?: string;
}

/**
 * A TLS handshake that failed: the engine refused our client certificate (ERR_SSL_*: an alert from
 * the server), or its certificate did not verify against our ca.pem (Node's X509 codes).
 */
export function isTlsError(err: unknown): boolean {
  const code = ((err ?? {}) as DialError).code ?? '';
  return /^ERR_(SSL|TLS)_|CERT|UNABLE_TO_(GET|VERIFY|DECRYPT)|SELF_SIGNED|^DEPTH_ZERO/.test(code);
}

/** Plain HTTP sent to a --tlsverify engine: it answers 400 (docker's own words) before any API call. */
function isPlainHttpToTls(err: unknown): boolean {
  const e = (err ?? {}) as DialError;
  return e.statusCode === 400 && /HTTP request to an HTTPS server/i.test(e.message ?? '');
}

export function isTransportError(err: unknown): boolean {
  const e = (err ?? {}) as DialError;
  if (e.statusCode !== undefined) return false;
  if (e.code !== undefined && TRANSPORT.has(e.code)) return true;
  if (isTlsError(err)) return true;
  if (typeof e.level === 'string' && e.level.startsWith('client-')) return true;
  // An HTTP response cut short (ssh's dial-stdio exited, the daemon died mid-request).
  return /socket hang up|(connection|stream) (closed|lost)|Not connected/i.test(e.message ?? '');
}

export function engineUnavailable(id: string, endpoint: string, err: unknown): BerthError {
  const e = (err ?? {}) as DialError;
  const why = `${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`;
  const ssh = endpoint.startsWith('ssh://')
    ? ' For ssh://, check that the key is accepted and the host key is in the known_hosts file (ssh-keyscan -p PORT HOST >> ~/.ssh/known_hosts), and that `docker` runs there.'
    : '';
  const tls = isTlsError(err)
    ? " The TLS handshake failed (certificate rejected or not trusted): check that tlsCertPath holds ca.pem (the CA that signed the engine's certificate) and cert.pem/key.pem signed by the CA the engine trusts (its --tlscacert), and that the certificates have not expired."
    : '';
  return new BerthError(
    'ENGINE_UNAVAILABLE',
    `Docker engine "${id}" at ${endpoint} is not answering (${why}): its workspaces are unavailable until it is back; workspaces on other engines keep working. Start that engine, or check its entry in engines: / BERTH_ENGINES.${ssh}${tls}`,
    { cause: err, details: { engine: id, endpoint } },
  );
}

type Dial = (options: unknown, callback: (err: unknown, data?: unknown) => void) => void;

/** Wrap the client's modem so transport failures name this engine (see the file comment). */
export function guardClient(client: Docker, id: string, endpoint: string): Docker {
  const modem = client.modem as unknown as { dial: Dial };
  const dial = modem.dial.bind(modem);
  modem.dial = (options, callback) => dial(options, (err, data) => callback(err ? dialError(id, endpoint, err) : err, data));
  return client;
}

function dialError(id: string, endpoint: string, err: unknown): unknown {
  if (isTransportError(err)) return engineUnavailable(id, endpoint, err);
  if (!isPlainHttpToTls(err)) return err;
  return new BerthError(
    'ENGINE_CONFIG',
    `engine "${id}" at ${endpoint} requires TLS (it answered: Client sent an HTTP request to an HTTPS server): set its tlsCertPath to a directory with ca.pem, cert.pem and key.pem (as DOCKER_CERT_PATH).`,
    { cause: err, details: { engine: id, endpoint } },
  );
}

function readFile(id: string, what: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new BerthError('ENGINE_CONFIG', `engine "${id}": cannot read its ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * A host key check against a known_hosts file (plain and hashed `|1|salt|hmac` entries). ssh2
 * accepts ANY host key unless told otherwise, which would let whoever answers on the port speak
 * for the engine; berth fails closed instead.
 */
export function knownHostsVerifier(file: string, host: string, port: number): (key: Buffer) => boolean {
  const name = port === 22 ? host : `[${host}]:${port}`;
  let lines: string[];
  try {
    lines = readFileSync(file, 'utf8').split('\n');
  } catch {
    lines = [];
  }
  const keys: Buffer[] = [];
  for (const line of lines) {
    const [hosts, , blob] = line.trim().split(/\s+/);
    if (!hosts || !blob || hosts.startsWith('#') || hosts.startsWith('@')) continue;
    const match = hosts.split(',').some((h) => {
      const hashed = /^\|1\|([^|]+)\|(.+)$/.exec(h);
      if (!hashed) return h === name;
      return createHmac('sha1', Buffer.from(hashed[1]!, 'base64')).update(name).digest('base64') === hashed[2];
    });
    if (match) keys.push(Buffer.from(blob, 'base64'));
  }
  return (key) => keys.some((k) => k.equals(key));
}

function defaultIdentity(): Buffer | undefined {
  for (const f of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    try {
      return readFileSync(join(homedir(), '.ssh', f));
    } catch {
      // try the next one
    }
  }
  return undefined;
}

/**
 * Connection options for one entry. Every field dockerode would otherwise take from DOCKER_HOST /
 * DOCKER_CERT_PATH is set explicitly (docker-modem merges its env defaults under the options).
 */
export function clientOptions(e: EngineEntry): Docker.DockerOptions {
  const none = { host: undefined, port: undefined, ca: undefined, cert: undefined, key: undefined } as const;
  if (e.host.startsWith('/') || e.host.startsWith('unix://')) {
    return { ...none, socketPath: e.host.replace(/^unix:\/\//, ''), protocol: 'http' };
  }
  const url = new URL(e.host);
  if (url.protocol === 'tcp:') {
    const port = url.port || (e.tlsCertPath ? '2376' : '2375');
    if (!e.tlsCertPath) return { ...none, host: url.hostname, port, protocol: 'http' };
    const dir = e.tlsCertPath;
    return {
      ...none,
      host: url.hostname,
      port,
      protocol: 'https',
      ca: readFile(e.id, 'CA certificate', join(dir, 'ca.pem')),
      cert: readFile(e.id, 'client certificate', join(dir, 'cert.pem')),
      key: readFile(e.id, 'client key', join(dir, 'key.pem')),
    };
  }
  if (process.env.BERTH_SSH_TRANSPORT === 'modem') return { ...none, protocol: 'ssh', ...modemSsh(sshConnectConfig(e)) } as Docker.DockerOptions;
  const ssh = sshConnectConfig(e);
  // protocol http + our agent: docker-modem's 'ssh' protocol would replace the agent with its own.
  return { ...none, protocol: 'http', host: ssh.host, port: String(ssh.port), agent: new SshDockerAgent(ssh) } as Docker.DockerOptions;
}

/**
 * The ssh2 connection settings of an ssh:// entry: known_hosts-checked host key (fail closed), the
 * identity file, else the ssh agent, else ~/.ssh/id_*.
 */
export function sshConnectConfig(e: EngineEntry): ConnectConfig {
  const url = new URL(e.host);
  const port = Number(url.port || 22);
  const privateKey = e.sshIdentityFile ? readFile(e.id, 'ssh identity file', e.sshIdentityFile) : process.env.SSH_AUTH_SOCK ? undefined : defaultIdentity();
  const knownHosts = e.sshKnownHostsFile ?? join(homedir(), '.ssh', 'known_hosts');
  return {
    host: url.hostname,
    port,
    username: decodeURIComponent(url.username) || 'root',
    ...(privateKey ? { privateKey } : { agent: process.env.SSH_AUTH_SOCK }),
    hostVerifier: knownHostsVerifier(knownHosts, url.hostname, port),
    readyTimeout: 15_000,
  };
}

/** BERTH_SSH_TRANSPORT=modem: docker-modem's own transport (one ssh connection per request). */
function modemSsh(c: ConnectConfig): Partial<Docker.DockerOptions> {
  const { host, port, username, ...sshOptions } = c;
  return { host, port, username, sshOptions } as Partial<Docker.DockerOptions>;
}

/** End the ssh connections of a client built here (no-op for other transports); idempotent. */
export function closeEngineClient(client: Docker): void {
  const agent = (client.modem as unknown as { agent?: unknown }).agent;
  if (agent instanceof SshDockerAgent) agent.close();
}

/** A guarded client for one entry. */
export function engineClient(e: EngineEntry): Docker {
  return guardClient(new Docker(clientOptions(e)), e.id, e.host);
}

/**
 * The ssh:// transport of an engine: ONE authenticated ssh2 connection (more only past
 * CHANNELS_PER_CONNECTION busy channels), a `docker system dial-stdio` channel per HTTP
 * connection on it, and an http.Agent with keep-alive that reuses those channels for sequential
 * requests. docker-modem's own ssh transport opens a new ssh connection (handshake, auth and a
 * remote process) for EVERY request and never reuses it: 5-10x slower for a chatty flow.
 *
 * - Host key, identity and agent are the caller's ssh2 ConnectConfig (engines-client.ts builds it:
 *   known_hosts checked, fail closed); errors reach docker-modem unchanged, so the engine guard
 *   translates them to ENGINE_UNAVAILABLE exactly as before.
 * - Hijacked streams (exec/attach, archive uploads) leave the agent's pool with their channel and
 *   keep it until they end; a channel never carries two requests at once.
 * - A connection that dies (sshd restarted, network gone) is dropped; the next request dials a new
 *   one. Channels whose dial-stdio died (engine restarted) close and leave the pool.
 * - No hanging process: the ssh TCP socket is ref'd only while a channel is in use (the agent
 *   ref()s a socket it hands to a request and unref()s one it parks), parked channels close after
 *   IDLE_CHANNEL_MS, and a connection left without channels ends as long after (so a long-lived
 *   server does not keep a connection the network may have silently dropped). `close()` ends
 *   everything.
 */
import { Agent, type ClientRequestArgs } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';

/** OpenSSH's MaxSessions defaults to 10 channels per connection; stay under it. */
export const CHANNELS_PER_CONNECTION = 8;
/** A parked (idle keep-alive) channel is closed after this long, ending its remote dial-stdio. */
export const IDLE_CHANNEL_MS = 30_000;
const DIAL_STDIO = 'docker system dial-stdio';

/** One ssh connection: its channels, and whether any of them is in use (then it holds the loop). */
class SshConnection {
  readonly client = new Client();
  readonly ready: Promise<void>;
  closed = false;
  /** Channels open or being opened on this connection. */
  channels = 0;
  /** The open channels: ssh2 does not end them when the connection drops, so the 'close' handler does. */
  readonly open = new Set<ClientChannel>();
  /** Ends the connection once it has had no channel for IDLE_CHANNEL_MS (a stale one is not kept for hours). */
  #idle: NodeJS.Timeout | undefined;
  /** Channels in use (handed to a request, or being opened). */
  #busy = 0;

  constructor(config: ConnectConfig) {
    this.ready = new Promise((resolve, reject) => {
      this.client.once('ready', () => resolve());
      this.client.once('error', reject);
    });
    this.ready.catch(() => undefined);
    // After 'ready', errors surface as 'close' (and fail the channels): never an uncaught 'error'.
    this.client.on('error', () => undefined);
    this.client.once('close', () => {
      this.closed = true;
      // A parked channel of a dead connection would take the next request and never answer.
      const gone = Object.assign(new Error('the ssh connection to the engine closed'), { code: 'ECONNRESET' });
      for (const ch of this.open) (ch as Duplex).destroy(gone);
    });
    this.client.connect(config);
  }

  /** Ref the ssh socket while a channel is in use; unref it when all are parked or closed. */
  busy(delta: 1 | -1): void {
    this.#busy += delta;
    const sock = (this.client as unknown as { _sock?: Socket })._sock;
    if (this.#busy > 0) sock?.ref?.();
    else sock?.unref?.();
  }

  /** A dial-stdio channel on this connection, ref-counted as busy until it is parked or closed. */
  async channel(): Promise<ClientChannel> {
    clearTimeout(this.#idle);
    this.channels++;
    this.busy(1);
    try {
      await this.ready;
      const stream = await new Promise<ClientChannel>((resolve, reject) => this.client.exec(DIAL_STDIO, (err, s) => (err ? reject(err) : resolve(s))));
      if (this.closed) {
        stream.destroy();
        throw Object.assign(new Error('the ssh connection to the engine closed'), { code: 'ECONNRESET' });
      }
      this.open.add(stream);
      return asSocket(stream, this);
    } catch (err) {
      this.busy(-1);
      this.released();
      throw err;
    }
  }

  /** A channel closed: with none left, end the connection after IDLE_CHANNEL_MS unless one opens. */
  released(): void {
    this.channels--;
    if (this.channels > 0 || this.closed) return;
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => this.channels === 0 && this.end(), IDLE_CHANNEL_MS).unref();
  }

  end(): void {
    clearTimeout(this.#idle);
    this.closed = true;
    this.client.end();
  }
}

/**
 * Give a channel the few net.Socket methods http.Agent and ClientRequest call. ref/unref count the
 * channel as busy/parked on its connection; setTimeout emits 'timeout' as a socket would.
 */
function asSocket(stream: ClientChannel, conn: SshConnection): ClientChannel {
  let refd = true;
  let timer: NodeJS.Timeout | undefined;
  const s = stream as ClientChannel & Record<string, unknown>;
  s.ref = () => {
    if (!refd) conn.busy(1);
    refd = true;
    return s;
  };
  s.unref = () => {
    if (refd) conn.busy(-1);
    refd = false;
    return s;
  };
  s.setKeepAlive = () => s;
  s.setNoDelay = () => s;
  s.setTimeout = (ms: number, cb?: () => void) => {
    clearTimeout(timer);
    if (cb) s.once('timeout', cb);
    if (ms > 0) timer = setTimeout(() => s.emit('timeout'), ms).unref();
    return s;
  };
  s.once('close', () => {
    clearTimeout(timer);
    conn.open.delete(stream);
    conn.released();
    if (refd) conn.busy(-1);
    refd = false;
  });
  // A channel error is reported to its request by http; a parked one must not crash the process.
  s.on('error', () => undefined);
  return stream;
}

/** An http.Agent whose connections are dial-stdio channels over shared ssh connections. */
export class SshDockerAgent extends Agent {
  readonly #config: ConnectConfig;
  #conns: SshConnection[] = [];
  readonly #idle = new WeakMap<Duplex, NodeJS.Timeout>();

  constructor(config: ConnectConfig) {
    super({ keepAlive: true, maxFreeSockets: CHANNELS_PER_CONNECTION, scheduling: 'lifo' });
    this.#config = config;
  }

  /** ssh connections currently open (tests, diagnostics). */
  get connections(): number {
    return this.#conns.filter((c) => !c.closed).length;
  }

  override createConnection(_options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): undefined {
    this.#open().then(
      (s) => callback?.(null, s),
      (err: Error) => callback?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  }

  async #open(): Promise<Duplex> {
    this.#conns = this.#conns.filter((c) => !c.closed);
    let conn = this.#conns.find((c) => c.channels < CHANNELS_PER_CONNECTION);
    if (!conn) {
      conn = new SshConnection(this.#config);
      this.#conns.push(conn);
      conn.ready.catch(() => {
        conn!.closed = true;
      });
    }
    return conn.channel();
  }

  override keepSocketAlive(socket: Duplex): void {
    // Node returns whether the socket may be kept (@types/node says void).
    const ok = (super.keepSocketAlive(socket as Socket) as unknown as boolean) !== false;
    if (ok) this.#idle.set(socket, setTimeout(() => socket.destroy(), IDLE_CHANNEL_MS).unref());
    return ok as unknown as void;
  }

  override reuseSocket(socket: Duplex, req: Parameters<Agent['reuseSocket']>[1]): void {
    clearTimeout(this.#idle.get(socket));
    super.reuseSocket(socket as Socket, req);
  }

  /** End every ssh connection and channel (idempotent); a later request dials afresh. */
  close(): void {
    this.destroy();
    for (const c of this.#conns) c.end();
    this.#conns = [];
  }
}

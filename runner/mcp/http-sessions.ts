/**
 * The client sessions of `berth mcp --http`. Clients often vanish without a DELETE (a crash, a
 * closed laptop), so a session that has served no request for `idleTimeoutMs` is closed, and when
 * the table is full a new client evicts the longest-idle session instead of being refused
 * forever. A session with a request in flight (a running tool call, an open SSE stream) is never
 * idle.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Logger } from '../../src/log.js';

export const DEFAULT_IDLE_TIMEOUT_MS = 15 * 60 * 1000;
export const DEFAULT_MAX_SESSIONS = 64;

export interface SessionEntry {
  readonly transport: StreamableHTTPServerTransport;
  readonly server: McpServer;
  lastActive: number;
  inFlight: number;
}

export class SessionTable {
  readonly #entries = new Map<string, SessionEntry>();
  readonly #idleMs: number;
  readonly #max: number;
  readonly #logger: Logger;
  readonly #sweeper: NodeJS.Timeout;

  constructor(opts: { idleTimeoutMs: number; maxSessions: number; logger: Logger }) {
    this.#idleMs = opts.idleTimeoutMs;
    this.#max = opts.maxSessions;
    this.#logger = opts.logger;
    // Sweep often enough that a session outlives its timeout by at most half of it.
    this.#sweeper = setInterval(() => this.sweep(), Math.max(50, Math.min(60_000, Math.floor(this.#idleMs / 2))));
    this.#sweeper.unref();
  }

  get size(): number {
    return this.#entries.size;
  }

  get(id: string): SessionEntry | undefined {
    return this.#entries.get(id);
  }

  add(id: string, transport: StreamableHTTPServerTransport, server: McpServer): void {
    this.#entries.set(id, { transport, server, lastActive: Date.now(), inFlight: 0 });
  }

  /** Forget `id` (its transport closed); true when it was known. */
  delete(id: string): boolean {
    return this.#entries.delete(id);
  }

  /** Room for one more session: true if there was room or an idle session was evicted for it. */
  makeRoom(): boolean {
    if (this.#entries.size < this.#max) return true;
    let oldest: [string, SessionEntry] | undefined;
    for (const e of this.#entries) if (e[1].inFlight === 0 && (!oldest || e[1].lastActive < oldest[1].lastActive)) oldest = e;
    if (!oldest) return false;
    this.#close(oldest[0], oldest[1], 'evicted: the session table is full');
    return true;
  }

  /** Mark a request of `entry` in flight until `done` settles. */
  track(entry: SessionEntry, done: Promise<unknown>): void {
    entry.inFlight++;
    entry.lastActive = Date.now();
    void done.finally(() => {
      entry.inFlight--;
      entry.lastActive = Date.now();
    });
  }

  sweep(now = Date.now()): void {
    for (const [id, e] of this.#entries) {
      if (e.inFlight === 0 && now - e.lastActive >= this.#idleMs) this.#close(id, e, `idle for ${Math.round((now - e.lastActive) / 1000)}s`);
    }
  }

  async closeAll(): Promise<void> {
    clearInterval(this.#sweeper);
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.allSettled(entries.map((e) => e.server.close()));
  }

  #close(id: string, e: SessionEntry, why: string): void {
    this.#entries.delete(id);
    this.#logger.info('MCP session closed', { session: id, reason: why });
    void e.server.close().catch((err: unknown) => this.#logger.warn('closing an MCP session failed', { session: id, error: String(err) }));
  }
}

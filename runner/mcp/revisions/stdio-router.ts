/**
 * The revision of a `berth mcp` stdio connection, chosen by its first message:
 *   - a request or notification whose `_meta` claims a 2026-07-28 protocol version (SDK v2
 *     clients, pinned or probing with `server/discover`) pins the connection to the modern server,
 *     served by SDK v2's serveStdio (per-request envelope, no `initialize`);
 *   - anything else (the `initialize` handshake of 2025-06-18 / 2025-11-25 clients) pins it to the
 *     2025-era server (SDK v1), exactly as before this router existed.
 * A claim naming a revision berth does not speak goes to the 2025 side, which answers it as an
 * unknown method: the spec's signal for a negotiating client to fall back to `initialize`.
 *
 * Both sides read and write through the one bounded transport (../stdio.ts), so the limits on
 * stdin hold for every revision.
 */
import type { McpServer as LegacyMcpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Transport as LegacyTransport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage as LegacyMessage } from '@modelcontextprotocol/sdk/types.js';
import { PROTOCOL_VERSION_META_KEY, type JSONRPCMessage, type McpServer, type Transport } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { MODERN_REVISION } from './modern.js';

export type StdioEra = 'legacy' | 'modern';

/** The era a connection's first message opens (see the module comment). */
export function openingEra(message: unknown): StdioEra {
  const params = (message as { params?: unknown } | null)?.params;
  const meta = params && typeof params === 'object' ? (params as { _meta?: unknown })._meta : undefined;
  const claim = meta && typeof meta === 'object' ? (meta as Record<string, unknown>)[PROTOCOL_VERSION_META_KEY] : undefined;
  return claim === MODERN_REVISION ? 'modern' : 'legacy';
}

export interface StdioRouterOptions {
  /** The bounded stdio transport (not started yet): the router owns it from here on. */
  readonly wire: LegacyTransport;
  readonly createLegacy: () => LegacyMcpServer;
  readonly createModern: () => McpServer;
  readonly onEra?: (era: StdioEra) => void;
  readonly onerror?: (err: Error) => void;
}

export class StdioRouter {
  readonly #opts: StdioRouterOptions;
  #era: StdioEra | undefined;
  #close: () => Promise<void>;

  constructor(opts: StdioRouterOptions) {
    this.#opts = opts;
    this.#close = () => opts.wire.close();
  }

  get era(): StdioEra | undefined {
    return this.#era;
  }

  async start(): Promise<void> {
    const { wire } = this.#opts;
    wire.onmessage = (first) => this.#pin(first);
    wire.onerror = (err) => this.#opts.onerror?.(err);
    await wire.start();
  }

  /** Closes the pinned server (or only the wire, before the first message). Idempotent. */
  async close(): Promise<void> {
    const close = this.#close;
    this.#close = async () => undefined;
    await close();
  }

  #pin(first: LegacyMessage): void {
    const era = openingEra(first);
    this.#era = era;
    this.#opts.onEra?.(era);
    const relay = new Relay(this.#opts.wire, first);
    if (era === 'modern') {
      const handle = serveStdio(() => this.#opts.createModern(), {
        transport: relay as Transport,
        legacy: 'reject',
        ...(this.#opts.onerror ? { onerror: this.#opts.onerror } : {}),
      });
      this.#close = () => handle.close();
    } else {
      const server = this.#opts.createLegacy();
      this.#close = () => server.close();
      server.connect(relay).catch((err: unknown) => this.#opts.onerror?.(err instanceof Error ? err : new Error(String(err))));
    }
  }
}

/**
 * The pinned server's view of the wire: it replays the opening message once the server has
 * started it, then passes everything through. Messages are JSON-RPC on both SDKs; only their
 * TypeScript types differ, hence the casts at this one seam.
 */
class Relay implements LegacyTransport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: LegacyMessage) => void;
  readonly #wire: LegacyTransport;
  #pending: LegacyMessage | undefined;

  constructor(wire: LegacyTransport, first: LegacyMessage) {
    this.#wire = wire;
    this.#pending = first;
  }

  async start(): Promise<void> {
    this.#wire.onmessage = (m) => this.onmessage?.(m);
    this.#wire.onclose = () => this.onclose?.();
    this.#wire.onerror = (e) => this.onerror?.(e);
    // After start() resolves: the server installs its handlers before awaiting start.
    setImmediate(() => {
      const first = this.#pending;
      this.#pending = undefined;
      if (first) this.onmessage?.(first);
    });
  }

  send(message: LegacyMessage | JSONRPCMessage): Promise<void> {
    return this.#wire.send(message as LegacyMessage);
  }

  close(): Promise<void> {
    return this.#wire.close();
  }
}

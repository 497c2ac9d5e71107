/**
 * The revision of a `berth mcp` stdio connection, chosen by its first message (era.ts):
 *   - a 2026-07-28 claim (SDK v2 clients, pinned or probing with `server/discover`) pins the
 *     connection to the modern server, served by SDK v2's serveStdio (per-request envelope, no
 *     `initialize`; a later `initialize` is refused with -32022 by the SDK);
 *   - anything else (the `initialize` handshake of 2025-06-18 / 2025-11-25 clients) pins it to the
 *     2025-era server (SDK v1), exactly as before this router existed.
 * SDK v2 is imported only when a modern client opens; messages that arrive meanwhile are queued.
 *
 * Both sides read and write through the one bounded transport (../stdio.ts), so the limits on
 * stdin hold for every revision. On the 2025-era side, plain tools/call requests take the fast
 * lane (fast-lane.ts) past the SDK's request pipeline, to the same dispatcher as the server's own
 * tools/call handler.
 */
import type { McpServer as LegacyMcpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Transport as LegacyTransport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage as LegacyMessage } from '@modelcontextprotocol/sdk/types.js';
import type { JSONRPCMessage, McpServer, Transport } from '@modelcontextprotocol/server';
import type { Lifecycle } from '../deps.js';
import type { Dispatch } from './catalog.js';
import { openingEra, type Era } from './era.js';
import { FastLane } from './fast-lane.js';

/** The bounded stdio transport: a Transport that offers each parsed line to `intercept` first. */
export type StdioWire = LegacyTransport & { intercept?: (value: unknown) => boolean };

export interface StdioRouterOptions {
  /** The bounded stdio transport (not started yet): the router owns it from here on. */
  readonly wire: StdioWire;
  /** The 2025-era server and its tools/call dispatcher (server.ts legacyServer). */
  readonly createLegacy: () => { server: LegacyMcpServer; dispatch: Dispatch };
  /** Shutdown aborts the calls of the fast lane. */
  readonly lifecycle: Lifecycle;
  readonly createModern: () => Promise<McpServer>;
  readonly onEra?: (era: Era) => void;
  readonly onerror?: (err: Error) => void;
}

export class StdioRouter {
  readonly #opts: StdioRouterOptions;
  #era: Era | undefined;
  #close: () => Promise<void>;

  constructor(opts: StdioRouterOptions) {
    this.#opts = opts;
    this.#close = () => opts.wire.close();
  }

  get era(): Era | undefined {
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
    const fail = (err: unknown) => this.#opts.onerror?.(err instanceof Error ? err : new Error(String(err)));
    if (era === 'legacy') {
      const { wire, lifecycle } = this.#opts;
      const { server, dispatch } = this.#opts.createLegacy();
      const lane = new FastLane({ dispatch, send: (m) => wire.send(m), lifecycle, onerror: fail });
      const relay = new Relay(wire, first, lane);
      this.#close = async () => {
        lane.close();
        await server.close();
      };
      server.connect(relay).catch(fail);
      return;
    }
    const relay = new Relay(this.#opts.wire, first);
    const serving = import('@modelcontextprotocol/server/stdio').then(({ serveStdio }) =>
      serveStdio(() => this.#opts.createModern(), {
        transport: relay as Transport,
        legacy: 'reject',
        ...(this.#opts.onerror ? { onerror: this.#opts.onerror } : {}),
      }),
    );
    serving.catch(fail);
    this.#close = async () => {
      const handle = await serving.catch(() => undefined);
      await (handle ? handle.close() : this.#opts.wire.close());
    };
  }
}

/**
 * The pinned server's view of the wire: it queues what arrives until the server has started it,
 * replays that (the opening message first), then passes everything through, after offering it
 * to the fast lane when there is one (only then: the lane never answers ahead of the queue).
 * Messages are JSON-RPC on both SDKs; only their TypeScript types differ, hence the casts at this
 * one seam.
 */
class Relay implements LegacyTransport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: LegacyMessage) => void;
  readonly #wire: StdioWire;
  #queue: LegacyMessage[] | undefined;

  readonly #lane: FastLane | undefined;

  constructor(wire: StdioWire, first: LegacyMessage, lane?: FastLane) {
    this.#wire = wire;
    this.#queue = [first];
    this.#lane = lane;
    wire.onmessage = (m) => (this.#queue ? this.#queue.push(m) : this.onmessage?.(m));
    wire.onclose = () => {
      lane?.close();
      this.onclose?.();
    };
    wire.onerror = (e) => this.onerror?.(e);
  }

  async start(): Promise<void> {
    // After start() resolves: the server installs its handlers before awaiting start.
    setImmediate(() => {
      const queued = this.#queue ?? [];
      this.#queue = undefined;
      for (const m of queued) this.onmessage?.(m);
      const lane = this.#lane;
      if (lane) (this.#wire as StdioWire).intercept = (value) => lane.take(value);
    });
  }

  send(message: LegacyMessage | JSONRPCMessage): Promise<void> {
    return this.#wire.send(message as LegacyMessage);
  }

  close(): Promise<void> {
    return this.#wire.close();
  }
}

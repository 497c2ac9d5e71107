/**
 * tools/call on a 2025-era stdio connection, answered without the SDK's request pipeline.
 *
 * Per request, SDK v1 (1.32) runs zod over the message seven times: the transport's
 * JSONRPCMessageSchema union; Protocol's isJSONRPCResultResponse and isJSONRPCErrorResponse (two
 * failing parses, each building its issue list) before isJSONRPCRequest; isTaskAugmentedRequestParams;
 * and the Server's tools/call wrapper, which parses the request with CallToolRequestSchema again
 * and the result with CallToolResultSchema. With the per-request closures and AbortSignal.any
 * that came with it, that was about as much server time as berth's own exec tool. Here a request
 * of the plain shape (below) is checked once by hand, its arguments once by the tool's own
 * schema (the trust boundary), and it goes straight to the catalog's dispatcher; the result is
 * berth's own object, built to the output schema, and is sent as is.
 *
 * Anything else goes on to the SDK, which answers it as it always did: other methods, task-augmented
 * calls, `_meta` beyond a progress token, odd ids, malformed requests (their -32600 / -32602 errors
 * stay the SDK's), and an id already in the lane. What the SDK does per request is kept:
 *   - notifications/cancelled for a request in the lane aborts it and no response is sent;
 *   - the connection closing aborts every request in the lane, unanswered;
 *   - server shutdown aborts the tool's signal, and the (aborted) result is still sent, as with
 *     callSignal on the SDK path;
 *   - progress notifications go out while the request runs, never after a cancel;
 *   - a thrown error becomes a JSON-RPC error with its code, message and data (-32603 by default).
 * https://modelcontextprotocol.io/specification/2025-06-18/basic/utilities/cancellation
 */
import { ErrorCode, type JSONRPCMessage, type RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Lifecycle } from '../deps.js';
import { isRecord } from '../json.js';
import type { ProgressNotification } from '../progress.js';
import type { Dispatch, ToolResult } from './catalog.js';

export interface FastLaneOptions {
  readonly dispatch: Dispatch;
  /** Writes one message to the client (the bounded stdio transport). */
  readonly send: (message: JSONRPCMessage) => Promise<void>;
  readonly lifecycle: Lifecycle;
  readonly onerror?: (err: Error) => void;
}

interface InFlight {
  readonly controller: AbortController;
  /** Cancelled by the client or its connection closed: nothing more is sent for it. */
  cancelled: boolean;
}

/** A tools/call request of the shape the lane serves. */
interface PlainCall {
  readonly id: RequestId;
  readonly name: string;
  readonly args: Record<string, unknown> | undefined;
  readonly progressToken: string | number | undefined;
}

export class FastLane {
  readonly #opts: FastLaneOptions;
  readonly #inflight = new Map<RequestId, InFlight>();
  #closed = false;

  constructor(opts: FastLaneOptions) {
    this.#opts = opts;
    opts.lifecycle.signal.addEventListener('abort', this.#onShutdown, { once: true });
  }

  /** Requests in the lane now (for tests). */
  get size(): number {
    return this.#inflight.size;
  }

  /** Offered every message from the wire before the SDK; true when the lane took it. */
  take(message: unknown): boolean {
    if (this.#closed || !isRecord(message)) return false;
    if (message.method === 'tools/call') {
      const call = plainCall(message);
      if (!call || this.#inflight.has(call.id)) return false;
      void this.#run(call);
      return true;
    }
    if (message.method === 'notifications/cancelled' && isRecord(message.params)) {
      const entry = this.#inflight.get(message.params.requestId as RequestId);
      if (!entry) return false;
      entry.cancelled = true;
      entry.controller.abort(message.params.reason);
      return true;
    }
    return false;
  }

  /** The connection is gone: abort what runs, answer nothing more. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#opts.lifecycle.signal.removeEventListener('abort', this.#onShutdown);
    for (const entry of this.#inflight.values()) {
      entry.cancelled = true;
      entry.controller.abort(new Error('the MCP connection closed'));
    }
    this.#inflight.clear();
  }

  readonly #onShutdown = (): void => {
    const reason: unknown = this.#opts.lifecycle.signal.reason;
    for (const entry of this.#inflight.values()) entry.controller.abort(reason);
  };

  async #run(call: PlainCall): Promise<void> {
    const entry: InFlight = { controller: new AbortController(), cancelled: false };
    this.#inflight.set(call.id, entry);
    // Shutdown may already have begun: runTool answers SHUTTING_DOWN then.
    const notify = (n: ProgressNotification): Promise<void> => (entry.cancelled ? Promise.resolve() : this.#opts.send({ jsonrpc: '2.0', ...n }));
    let reply: JSONRPCMessage;
    try {
      const result: ToolResult = await this.#opts.dispatch(call.name, call.args, {
        signal: entry.controller.signal,
        progressToken: call.progressToken,
        notify,
      });
      reply = { jsonrpc: '2.0', id: call.id, result };
    } catch (err) {
      reply = { jsonrpc: '2.0', id: call.id, error: errorOf(err) };
    } finally {
      if (this.#inflight.get(call.id) === entry) this.#inflight.delete(call.id);
    }
    if (entry.cancelled) return;
    await this.#opts.send(reply).catch((err: unknown) => this.#opts.onerror?.(new Error(`Failed to send response: ${String(err)}`)));
  }
}

/** As the SDK's Protocol answers a handler's error. */
function errorOf(err: unknown): { code: number; message: string; data?: unknown } {
  const e = (err ?? {}) as { code?: unknown; message?: unknown; data?: unknown };
  return {
    code: typeof e.code === 'number' && Number.isSafeInteger(e.code) ? e.code : ErrorCode.InternalError,
    message: typeof e.message === 'string' ? e.message : 'Internal error',
    ...(e.data === undefined ? {} : { data: e.data }),
  };
}

const REQUEST_KEYS = new Set(['jsonrpc', 'id', 'method', 'params']);
const PARAMS_KEYS = new Set(['name', 'arguments', '_meta']);

/**
 * The request when it is exactly what the SDK's schemas accept without question (a strict
 * JSON-RPC request; params with a string name, an object of arguments, at most a progress token in
 * `_meta`), else undefined and the SDK handles it.
 */
function plainCall(m: Record<string, unknown>): PlainCall | undefined {
  if (m.jsonrpc !== '2.0' || !onlyKeys(m, REQUEST_KEYS) || !isId(m.id)) return undefined;
  const params = m.params;
  if (!isRecord(params) || !onlyKeys(params, PARAMS_KEYS) || typeof params.name !== 'string') return undefined;
  const args = params.arguments;
  if (args !== undefined && !isRecord(args)) return undefined;
  const meta = params._meta;
  let progressToken: string | number | undefined;
  if (meta !== undefined) {
    if (!isRecord(meta)) return undefined;
    for (const key in meta) if (key !== 'progressToken') return undefined;
    const token = meta.progressToken;
    if (token !== undefined && !isId(token)) return undefined;
    progressToken = token;
  }
  return { id: m.id, name: params.name, args, progressToken };
}

/** A JSON-RPC id or progress token: a string or a safe integer. */
function isId(v: unknown): v is string | number {
  return typeof v === 'string' || (typeof v === 'number' && Number.isSafeInteger(v));
}

function onlyKeys(o: Record<string, unknown>, allowed: ReadonlySet<string>): boolean {
  for (const key in o) if (!allowed.has(key)) return false;
  return true;
}

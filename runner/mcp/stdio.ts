/**
 * The stdio transport of `berth mcp`, with bounded input. The SDK's StdioServerTransport (1.32)
 * closes itself, and so ends the server, when one line exceeds its 10 MiB buffer, and it answers
 * nothing to a line that is not JSON-RPC (the client's request then hangs). Here:
 *   - a line longer than `maxMessageBytes` is dropped as it streams in (memory stays bounded) and
 *     answered with -32600, carrying the request id when it can be read from the line's start or
 *     end, so the client's pending call fails instead of hanging;
 *   - a line that is not JSON gets -32700, a JSON value that is not JSON-RPC gets -32600;
 *   - the transport stays open for the next line in every case.
 * https://www.jsonrpc.org/specification#error_object
 *
 * `intercept` sees each parsed line before the JSON-RPC schema check: the stdio fast lane
 * (revisions/fast-lane.ts) takes plain tools/call requests there and checks them itself.
 */
import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, JSONRPCMessageSchema, type JSONRPCMessage, type RequestId } from '@modelcontextprotocol/sdk/types.js';
import { MAX_MESSAGE_BYTES } from './limits.js';

/** Bytes kept from each end of an oversized line, to find its id. */
const SNIFF_BYTES = 512;

export interface BoundedStdioOptions {
  readonly stdin?: Readable;
  readonly stdout?: Writable;
  readonly maxMessageBytes?: number;
  /** Told about each refused line (it is also answered on stdout). */
  readonly onRefused?: (reason: string) => void;
}

export class BoundedStdioServerTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  /** Offered each JSON value first; when it returns true the message is taken and onmessage is not called. */
  intercept?: (value: unknown) => boolean;
  readonly #stdin: Readable;
  readonly #stdout: Writable;
  readonly #max: number;
  readonly #onRefused: (reason: string) => void;
  #parts: Buffer[] = [];
  #size = 0;
  /** Set once the current line went over the limit: the rest of it is skipped. */
  #overflow: { head: string; tail: Buffer } | undefined;
  #started = false;

  constructor(opts: BoundedStdioOptions = {}) {
    this.#stdin = opts.stdin ?? process.stdin;
    this.#stdout = opts.stdout ?? process.stdout;
    this.#max = opts.maxMessageBytes ?? MAX_MESSAGE_BYTES;
    this.#onRefused = opts.onRefused ?? (() => undefined);
  }

  async start(): Promise<void> {
    if (this.#started) throw new Error('BoundedStdioServerTransport already started');
    this.#started = true;
    this.#stdin.on('data', this.#onData);
    this.#stdin.on('error', this.#onStreamError);
  }

  async close(): Promise<void> {
    this.#stdin.off('data', this.#onData);
    this.#stdin.off('error', this.#onStreamError);
    if (this.#stdin.listenerCount('data') === 0) this.#stdin.pause();
    this.#parts = [];
    this.#overflow = undefined;
    this.onclose?.();
  }

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve) => {
      if (this.#stdout.write(`${JSON.stringify(message)}\n`)) resolve();
      else this.#stdout.once('drain', resolve);
    });
  }

  readonly #onStreamError = (err: Error): void => this.onerror?.(err);

  readonly #onData = (chunk: Buffer | string): void => {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (let nl = buf.indexOf(0x0a, start); nl !== -1; nl = buf.indexOf(0x0a, start)) {
      this.#append(buf.subarray(start, nl));
      this.#endLine();
      start = nl + 1;
    }
    if (start < buf.length) this.#append(buf.subarray(start));
  };

  #append(part: Buffer): void {
    if (part.length === 0) return;
    if (this.#overflow) {
      this.#overflow.tail = Buffer.concat([this.#overflow.tail, part]).subarray(-SNIFF_BYTES);
      return;
    }
    if (this.#size + part.length <= this.#max) {
      this.#parts.push(part);
      this.#size += part.length;
      return;
    }
    const all = Buffer.concat([...this.#parts, part]);
    this.#overflow = { head: all.subarray(0, SNIFF_BYTES).toString('utf8'), tail: all.subarray(-SNIFF_BYTES) };
    this.#parts = [];
    this.#size = 0;
  }

  #endLine(): void {
    const overflow = this.#overflow;
    const parts = this.#parts;
    const line = overflow ? '' : (parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts)).toString('utf8').replace(/\r$/, '');
    this.#parts = [];
    this.#size = 0;
    this.#overflow = undefined;
    if (overflow) {
      const id = sniffId(overflow.head, overflow.tail.toString('utf8'));
      return this.#refuse(ErrorCode.InvalidRequest, `message over ${this.#max} bytes: send smaller requests (write big files in parts)`, id);
    }
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return this.#refuse(ErrorCode.ParseError, 'parse error: each line on stdin must be one JSON-RPC message', null);
    }
    if (this.intercept?.(value)) return;
    const parsed = JSONRPCMessageSchema.safeParse(value);
    if (!parsed.success) return this.#refuse(ErrorCode.InvalidRequest, 'invalid request: not a JSON-RPC 2.0 message', idOf(value));
    this.onmessage?.(parsed.data);
  }

  #refuse(code: number, message: string, id: RequestId | null): void {
    this.#onRefused(message);
    // A null id is allowed for errors by JSON-RPC (the SDK's schema wants it absent instead).
    const reply = { jsonrpc: '2.0', ...(id === null ? { id: null } : { id }), error: { code, message } } as unknown as JSONRPCMessage;
    void this.send(reply).catch((err: unknown) => this.onerror?.(err instanceof Error ? err : new Error(String(err))));
  }
}

function idOf(value: unknown): RequestId | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const id = (value as { id?: unknown }).id;
  return (typeof id === 'string' && id.length <= 200) || (typeof id === 'number' && Number.isSafeInteger(id)) ? id : null;
}

/**
 * The id of a line too long to parse. The SDK client writes it last (`{...request, jsonrpc, id}`),
 * other clients often first; a nested "id" deeper in the line is never taken.
 */
function sniffId(head: string, tail: string): RequestId | null {
  const value = String.raw`(-?\d{1,15}|"[^"\\]{0,200}")`;
  const atEnd = new RegExp(String.raw`"id"\s*:\s*${value}\s*\}\s*$`).exec(tail);
  const atStart = new RegExp(String.raw`^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*${value}`).exec(head);
  const raw = atEnd?.[1] ?? atStart?.[1];
  return raw === undefined ? null : (JSON.parse(raw) as RequestId);
}

/**
 * MCP progress notifications for long tool calls (session open with setup, image builds, commands,
 * pipeline steps). Sent only when the client asked for them by putting `_meta.progressToken` on
 * the request (https://modelcontextprotocol.io/specification/2025-06-18/basic/utilities/progress).
 *
 * Output arrives in bursts of arbitrary size, so it is coalesced: at most one output notification
 * per OUTPUT_INTERVAL_MS carrying the latest complete lines. Milestones (phase started/ended) are
 * sent at once. Notifications are chained so they leave in order, and flush() lets the tool wait
 * for them before its result goes out (a progress message after the response is meaningless).
 */
import type { PullBytes } from '../../docker/index.js';
import type { Logger } from '../../src/log.js';

const OUTPUT_INTERVAL_MS = 250;
/** A progress message is a status line, not a log: keep it short. */
const MAX_MESSAGE_CHARS = 500;

export interface ProgressNotification {
  method: 'notifications/progress';
  params: { progressToken: string | number; progress: number; total?: number; message?: string };
}

export type SendNotification = (n: ProgressNotification) => Promise<void>;

/** A transfer's state: `done` of `total` units (bytes for image pulls), described by `message`. */
export interface Transfer {
  readonly message: string;
  readonly done: number;
  readonly total: number;
}

export class Progress {
  readonly #token: string | number | undefined;
  readonly #send: SendNotification;
  readonly #logger: Logger;
  /** The last `progress` value sent: the spec wants it to increase with every notification. */
  #last = 0;
  #chain: Promise<void> = Promise.resolve();
  #pending = '';
  #timer: NodeJS.Timeout | undefined;
  /** The latest transfer state not yet sent (only the newest matters). */
  #transfer: Transfer | undefined;
  #transferTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(token: string | number | undefined, send: SendNotification, logger: Logger) {
    this.#token = token;
    this.#send = send;
    this.#logger = logger;
  }

  /** Whether the client asked for progress on this request. */
  get enabled(): boolean {
    return this.#token !== undefined && !this.#closed;
  }

  /** A milestone, sent immediately (after any buffered output). */
  step(message: string): void {
    if (!this.enabled) return;
    this.#flushTransfer();
    this.#flushOutput();
    this.#emit(message);
  }

  /**
   * Byte progress (an image pull): `progress` carries the bytes done and `total` the bytes known,
   * so a client can draw a bar; the message names the layer and its own bytes. Coalesced like
   * output: at most one notification per OUTPUT_INTERVAL_MS, carrying the newest state.
   */
  transfer(t: Transfer): void {
    if (!this.enabled) return;
    this.#transfer = t;
    this.#transferTimer ??= setTimeout(() => {
      this.#transferTimer = undefined;
      this.#flushTransfer();
    }, OUTPUT_INTERVAL_MS);
  }

  /** Command output; only its last lines are forwarded, at a bounded rate. */
  output(text: string): void {
    if (!this.enabled || text === '') return;
    this.#pending = (this.#pending + text).slice(-4 * MAX_MESSAGE_CHARS);
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#flushOutput();
    }, OUTPUT_INTERVAL_MS);
  }

  /** Send what is buffered and wait until every notification has been handed to the transport. */
  async flush(): Promise<void> {
    this.#flushTransfer();
    this.#flushOutput();
    this.#closed = true;
    await this.#chain;
  }

  #flushOutput(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const lines = this.#pending
      .split('\n')
      .map((l) => l.trimEnd())
      .filter((l) => l !== '');
    this.#pending = '';
    if (lines.length) this.#emit(lines.slice(-3).join('\n'));
  }

  #flushTransfer(): void {
    clearTimeout(this.#transferTimer);
    this.#transferTimer = undefined;
    const t = this.#transfer;
    this.#transfer = undefined;
    if (t) this.#emit(t.message, t);
  }

  #emit(message: string, amount?: { done: number; total: number }): void {
    const token = this.#token;
    if (token === undefined || this.#closed) return;
    const text = message.length > MAX_MESSAGE_CHARS ? `…${message.slice(-MAX_MESSAGE_CHARS)}` : message;
    // Milestones count up by one; a transfer jumps to its byte count (never backwards).
    const progress = Math.max(this.#last + 1, amount?.done ?? 0);
    this.#last = progress;
    const total = amount && amount.total >= progress ? { total: amount.total } : {};
    this.#chain = this.#chain
      .then(() => this.#send({ method: 'notifications/progress', params: { progressToken: token, progress, ...total, message: text } }))
      .catch((err: unknown) => this.#logger.debug('could not send a progress notification', { error: String(err) }));
  }
}

const mb = (n: number) => (n / 1e6).toFixed(1);

/** An image pull's byte state as a transfer: the layer's own bytes in the message, all layers' in the numbers. */
export function pullTransfer(b: PullBytes): Transfer {
  const layer = b.layerTotalBytes ? ` ${mb(b.layerCurrentBytes ?? 0)}/${mb(b.layerTotalBytes)} MB` : '';
  return {
    message: `pull ${b.ref}: layer ${b.layer} ${b.status}${layer} (all layers ${mb(b.downloadedBytes)}/${mb(b.totalBytes)} MB)`,
    done: b.downloadedBytes,
    total: b.totalBytes,
  };
}

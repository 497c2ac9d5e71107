/**
 * Byte-level plumbing for command output: a bounded head+tail collector per stream, and the
 * scanner that finds the shell protocol's nonce-framed records in a byte stream split at
 * arbitrary chunk boundaries.
 */
import { StringDecoder } from 'node:string_decoder';

export type StreamName = 'stdout' | 'stderr';

export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;

const EMPTY = Buffer.alloc(0);

/**
 * Keeps the first half and the last half of `maxBytes` of a stream and counts the rest, so memory
 * stays bounded (about maxBytes plus one chunk) however much a command prints.
 */
export class OutputCollector {
  readonly maxBytes: number;
  #head: Buffer[] = [];
  #headLen = 0;
  #tail: Buffer[] = [];
  #tailLen = 0;
  #total = 0;
  /** Only for live text (onText): two per command otherwise went unused. */
  readonly #decoder: StringDecoder | undefined;
  readonly #onText: ((text: string) => void) | undefined;

  constructor(maxBytes: number, onText?: (text: string) => void) {
    this.maxBytes = Math.max(0, Math.floor(maxBytes));
    this.#onText = onText;
    this.#decoder = onText ? new StringDecoder('utf8') : undefined;
  }

  get totalBytes(): number {
    return this.#total;
  }

  get truncated(): boolean {
    return this.#total > this.maxBytes;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#total += chunk.length;
    if (this.#onText && this.#decoder) {
      const text = this.#decoder.write(chunk);
      if (text) this.#onText(text);
    }
    const headCap = Math.ceil(this.maxBytes / 2);
    let rest = chunk;
    if (this.#headLen < headCap) {
      const take = Math.min(headCap - this.#headLen, rest.length);
      // Copy: the chunk may be a view into a larger pooled buffer we must not pin.
      this.#head.push(Buffer.from(rest.subarray(0, take)));
      this.#headLen += take;
      rest = rest.subarray(take);
    }
    if (rest.length === 0) return;
    const tailCap = this.maxBytes - headCap;
    if (tailCap <= 0) return;
    if (rest.length >= tailCap) {
      this.#tail = [Buffer.from(rest.subarray(rest.length - tailCap))];
      this.#tailLen = tailCap;
      return;
    }
    this.#tail.push(Buffer.from(rest));
    this.#tailLen += rest.length;
    while (this.#tailLen > tailCap) {
      const first = this.#tail[0]!;
      const over = this.#tailLen - tailCap;
      if (first.length <= over) {
        this.#tail.shift();
        this.#tailLen -= first.length;
      } else {
        this.#tail[0] = first.subarray(over);
        this.#tailLen -= over;
      }
    }
  }

  /** Flush the live decoder (a dangling partial character is emitted as U+FFFD). */
  endLive(): void {
    if (!this.#onText || !this.#decoder) return;
    const text = this.#decoder.end();
    if (text) this.#onText(text);
  }

  /**
   * The kept text: everything when it fit, else head + a marker naming the omitted byte count +
   * tail. Cut points never split a UTF-8 character.
   */
  text(): string {
    if (!this.truncated && this.#tail.length === 0 && this.#head.length <= 1) {
      // The common case (one small chunk or none): no concatenation.
      return this.#head.length ? this.#head[0]!.toString('utf8') : '';
    }
    const head = Buffer.concat(this.#head, this.#headLen);
    if (!this.truncated) {
      return Buffer.concat([head, ...this.#tail]).toString('utf8');
    }
    const tail = Buffer.concat(this.#tail, this.#tailLen);
    const headText = decodePrefix(head);
    const tailText = decodeSuffix(tail);
    const omitted = this.#total - head.length - tail.length;
    return `${headText}\n[... berth: ${omitted} bytes omitted (output over ${this.maxBytes} bytes); redirect to a file to keep it all ...]\n${tailText}`;
  }
}

/** Decode dropping an incomplete trailing UTF-8 sequence (the cut went through a character). */
function decodePrefix(b: Buffer): string {
  let end = b.length;
  // Walk back over at most 3 continuation bytes to the lead byte; drop it if its sequence is short.
  let i = end - 1;
  let cont = 0;
  while (i >= 0 && cont < 3 && (b[i]! & 0xc0) === 0x80) {
    i--;
    cont++;
  }
  if (i >= 0) {
    const lead = b[i]!;
    const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    if (need > 1 && cont + 1 < need) end = i;
  }
  return b.subarray(0, end).toString('utf8');
}

/** Decode skipping leading continuation bytes (the cut went through a character). */
function decodeSuffix(b: Buffer): string {
  let start = 0;
  while (start < b.length && start < 3 && (b[start]! & 0xc0) === 0x80) start++;
  return b.subarray(start).toString('utf8');
}

/**
 * Finds records framed as TOKEN <body> TOKEN in a byte stream, where TOKEN contains a fresh random
 * nonce, so command output can never forge one. Bytes outside records are payload. The scanner
 * holds back only the few bytes that could be the start of a split TOKEN.
 */
export class RecordScanner {
  readonly #token: Buffer;
  #carry: Buffer = EMPTY;
  #inRecord = false;
  #record: Buffer[] = [];
  #recordLen = 0;
  static readonly MAX_RECORD = 64 * 1024;

  /** `token` as bytes may be shared by several scanners (it is never written to). */
  constructor(token: string | Buffer) {
    this.#token = typeof token === 'string' ? Buffer.from(token, 'latin1') : token;
  }

  /**
   * Feed bytes; `onPayload` gets bytes outside records (in order), `onRecord` each record body.
   * Returning false from onRecord stops scanning: the remaining bytes are returned unconsumed.
   */
  push(chunk: Buffer, onPayload: (b: Buffer) => void, onRecord: (body: string) => boolean): Buffer | undefined {
    const buf = this.#carry.length ? Buffer.concat([this.#carry, chunk]) : chunk;
    this.#carry = EMPTY;
    const t = this.#token;
    // Offsets instead of a subarray per step: a view is made only for what is handed out.
    let pos = 0;
    for (;;) {
      const at = buf.indexOf(t, pos);
      if (at === -1) {
        // Keep a possible partial token at the end for the next chunk.
        const keep = partialSuffix(buf, pos, t);
        const end = buf.length - keep;
        if (end > pos) {
          if (this.#inRecord) this.#appendRecord(buf.subarray(pos, end));
          else onPayload(buf.subarray(pos, end));
        }
        this.#carry = keep ? Buffer.from(buf.subarray(end)) : EMPTY;
        return undefined;
      }
      const next = at + t.length;
      if (!this.#inRecord) {
        if (at > pos) onPayload(buf.subarray(pos, at));
        this.#inRecord = true;
        if (this.#record.length) this.#record = [];
        this.#recordLen = 0;
      } else {
        this.#inRecord = false;
        // A record within one chunk (the usual case) is decoded in place: no copies.
        let body: string;
        if (this.#recordLen === 0) body = buf.toString('utf8', pos, at);
        else {
          this.#appendRecord(buf.subarray(pos, at));
          body = Buffer.concat(this.#record).toString('utf8');
          this.#record = [];
        }
        this.#recordLen = 0;
        if (!onRecord(body)) return next < buf.length ? Buffer.from(buf.subarray(next)) : undefined;
      }
      pos = next;
    }
  }

  /** End of stream: bytes held back as a possible partial token are payload after all. */
  flush(onPayload: (b: Buffer) => void): void {
    if (this.#carry.length && !this.#inRecord) onPayload(this.#carry);
    this.#carry = EMPTY;
  }

  #appendRecord(b: Buffer): void {
    if (!b.length) return;
    // Records are written by berth's own shell code and are small; a runaway one is clipped.
    if (this.#recordLen >= RecordScanner.MAX_RECORD) return;
    this.#record.push(Buffer.from(b));
    this.#recordLen += b.length;
  }
}

/** Length of the longest suffix of `buf` (from offset `from`) that is a proper prefix of `token`. */
function partialSuffix(buf: Buffer, from: number, token: Buffer): number {
  const max = Math.min(buf.length - from, token.length - 1);
  const first = token[0];
  for (let n = max; n > 0; n--) {
    // Most candidates fail on their first byte; compare() is a native call each.
    if (buf[buf.length - n] === first && buf.compare(token, 0, n, buf.length - n, buf.length) === 0) return n;
  }
  return 0;
}

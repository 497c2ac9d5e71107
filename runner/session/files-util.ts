/**
 * Small helpers of the workspace file tools, local (files.ts) and remote (files-remote.ts): input
 * parsing, errors, bounded line reading and the shape of a read's result.
 */
import type { Stats } from 'node:fs';
import type { z } from 'zod';
import { BerthError } from '../../src/errors.js';
import { quote } from './files-resolve.js';
import type { FileType, ReadResult } from './files-types.js';

export function typeOf(st: Stats): FileType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return 'other';
}

export function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value ?? {});
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ');
    throw new BerthError('BAD_INPUT', `invalid ${what}: ${issues}. Fix the arguments and retry.`, { cause: r.error });
  }
  return r.data;
}

export function checkAbort(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new BerthError('ABORTED', `${what} was aborted before it finished.`, { cause: signal.reason });
}

/** Display form of an agent path for results: normalised, relative to the root. */
export function displayOf(parts: readonly string[]): string {
  return parts.length === 0 ? '.' : parts.join('/');
}

export function tooLarge(display: string, size: number, limit: number, remedy: string): BerthError {
  return new BerthError('FILE_TOO_LARGE', `${quote(display)} is ${size} bytes; the limit is ${limit} bytes. ${remedy}`, {
    details: { size, limit },
  });
}

/** The bytes a write stores: a string as UTF-8, bytes as they are; refused past `maxFileBytes`. */
export function writeBytes(p: string, content: unknown, maxFileBytes: number): Buffer {
  if (typeof content !== 'string' && !(content instanceof Uint8Array)) {
    throw new BerthError('BAD_INPUT', `write ${quote(String(p))}: content must be a string or bytes, got ${typeof content}.`);
  }
  const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : Buffer.from(content.buffer, content.byteOffset, content.byteLength);
  if (data.length > maxFileBytes) throw tooLarge(p, data.length, maxFileBytes, 'Write smaller files.');
  return data;
}

/** A read of the whole file (`ranged` false, capped) or of the lines from `start`. */
export interface ReadRange {
  readonly start: number;
  readonly ranged: boolean;
}

/**
 * The result of a read once its bytes are in `lines`: binary (a NUL), refused as too large (a
 * whole-file read past the cap), or the lines asked for. `size` is the file's size when the
 * reader knows it better than the bytes it read (a remote read stops early but stats the file).
 */
export function readResult(lines: LineCollector, p: string, range: ReadRange, maxFileBytes: number, size?: number): ReadResult {
  const res = lines.finish();
  const known = size !== undefined && Number.isFinite(size) ? size : res.size;
  if (lines.sawNul) return { content: '', totalLines: 0, startLine: 0, endLine: 0, size: known, binary: true };
  if (!range.ranged && res.truncated) throw tooLarge(p, known, maxFileBytes, 'Read it in parts with startLine/endLine.');
  if (range.start > Math.max(res.totalLines, 1)) {
    throw new BerthError(
      'BAD_INPUT',
      `read ${quote(p)}: startLine ${range.start} is past the end of the file (${res.totalLines} lines). Use a startLine between 1 and ${res.totalLines}.`,
      { details: { totalLines: res.totalLines } },
    );
  }
  return {
    content: res.content,
    totalLines: res.totalLines,
    startLine: range.start,
    endLine: res.endLine,
    size: known,
    ...(res.truncated ? { truncated: true as const } : {}),
  };
}

/**
 * Collects an inclusive line range from a byte stream, bounded to `cap` bytes, and counts lines.
 * Works on bytes: '\n' (0x0A) never occurs inside a UTF-8 multi-byte sequence, so splitting there
 * is safe, and CRLF stays in the content untouched.
 */
export class LineCollector {
  private line = 1;
  private parts: Buffer[] = [];
  private bytes = 0;
  private committedBytes = 0;
  private committedLine = 0;
  full = false;
  private lastByte = -1;
  private size = 0;
  sawNul = false;

  constructor(
    private readonly start: number,
    private readonly end: number,
    private readonly cap: number,
  ) {}

  feed(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (!this.sawNul && chunk.indexOf(0) !== -1) this.sawNul = true;
    this.size += chunk.length;
    this.lastByte = chunk[chunk.length - 1] as number;
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(0x0a, pos);
      const stop = nl === -1 ? chunk.length : nl + 1;
      if (!this.full && this.line >= this.start && this.line <= this.end) this.take(chunk.subarray(pos, stop), nl !== -1);
      if (nl === -1) break;
      pos = stop;
      this.line++;
    }
  }

  private take(seg: Buffer, endsLine: boolean): void {
    if (this.bytes + seg.length > this.cap) {
      // Keep the partial line only when nothing whole fits (a single giant line).
      if (this.committedLine === 0) this.parts.push(Buffer.from(seg.subarray(0, this.cap - this.bytes)));
      this.full = true;
      return;
    }
    // Copy: the read buffer is reused for the next chunk.
    this.parts.push(Buffer.from(seg));
    this.bytes += seg.length;
    if (endsLine) {
      this.committedBytes = this.bytes;
      this.committedLine = this.line;
    }
  }

  finish(): { content: string; totalLines: number; endLine: number; truncated: boolean; size: number } {
    const totalLines = this.size === 0 ? 0 : this.lastByte === 0x0a ? this.line - 1 : this.line;
    let buf: Buffer = Buffer.concat(this.parts);
    let endLine = Math.min(this.end, totalLines);
    if (this.full) {
      if (this.committedLine > 0) {
        buf = buf.subarray(0, this.committedBytes);
        endLine = this.committedLine;
      } else {
        endLine = this.start;
        buf = trimUtf8(buf);
      }
    }
    return { content: buf.toString('utf8'), totalLines, endLine, truncated: this.full, size: this.size };
  }
}

/** Drop a trailing incomplete UTF-8 sequence so a byte cut doesn't end in U+FFFD. */
export function trimUtf8(buf: Buffer): Buffer {
  let i = buf.length - 1;
  let back = 0;
  while (i >= 0 && back < 4 && ((buf[i] as number) & 0xc0) === 0x80) {
    i--;
    back++;
  }
  if (i < 0) return buf;
  const lead = buf[i] as number;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return need > back + 1 ? buf.subarray(0, i) : buf;
}

export const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

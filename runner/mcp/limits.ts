/**
 * Input bounds of `berth mcp`, one place for both transports. A message carries at most one
 * file_write (content up to 10 MiB, the file tools' cap) plus JSON escaping, so 24 MiB admits
 * every valid call while keeping a hostile client from making the server buffer without end.
 */
import { DEFAULT_MAX_FILE_BYTES } from '../session/index.js';

export const MAX_MESSAGE_BYTES = 24 * 1024 * 1024;

/** file_write content and file_edit search/replace: the file tools' own cap (runner/session/files.ts). */
export const MAX_CONTENT_BYTES = DEFAULT_MAX_FILE_BYTES;

/** Refinement for text arguments that become file content: at most MAX_CONTENT_BYTES of UTF-8. */
export function withinContentBytes(text: string): boolean {
  return Buffer.byteLength(text) <= MAX_CONTENT_BYTES;
}

export const CONTENT_TOO_LARGE = `longer than ${MAX_CONTENT_BYTES} bytes: write the file in parts (file_write a first part, then exec "cat >> file" or file_edit)`;

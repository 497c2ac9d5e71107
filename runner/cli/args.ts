/** Commander argument parsers shared by the commands: a bad value is a usage error quoting it. */
import { InvalidArgumentError } from 'commander';
import { parseDuration } from '../../src/workspace/index.js';

/** A duration such as 30s, 10m, 12h or 7d, in milliseconds. */
export function durationArg(value: string): number {
  try {
    return parseDuration(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** A whole number of at least 1. */
export function positiveIntArg(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${JSON.stringify(value)} is not a positive whole number`);
  return n;
}

/** A byte size: a whole number, optionally with a binary unit (k, m, g, t; `500m`, `8g`, `64KiB`). */
export function bytesArg(value: string): number {
  const m = /^(\d+)([kmgt]?)i?b?$/i.exec(value.trim());
  const unit = (m?.[2] ?? '').toLowerCase() as '' | 'k' | 'm' | 'g' | 't';
  const n = m ? Number(m[1]) * { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[unit] : NaN;
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${JSON.stringify(value)} is not a size (e.g. 65536, 500m, 8g)`);
  return n;
}

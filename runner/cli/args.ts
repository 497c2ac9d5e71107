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

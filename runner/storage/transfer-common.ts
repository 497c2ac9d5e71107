/** Shared by export.ts and import.ts: deadlines, scratch directories. */
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BerthError, isBerthError } from '../../src/errors.js';

export function withTimeout(signal: AbortSignal | undefined, timeoutMs: number | undefined): AbortSignal | undefined {
  if (timeoutMs === undefined) return signal;
  const t = AbortSignal.timeout(timeoutMs);
  return signal ? AbortSignal.any([signal, t]) : t;
}

/** A TIMEOUT (not ABORTED) when our own deadline fired rather than the caller's signal. */
export function deadlineError(
  err: unknown,
  caller: AbortSignal | undefined,
  combined: AbortSignal | undefined,
  what: string,
  timeoutMs: number | undefined,
): unknown {
  if (combined?.aborted && !caller?.aborted && timeoutMs !== undefined) {
    return new BerthError('TIMEOUT', `${what} did not finish within ${timeoutMs} ms: retry, or raise the timeout for large workspaces`, { cause: err });
  }
  return err;
}

export async function makeTemp(parent: string | undefined, label: string): Promise<string> {
  const base = parent ?? tmpdir();
  await mkdir(base, { recursive: true });
  return mkdtemp(join(base, `berth-${label}-`));
}

export function isOwnError(err: unknown): boolean {
  return isBerthError(err);
}

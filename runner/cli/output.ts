/**
 * Shared CLI plumbing: JSON vs human output and the mapping from errors to exit codes.
 * Exit codes (documented in the README):
 *   0 success · 1 berth error (bad input, not found, git failure) · 2 usage error ·
 *   3 environment error (Docker unavailable, image missing) · exec/pipeline commands pass the
 *   command's own exit code through and use 125 for berth's own failures.
 */
import { asBerthError, type ErrorKind } from '../../src/errors.js';

export const EXIT = { ok: 0, error: 1, usage: 2, environment: 3, passthroughError: 125 } as const;

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Non-fatal notes of a command, one `warning: ...` line each on stderr. */
export function printWarnings(warnings: readonly string[]): void {
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
}

const EXIT_BY_KIND: Record<ErrorKind, number> = {
  input: EXIT.error,
  not_found: EXIT.error,
  conflict: EXIT.error,
  failed: EXIT.error,
  cancelled: EXIT.error,
  internal: EXIT.error,
  environment: EXIT.environment,
};

export function exitCodeFor(err: unknown): number {
  return EXIT_BY_KIND[asBerthError(err).kind];
}

/** Print an error the way every command does: `berth: <message>` (or JSON with --json). */
export function reportError(err: unknown, json: boolean): void {
  const e = asBerthError(err);
  if (json) process.stdout.write(`${JSON.stringify({ error: e.toJSON() })}\n`);
  else process.stderr.write(`berth: ${e.message}\n`);
}

/**
 * Wrap a command action: run it, map failures to an exit code. The action returns the exit code
 * (default 0) so commands like `exec` can pass a child's code through.
 */
export function action<A extends unknown[]>(
  fn: (...args: A) => Promise<number | void>,
  opts: { passthrough?: boolean } = {},
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const last = args[args.length - 1] as { opts?: () => Record<string, unknown> } | undefined;
    const cmdOpts = (typeof last?.opts === 'function' ? last.opts() : (args[args.length - 2] as Record<string, unknown> | undefined)) ?? {};
    try {
      const code = await fn(...args);
      process.exitCode = code ?? 0;
    } catch (err) {
      reportError(err, Boolean(cmdOpts.json));
      process.exitCode = opts.passthrough ? EXIT.passthroughError : exitCodeFor(err);
    }
  };
}

/**
 * Shared CLI plumbing: JSON vs human output and the mapping from errors to exit codes.
 * Exit codes (documented in the README):
 *   0 success · 1 berth error (bad input, not found, git failure) · 2 usage error ·
 *   3 environment error (Docker unavailable, image missing) · exec/pipeline commands pass the
 *   command's own exit code through and use 125 for berth's own failures.
 */
import { asBerthError, type ErrorKind } from '../../src/errors.js';

export const EXIT = { ok: 0, error: 1, usage: 2, environment: 3, passthroughError: 125 } as const;

/**
 * Characters that make a terminal do something instead of showing something: C0 controls (ESC
 * starts OSC 52 clipboard writes, screen clears, title changes), DEL, C1 controls (0x9b is a
 * one-byte CSI on some terminals), and the bidi/line-separator marks that reorder or hide text
 * (Trojan Source, https://trojansource.codes). Tab and newline are kept only in multi-line text.
 */
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_SINGLE_LINE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function visible(ch: string): string {
  const code = ch.charCodeAt(0);
  if (ch === '\n') return '\\n';
  if (ch === '\t') return '\\t';
  if (ch === '\r') return '\\r';
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * THE escaping function for agent-controlled text (commit messages, command lines, file names,
 * diffs, error messages quoting them) on its way to a person's terminal: control and bidi
 * characters become visible escapes such as `\x1b` or `\u202e`. `multiline` keeps newlines and
 * tabs (diffs, logs); otherwise they are escaped too, so one value cannot fake extra lines.
 * `--json` output never goes through here: it stays byte-exact.
 */
export function safeText(text: string, opts: { multiline?: boolean } = {}): string {
  return text.replace(opts.multiline ? UNSAFE : UNSAFE_SINGLE_LINE, visible);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Non-fatal notes of a command, one `warning: ...` line each on stderr. */
export function printWarnings(warnings: readonly string[]): void {
  for (const w of warnings) process.stderr.write(`warning: ${safeText(w, { multiline: true })}\n`);
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
  else process.stderr.write(`berth: ${safeText(e.message, { multiline: true })}\n`);
}

/**
 * Wrap a command action: run it, map failures to an exit code. The action returns the exit code
 * (default 0) so commands like `exec` can pass a child's code through.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>, opts: { passthrough?: boolean } = {}): (...args: A) => Promise<void> {
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

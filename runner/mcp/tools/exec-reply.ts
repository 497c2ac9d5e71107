/**
 * How a command's outcome reads, for `exec` and the long-command tools (`exec_wait`, `exec_kill`):
 * one text rendering and one structured shape, whether the command finished in the first call or
 * through a handle.
 */
import { z } from 'zod';
import { DEFAULT_YIELD_MS, MAX_YIELD_MS, outputFrom, type Job } from '../jobs.js';
import type { ExecResult } from '../../session/index.js';

/**
 * Per-stream output kept in a result (head and tail; the middle is dropped). Smaller than the
 * runner's 1 MiB default: the result lands in a model's context.
 */
export const MAX_OUTPUT_BYTES = 100_000;
/** Output returned with a `running` answer (the newest part). */
export const RUNNING_OUTPUT_CHARS = 20_000;

export const yieldMsArg = z
  .number()
  .int()
  .min(0)
  .max(MAX_YIELD_MS)
  .optional()
  .describe(
    `How long to wait for the command before answering (ms, default ${DEFAULT_YIELD_MS}, at most ${MAX_YIELD_MS}). If it is still running then, ` +
      'the answer has running: true and a handle: continue with exec_wait (or exec_output to read output, exec_kill to stop it).',
  );

export const execOutputShape = {
  mode: z.enum(['shell', 'fresh', 'background']),
  running: z.boolean().optional(),
  handle: z.string().optional(),
  output: z.string().optional(),
  nextOffset: z.number().optional(),
  lines: z.number().optional(),
  exitCode: z.number().nullable().optional(),
  stdout: z.string().optional(),
  stderr: z.string().optional(),
  durationMs: z.number().optional(),
  timedOut: z.boolean().optional(),
  aborted: z.boolean().optional(),
  truncated: z.boolean().optional(),
  cwd: z.string().nullable().optional(),
  shell: z.string().nullable().optional(),
  shellEnded: z.boolean().optional(),
  shellRestarted: z.boolean().optional(),
  oomKilled: z.boolean().optional(),
  notice: z.string().optional(),
};

type ExecStructured = { mode: 'shell' | 'fresh' } & Partial<Record<string, unknown>>;

export function finishedReply(
  res: ExecResult,
  mode: 'shell' | 'fresh',
  timeoutSeconds?: number,
  handle?: string,
): { text: string; structured: ExecStructured } {
  return {
    text: render(res, timeoutSeconds),
    structured: {
      mode,
      running: false,
      ...(handle ? { handle } : {}),
      exitCode: res.exitCode,
      stdout: res.stdout,
      stderr: res.stderr,
      durationMs: res.durationMs,
      timedOut: res.timedOut,
      aborted: res.aborted,
      truncated: res.truncated,
      cwd: res.cwd,
      shell: res.shell,
      shellEnded: res.shellEnded,
      shellRestarted: res.shellRestarted,
      oomKilled: res.oomKilled,
      ...(res.notice ? { notice: res.notice } : {}),
    },
  };
}

/** The answer for a command still running: its handle and the newest output since `offset`. */
export function runningReply(job: Job, offset?: number): { text: string; structured: ExecStructured } {
  const from = offset ?? Math.max(0, job.dropped + job.output.length - RUNNING_OUTPUT_CHARS);
  const out = outputFrom(job, from, RUNNING_OUTPUT_CHARS);
  const secs = ((Date.now() - job.startedAt) / 1000).toFixed(1);
  const text = [
    out.text ? out.text.replace(/\n$/, '') : '(no output yet)',
    `[still running after ${secs}s · ${job.lines} lines of output · handle ${job.handle}]`,
    `Continue with exec_wait (handle "${job.handle}"); exec_output reads output from offset ${out.nextOffset}; exec_kill stops it.`,
  ].join('\n');
  return { text, structured: { mode: job.mode, running: true, handle: job.handle, output: out.text, nextOffset: out.nextOffset, lines: job.lines } };
}

function render(r: ExecResult, timeoutSeconds: number | undefined): string {
  const out: string[] = [];
  if (r.stdout) out.push(r.stdout.replace(/\n$/, ''));
  if (r.stderr) out.push(`[stderr]\n${r.stderr.replace(/\n$/, '')}`);
  if (!r.stdout && !r.stderr) out.push('(no output)');
  const status = r.exitCode === null ? 'no exit code' : `exit ${r.exitCode}`;
  out.push(`[${status} · ${(r.durationMs / 1000).toFixed(1)}s${r.cwd ? ` · cwd ${r.cwd}` : ''}]`);
  if (r.timedOut) {
    out.push(
      `The command hit the ${timeoutSeconds === undefined ? 'default ' : ''}timeout and was killed. For servers or watchers use background: true; for slow builds pass a larger timeoutSeconds.`,
    );
  }
  if (r.aborted) out.push('The command was cancelled and killed.');
  if (r.oomKilled) out.push('The container ran out of memory during this command (a process was OOM-killed).');
  if (r.notice) out.push(`Note: ${r.notice}`);
  if (r.shellEnded) out.push('The shell ended during this command; the next exec starts a new one with the saved cwd and environment.');
  if (r.shellRestarted) out.push('Note: this ran in a new shell (the previous one had ended); cwd and environment were restored.');
  if (r.truncated) {
    out.push(`Output was longer than ${MAX_OUTPUT_BYTES} bytes per stream; the middle was dropped. Redirect it to a file and read parts with file_read.`);
  }
  return out.join('\n');
}

/** The answer for a job: its result once finished (the handle stays readable), else `running`. */
export function jobReply(job: Job, offset?: number): { text: string; structured: ExecStructured } {
  if (job.error !== undefined) throw job.error;
  return job.result ? finishedReply(job.result, job.mode, job.timeoutSeconds, job.handle) : runningReply(job, offset);
}

export const handleArg = z
  .string()
  .regex(/^cmd_[0-9a-f]{32}$/, 'a handle from exec (cmd_ followed by 32 hex digits)')
  .describe('The handle exec returned with running: true.');

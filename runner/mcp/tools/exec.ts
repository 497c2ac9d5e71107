import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { MAX_COMMAND_BYTES } from '../../../pipelines/plan.js';
import { BerthError } from '../../../src/errors.js';
import { PROCESS_NAME_PATTERN } from '../../session/processes.js';
import { SHELL_NAME_PATTERN } from '../../session/shell.js';
import type { ExecResult } from '../../session/types.js';
import { defineTool } from '../tool.js';
import { MAX_SECONDS, processLine, processOut, processShape } from './shared.js';

/**
 * Per-stream output kept in a result (head and tail; the middle is dropped). Smaller than the
 * runner's 1 MiB default: the result lands in a model's context.
 */
const MAX_OUTPUT_BYTES = 100_000;

export const exec = defineTool({
  name: 'exec',
  title: 'Run a command',
  description:
    "Run a shell command in the workspace's container. Commands run in a persistent shell: `cd` and `export` carry over " +
    'to the next exec on the same shell (default shell "main"; pass another shell name to keep a second, independent one). ' +
    'The worktree is the container workdir (usually /workspace). A non-zero exit code is a normal result (see exitCode), ' +
    'not a tool error. Use background: true for servers and watchers (then manage them with process_list/process_log/' +
    'process_kill), and fresh: true for a one-off command in a clean environment. There is no network unless berth.yaml allows it.',
  scope: 'workspace',
  input: {
    command: z
      .string()
      .min(1)
      .refine((c) => Buffer.byteLength(c) <= MAX_COMMAND_BYTES, `the command is longer than ${MAX_COMMAND_BYTES} bytes: put it in a script file first`)
      .describe('Shell command line, e.g. "npm test" or "cd src && ls -la". Runs in bash when the image has it, else sh.'),
    shell: z
      .string()
      .regex(SHELL_NAME_PATTERN, 'letters, digits, ".", "_" or "-", starting with a letter or digit')
      .optional()
      .describe('Name of the persistent shell to use (default "main"). Each shell keeps its own cwd and environment.'),
    timeoutSeconds: z
      .number()
      .positive()
      .max(MAX_SECONDS)
      .optional()
      .describe('Kill the command after this many seconds (default 600). Ignored for background processes.'),
    background: z
      .boolean()
      .optional()
      .describe('Start the command as a named background process and return at once (for servers, watchers, long jobs).'),
    name: z
      .string()
      .regex(PROCESS_NAME_PATTERN, 'letters, digits, ".", "_" or "-", starting with a letter or digit')
      .optional()
      .describe('background only: the process name for process_log/process_kill (default: generated from the command).'),
    fresh: z
      .boolean()
      .optional()
      .describe('Run in a new one-shot shell instead of the persistent one: no cwd/env carried over in either direction.'),
    cwd: z
      .string()
      .min(1)
      .max(4096)
      .optional()
      .describe('background or fresh only: working directory (default: the workdir). For the persistent shell, use cd in the command.'),
  },
  output: {
    mode: z.enum(['shell', 'fresh', 'background']),
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
    process: processShape.optional(),
  },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },

  async run(args, call) {
    if (args.background && args.fresh) {
      throw new BerthError('BAD_INPUT', 'background and fresh cannot be combined: a background process always runs in its own shell; drop fresh');
    }
    if (args.cwd !== undefined && !args.background && !args.fresh) {
      throw new BerthError('BAD_INPUT', `cwd ${JSON.stringify(args.cwd)} only applies with background or fresh: for the persistent shell, start the command with "cd <dir> && "`);
    }
    if (args.name !== undefined && !args.background) {
      throw new BerthError('BAD_INPUT', `name ${JSON.stringify(args.name)} only applies with background: true`);
    }
    const session = await call.session();

    if (args.background) {
      const name = args.name ?? processName(args.command);
      const info = await session.startProcess(name, args.command, { ...(args.cwd === undefined ? {} : { cwd: args.cwd }), replace: true });
      return {
        text: `Started background process ${processLine(info)}\nRead its output with process_log (name "${name}"); stop it with process_kill.`,
        structured: { mode: 'background' as const, process: processOut(info) },
      };
    }

    const res = await session.exec(args.command, {
      ...(args.shell === undefined ? {} : { shell: args.shell }),
      ...(args.timeoutSeconds === undefined ? {} : { timeoutMs: Math.ceil(args.timeoutSeconds * 1000) }),
      ...(args.fresh ? { fresh: true } : {}),
      ...(args.cwd === undefined ? {} : { cwd: args.cwd }),
      signal: call.signal,
      maxOutputBytes: MAX_OUTPUT_BYTES,
      onOutput: (_stream, chunk) => call.progress.output(chunk),
    });
    return {
      text: render(res, args.timeoutSeconds),
      structured: {
        mode: args.fresh ? ('fresh' as const) : ('shell' as const),
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
      },
    };
  },
});

/** `npm run dev` → "npm-3fa2": readable in process_list, unique enough not to replace another. */
function processName(command: string): string {
  const word = (command.trim().split(/\s+/)[0] ?? '').split('/').pop() ?? '';
  const base = word.replace(/[^A-Za-z0-9._-]/g, '').replace(/^[^A-Za-z0-9]+/, '').slice(0, 40) || 'proc';
  return `${base}-${randomBytes(2).toString('hex')}`;
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

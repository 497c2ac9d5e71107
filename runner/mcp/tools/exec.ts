import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { MAX_COMMAND_BYTES } from '../../../pipelines/index.js';
import { BerthError } from '../../../src/errors.js';
import { PROCESS_NAME_PATTERN } from '../../session/index.js';
import { SHELL_NAME_PATTERN } from '../../session/index.js';
import { DEFAULT_YIELD_MS, jobsFor } from '../jobs.js';
import { defineTool, type ToolCall } from '../tool.js';
import { execOutputShape, finishedReply, jobReply, MAX_OUTPUT_BYTES, yieldMsArg } from './exec-reply.js';
import { MAX_SECONDS, processLine, processOut, processShape } from './shared.js';

export const exec = defineTool({
  name: 'exec',
  title: 'Run a command',
  description:
    "Run a shell command in the workspace's container. Commands run in a persistent shell: `cd` and `export` carry over " +
    'to the next exec on the same shell (default shell "main"; pass another shell name to keep a second, independent one). ' +
    'The worktree is the container workdir (usually /workspace). A non-zero exit code is a normal result (see exitCode), ' +
    'not a tool error. Use background: true for servers and watchers (then manage them with process_list/process_log/' +
    'process_kill), and fresh: true for a one-off command in a clean environment. A command still running after yieldMs (default 30 s) ' +
    'answers running: true with a handle: continue with exec_wait until it finishes. There is no network unless berth.yaml allows it.',
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
    background: z.boolean().optional().describe('Start the command as a named background process and return at once (for servers, watchers, long jobs).'),
    name: z
      .string()
      .regex(PROCESS_NAME_PATTERN, 'letters, digits, ".", "_" or "-", starting with a letter or digit')
      .optional()
      .describe('background only: the process name for process_log/process_kill (default: generated from the command).'),
    fresh: z.boolean().optional().describe('Run in a new one-shot shell instead of the persistent one: no cwd/env carried over in either direction.'),
    cwd: z
      .string()
      .min(1)
      .max(4096)
      .optional()
      .describe('background or fresh only: working directory (default: the workdir). For the persistent shell, use cd in the command.'),
    yieldMs: yieldMsArg,
  },
  output: { ...execOutputShape, process: processShape.optional() },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },

  async run(args, call) {
    if (args.background && args.fresh) {
      throw new BerthError('BAD_INPUT', 'background and fresh cannot be combined: a background process always runs in its own shell; drop fresh');
    }
    if (args.cwd !== undefined && !args.background && !args.fresh) {
      throw new BerthError(
        'BAD_INPUT',
        `cwd ${JSON.stringify(args.cwd)} only applies with background or fresh: for the persistent shell, start the command with "cd <dir> && "`,
      );
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

    return runInJob(args, call, session);
  },
});

/**
 * Run the command as a job of this server and wait up to yieldMs for it. Cancelling this request
 * before the answer kills the command (as before handles existed); once the answer says
 * `running`, the command outlives the request until it ends, exec_kill, its timeout or shutdown.
 */
async function runInJob(
  args: {
    command: string;
    shell?: string | undefined;
    timeoutSeconds?: number | undefined;
    fresh?: boolean | undefined;
    cwd?: string | undefined;
    yieldMs?: number | undefined;
  },
  call: ToolCall,
  session: Awaited<ReturnType<ToolCall['session']>>,
) {
  const mode = args.fresh ? ('fresh' as const) : ('shell' as const);
  const jobs = jobsFor(call.deps);
  const job = jobs.start(
    { workspace: call.workspace, command: args.command, mode, timeoutSeconds: args.timeoutSeconds },
    (signal, onOutput) =>
      session.exec(args.command, {
        ...(args.shell === undefined ? {} : { shell: args.shell }),
        ...(args.timeoutSeconds === undefined ? {} : { timeoutMs: Math.ceil(args.timeoutSeconds * 1000) }),
        ...(args.fresh ? { fresh: true } : {}),
        ...(args.cwd === undefined ? {} : { cwd: args.cwd }),
        signal,
        maxOutputBytes: MAX_OUTPUT_BYTES,
        onOutput: (stream, chunk) => {
          onOutput(stream, chunk);
          call.progress.output(chunk);
        },
      }),
    call.deps.lifecycle.signal,
  );
  // Shutdown waits for running commands (they are aborted by the lifecycle signal first).
  void call.deps.lifecycle.track(job.done);
  const ended = await jobs.wait(job, args.yieldMs ?? DEFAULT_YIELD_MS, call.signal);
  if (!ended && call.signal.aborted) {
    job.controller.abort(call.signal.reason);
    await job.done;
  }
  if (!ended) return jobReply(job);
  // Answered in full (or failed): the handle is never given out, so the job is not kept.
  jobs.release(job);
  if (job.result) return finishedReply(job.result, mode, args.timeoutSeconds);
  await explainLostContainer(job.error, call);
  return jobReply(job);
}

/**
 * The open session is reused across calls without asking git or Docker again. When its container
 * turns out to be gone, the workspace itself may have been deleted by another berth process: then
 * say that (WORKSPACE_NOT_FOUND, from the git state) rather than "retry, berth recreates it".
 * Only failures pay for this check.
 */
async function explainLostContainer(err: unknown, call: ToolCall): Promise<void> {
  if (!(err instanceof BerthError) || (err.code !== 'CONTAINER_GONE' && err.code !== 'CONTAINER_DIED')) return;
  await call.deps.runner.workspaces.get(call.workspace, { signal: call.signal });
}

/** `npm run dev` → "npm-3fa2": readable in process_list, unique enough not to replace another. */
function processName(command: string): string {
  const word = (command.trim().split(/\s+/)[0] ?? '').split('/').pop() ?? '';
  const base =
    word
      .replace(/[^A-Za-z0-9._-]/g, '')
      .replace(/^[^A-Za-z0-9]+/, '')
      .slice(0, 40) || 'proc';
  return `${base}-${randomBytes(2).toString('hex')}`;
}

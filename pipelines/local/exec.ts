/**
 * Steps in a staged container: one exec per command, output streamed and kept in a tail, a
 * deadline enforced by removing the container (the exec API has no kill).
 */
import { Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { Docker } from '../../docker/index.js';
import { BerthError } from '../../src/errors.js';
import type { PhaseName, PlanCommand } from '../plan.js';
import type { RunContext } from './context.js';
import { aborted, formatMs, Tail, type CommandResult, type PhaseOutcome, type PhaseResult } from './types.js';

/** Run a phase's commands in order as `user`, stopping at the first failure or timeout. */
export async function runPhase(
  ctx: RunContext,
  container: Docker.Container,
  name: PhaseName,
  commands: readonly PlanCommand[],
  user: string | undefined,
  parallel: boolean,
): Promise<PhaseResult> {
  const started = Date.now();
  const tail = new Tail(ctx.tailChars);
  const results: CommandResult[] = [];
  let outcome: PhaseOutcome = 'passed';
  let exitCode: number | null = null;
  ctx.emit({ type: 'phase-start', phase: name, parallel });
  for (const cmd of commands) {
    if (ctx.aborted) throw aborted();
    ctx.emit({ type: 'command-start', phase: name, command: cmd.display });
    const t0 = Date.now();
    const r = await execIn(ctx, container, cmd.argv, { user, phase: name, stream: true, timeoutMs: ctx.plan.timeoutMs, tail });
    results.push({ command: cmd.display, exitCode: r.exitCode, durationMs: Date.now() - t0 });
    if (ctx.aborted) throw aborted();
    exitCode = r.exitCode;
    if (r.timedOut) {
      outcome = 'timeout';
      const note = `\nberth: \`${cmd.display}\` timed out after ${formatMs(ctx.plan.timeoutMs)}\n`;
      tail.push(note);
      ctx.emit({ type: 'output', phase: name, stream: 'stderr', text: note });
      break;
    }
    if (r.exitCode !== 0) {
      outcome = 'failed';
      break;
    }
  }
  const durationMs = Date.now() - started;
  ctx.emit({ type: 'phase-end', phase: name, outcome, exitCode, durationMs });
  return { name, outcome, exitCode, durationMs, commands: results, tail: tail.text };
}

export interface ExecOptions {
  readonly user: string | undefined;
  readonly phase: PhaseName;
  /** Emit output events (false: only the tail, if any, sees the output). */
  readonly stream: boolean;
  readonly timeoutMs: number;
  readonly tail?: Tail;
}

/**
 * Exec argv in the container and stream its output. Resolves with the exit code, or timedOut
 * when the deadline removed the container first. Throws Aborted when the run was aborted.
 */
export async function execIn(
  ctx: RunContext,
  container: Docker.Container,
  argv: readonly string[],
  o: ExecOptions,
): Promise<{ exitCode: number | null; timedOut: boolean }> {
  const exec = await ctx.guard(`exec in ${container.id.slice(0, 12)}`, () =>
    container.exec({
      Cmd: [...argv],
      AttachStdout: true,
      AttachStderr: true,
      AttachStdin: false,
      Tty: false,
      WorkingDir: ctx.plan.workdir,
      ...(o.user === undefined ? {} : { User: o.user }),
    }),
  );
  const duplex = await ctx.guard('start exec', () => exec.start({ hijack: true, stdin: false }));
  ctx.docker.modem.demuxStream(duplex, outputSink(ctx, o, 'stdout'), outputSink(ctx, o, 'stderr'));
  let timedOut = false;
  const ended = new Promise<void>((resolve) => {
    duplex.once('end', resolve);
    duplex.once('close', resolve);
    duplex.once('error', () => resolve());
  });
  const timer = setTimeout(() => {
    timedOut = true;
    // Removing the container is the only reliable way to stop an exec'd process tree: the exec
    // API has no kill (https://github.com/moby/moby/issues/9098).
    void ctx.remove(container.id).finally(() => duplex.destroy());
  }, o.timeoutMs);
  const onAbort = () => duplex.destroy();
  ctx.opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await ended;
  } finally {
    clearTimeout(timer);
    ctx.opts.signal?.removeEventListener('abort', onAbort);
  }
  if (ctx.aborted) throw aborted();
  if (timedOut) return { exitCode: null, timedOut: true };
  return { exitCode: await exitCodeOf(ctx, exec, argv), timedOut: false };
}

function outputSink(ctx: RunContext, o: ExecOptions, s: 'stdout' | 'stderr'): Writable {
  const decoder = new StringDecoder('utf8');
  return new Writable({
    write: (chunk: Buffer, _enc, done) => {
      const text = decoder.write(chunk);
      if (text !== '') {
        o.tail?.push(text);
        if (o.stream) ctx.emit({ type: 'output', phase: o.phase, stream: s, text });
      }
      done();
    },
  });
}

/** The stream can end a moment before the daemon records the exit code: poll briefly. */
async function exitCodeOf(ctx: RunContext, exec: Docker.Exec, argv: readonly string[]): Promise<number> {
  for (let i = 0; ; i++) {
    const info = await ctx.guard('inspect exec', () => exec.inspect());
    if (!info.Running && info.ExitCode !== null) return info.ExitCode;
    if (i >= 50) {
      throw new BerthError(
        'CONTAINER_DIED',
        `the pipeline container stopped while running \`${argv.join(' ')}\` (no exit code). Check memory/pids limits in berth.yaml.`,
      );
    }
    await new Promise((r) => setTimeout(r, 40));
  }
}

/**
 * The fast path (no setup, no non-root plan user, not parallel — the common `berth test`): run
 * install and the steps as the container's main process, like `docker run`. The source is copied
 * into the created (not yet started) container, which Docker allows, and one `sh` script runs every
 * command in order, stopping at the first failure with its exit code. Saves the keep-alive start
 * and one exec round trip per command (bench/pipeline.ts). Only the failing command's code is
 * needed: every earlier command exited 0 (the script stops otherwise), and the last one's code is
 * the container's exit status.
 */
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { translateDockerError, type Docker } from '../../docker/index.js';
import { BerthError } from '../../src/errors.js';
import { shellQuote, type PhaseName } from '../plan.js';
import { packSource } from '../source-archive.js';
import type { RunContext } from './context.js';
import { MarkerProgress, type DirectCommand } from './markers.js';
import type { Listing } from './staged.js';
import { aborted, formatBytes, formatMs, type PhaseResult } from './types.js';

export async function runDirect(ctx: RunContext, listing: Listing, phases: Map<PhaseName, PhaseResult>): Promise<void> {
  const plan = ctx.plan;
  const cmds: DirectCommand[] = [
    ...plan.install.map((cmd) => ({ phase: 'install' as PhaseName, cmd })),
    ...plan.steps.flatMap((st) => st.commands.map((cmd) => ({ phase: st.name as PhaseName, cmd }))),
  ];
  const tag = `\u001eberth-${randomUUID().replace(/-/g, '')}:`;
  // printf's format is fixed and the marker is an argument, so nothing in it is interpreted.
  const script = cmds
    .map(({ cmd }, i) => `printf '%s' '${tag}${i};'; printf '%s' '${tag}${i};' >&2; ${cmd.argv.map(shellQuote).join(' ')} || exit $?`)
    .concat(['exit 0'])
    .join('\n');
  const container = await ctx.create(plan.image, 'main', { entrypoint: ['sh'], cmd: ['-c', script], user: plan.user, attachOutput: true });
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const armTimer = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      void ctx.remove(container.id);
    }, plan.timeoutMs);
  };
  const progress = new MarkerProgress(cmds, tag, { tailChars: ctx.tailChars, emit: (e) => ctx.emit(e), onCommand: armTimer, phases });
  const so = progress.sink('stdout');
  const se = progress.sink('stderr');
  const attach = await copyAndAttach(ctx, container, listing);
  ctx.docker.modem.demuxStream(attach, so.stream, se.stream);
  const ended = new Promise<void>((resolve) => {
    attach.once('end', resolve);
    attach.once('close', resolve);
    attach.once('error', () => resolve());
  });
  const onAbort = () => attach.destroy();
  ctx.opts.signal?.addEventListener('abort', onAbort, { once: true });
  let status: number | null = null;
  try {
    await ctx.guard(`start pipeline container ${container.id.slice(0, 12)}`, () => container.start());
    ctx.log.debug('pipeline container started', { container: container.id.slice(0, 12), role: 'main' });
    armTimer();
    try {
      const w = (await container.wait()) as { StatusCode?: number };
      status = typeof w.StatusCode === 'number' ? w.StatusCode : null;
    } catch (err) {
      if (!timedOut && !ctx.aborted) throw translateDockerError(err, 'wait for the pipeline container');
    }
    if (!timedOut) await Promise.race([ended, new Promise((r) => setTimeout(r, 2000))]);
  } finally {
    clearTimeout(timer);
    ctx.opts.signal?.removeEventListener('abort', onAbort);
    attach.destroy();
  }
  if (ctx.aborted) throw aborted();
  so.flush();
  se.flush();
  progress.finish();
  settle(ctx, progress, cmds.length, timedOut, status);
}

/** The copy and the attach are independent round trips; both must be done before start. */
async function copyAndAttach(ctx: RunContext, container: Docker.Container, listing: Listing): Promise<Duplex> {
  const plan = ctx.plan;
  const [copied, attached] = await Promise.allSettled([
    ctx.guard(`copy source into ${plan.workdir}`, () => container.putArchive(packSource(ctx.opts.source, listing), { path: plan.workdir })),
    ctx.guard('attach to the pipeline container', () => container.attach({ stream: true, stdout: true, stderr: true, hijack: false, logs: false })),
  ]);
  if (copied.status === 'rejected' || attached.status === 'rejected') {
    if (attached.status === 'fulfilled') (attached.value as unknown as Duplex).destroy();
    throw copied.status === 'rejected' ? copied.reason : (attached as PromiseRejectedResult).reason;
  }
  ctx.emit({ type: 'info', message: `copied source: ${listing.files} files, ${formatBytes(listing.bytes)}` });
  return attached.value as unknown as Duplex;
}

/** Record the outcome of the command the script stopped at. */
function settle(ctx: RunContext, progress: MarkerProgress, total: number, timedOut: boolean, status: number | null): void {
  const last = progress.last;
  const now = Date.now();
  if (timedOut) {
    const note = `\nberth: \`${last.cmd.display}\` timed out after ${formatMs(ctx.plan.timeoutMs)}\n`;
    progress.tailOf(last.phase).push(note);
    ctx.emit({ type: 'output', phase: last.phase, stream: 'stderr', text: note });
    progress.endPhase(last.phase, progress.current, 'timeout', null, now);
    return;
  }
  if (status === null) {
    throw new BerthError(
      'CONTAINER_DIED',
      `the pipeline container stopped while running \`${last.cmd.display}\` (no exit code). Check memory/pids limits in berth.yaml.`,
    );
  }
  if (status !== 0) {
    progress.endPhase(last.phase, progress.current, 'failed', status, now);
    return;
  }
  if (progress.current !== total - 1) {
    throw new BerthError('CONTAINER_DIED', `the pipeline container exited 0 after \`${last.cmd.display}\` without running the rest of the plan.`);
  }
  progress.endPhase(last.phase, progress.current, 'passed', 0, now);
}

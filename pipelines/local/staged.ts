/**
 * The staged path: one long-lived container and one exec per command, needed when setup must run
 * before the source exists, the copy must be handed to a non-root user, or `check` forks its
 * steps. For a parallel `check` the prepared container is committed to a temporary image and each
 * step runs in its own container from it (the local equivalent of Dagger forking the prepared
 * container), so steps cannot see each other's files.
 */
import type { Docker } from '../../docker/index.js';
import { BerthError } from '../../src/errors.js';
import type { PhaseName, PlanCommand, PlanStep } from '../plan.js';
import { packSource, type listSource } from '../source-archive.js';
import type { RunContext } from './context.js';
import { execIn, runPhase } from './exec.js';
import { aborted, isAborted, formatBytes, isRoot, type PhaseResult } from './types.js';

export type Listing = Awaited<ReturnType<typeof listSource>>;

export async function runStaged(ctx: RunContext, listing: Listing, phases: Map<PhaseName, PhaseResult>): Promise<void> {
  const plan = ctx.plan;
  // A separate install network: install in `main` on it, then fork the steps onto the run network.
  const main = await ctx.start(plan.image, 'main', ctx.installNetwork);
  const failed = async (name: PhaseName, commands: readonly PlanCommand[], user: string | undefined) => {
    const r = await runPhase(ctx, main, name, commands, user, false);
    phases.set(name, r);
    return r.outcome !== 'passed';
  };
  let stop = plan.setup.length > 0 && (await failed('setup', plan.setup, undefined));
  if (!stop) {
    await copySource(ctx, main, listing);
    ctx.emit({ type: 'info', message: `copied source: ${listing.files} files, ${formatBytes(listing.bytes)}` });
  }
  if (!stop && plan.install.length) stop = await failed('install', plan.install, plan.user);
  if (stop) return;
  if (plan.parallel || ctx.installNetwork !== undefined) {
    for (const r of await runForked(ctx, main, plan.steps)) phases.set(r.name, r);
    return;
  }
  for (const step of plan.steps) {
    if (await failed(step.name, step.commands, plan.user)) break;
  }
}

export async function copySource(ctx: RunContext, container: Docker.Container, listing: Listing): Promise<void> {
  const plan = ctx.plan;
  await ctx.guard(`copy source into ${plan.workdir}`, () => container.putArchive(packSource(ctx.opts.source, listing), { path: plan.workdir }));
  if (plan.user === undefined || isRoot(plan.user)) return;
  // The archive is extracted as root (portable headers carry no owner); hand the copy and the
  // cache roots to the plan's user so install and steps can write where they need to.
  const asRoot = { user: '0:0', phase: 'install' as PhaseName, stream: false, timeoutMs: plan.timeoutMs };
  const r = await execIn(ctx, container, ['chown', '-R', plan.user, plan.workdir], asRoot);
  const caches = plan.caches.map((c) => c.path);
  const r2 = caches.length ? await execIn(ctx, container, ['chown', plan.user, ...caches], asRoot) : r;
  if (r.exitCode !== 0 || r2.exitCode !== 0) {
    throw new BerthError('BAD_INPUT', `could not give the source copy to user ${JSON.stringify(plan.user)} (chown failed). Check 'user' in berth.yaml.`);
  }
}

/** Commit the prepared container and run each step in its own container from that image. */
async function runForked(ctx: RunContext, main: Docker.Container, steps: readonly PlanStep[]): Promise<PhaseResult[]> {
  const repo = 'berth-pipeline-fork';
  const image = `${repo}:${ctx.runId}`;
  ctx.forkImage = image;
  ctx.emit({ type: 'info', message: `forking the prepared container for ${steps.map((s) => s.name).join(', ')} (run in parallel)` });
  await ctx.guard('commit the prepared container', () => main.commit({ repo, tag: ctx.runId, pause: true }));
  // The prepared container is no longer needed; free its memory before the steps start.
  await ctx.remove(main.id);
  // allSettled, not all: teardown must not start while a sibling is still creating its
  // container, or that container would be created after the sweep and leak.
  const settled = await Promise.allSettled(
    steps.map(async (step) => {
      const c = await ctx.start(image, step.name);
      const r = await runPhase(ctx, c, step.name, step.commands, ctx.plan.user, true);
      await ctx.remove(c.id);
      return r;
    }),
  );
  if (ctx.aborted) throw aborted();
  const real = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected' && !isAborted(s.reason));
  if (real !== undefined) throw real.reason;
  return settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
}

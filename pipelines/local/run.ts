/**
 * One run of a Plan on the local engine: check the image, list the source (before creating
 * anything, so a bad --source fails with nothing to clean up), create the caches, take the direct
 * or the staged path, and always tear down. Abort (the CLI aborts on SIGINT/SIGTERM) removes the
 * run's containers at once; the result then says 'aborted'.
 */
import { usableInstallNetwork } from '../../docker/index.js';
import { imageExists } from '../../docker/index.js';
import { BerthError } from '../../src/errors.js';
import type { PhaseName, Plan } from '../plan.js';
import { listSource } from '../source-archive.js';
import { RunContext } from './context.js';
import { buildSnapshot, lookupDepsSafely, useSnapshot } from './deps.js';
import { runDirect } from './direct.js';
import { runStaged } from './staged.js';
import {
  aborted,
  isAborted,
  EXIT_ABORTED,
  EXIT_TIMEOUT,
  isRoot,
  type PhaseResult,
  type PipelineResult,
  type RunOutcome,
  type RunPlanLocalOptions,
} from './types.js';

export async function executeLocal(plan: Plan, opts: RunPlanLocalOptions): Promise<PipelineResult> {
  const ctx = new RunContext(plan, opts);
  const started = Date.now();
  const signal = opts.signal;
  const phases = new Map<PhaseName, PhaseResult>();
  const onAbort = () => {
    ctx.aborted = true;
    void ctx.removeAll();
  };
  if (signal?.aborted) ctx.aborted = true;
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (ctx.aborted) throw aborted();
    if (!(await imageExists(plan.image, ctx.docker))) {
      throw new BerthError(
        'IMAGE_MISSING',
        `image ${JSON.stringify(plan.image)} is not present on the ${opts.docker ? 'chosen' : 'local'} engine. Build berth's images with 'berth images build', or set 'image' in berth.yaml to an image you have.`,
      );
    }
    // Said only when an install will run (not on a ready-deps hit).
    const netNotes: string[] = [];
    ctx.installNetwork = await usableInstallNetwork(plan.installNetwork, plan.network, (message) => netNotes.push(message), ctx.docker);
    const listing = await listSource(opts.source, {
      ...(opts.maxSourceBytes === undefined ? {} : { maxBytes: opts.maxSourceBytes }),
      ...(signal ? { signal } : {}),
    });
    await ctx.ensureCaches();
    const deps = await lookupDepsSafely(ctx, listing);
    if (!deps?.hit) for (const message of netNotes) ctx.emit({ type: 'info', message });
    // A miss installs in its own container and saves the snapshot; both then run from it.
    // A failed setup/install (its result is in phases) leaves nothing to run.
    const ready = deps !== undefined && (deps.hit || (await buildSnapshot(ctx, deps, listing, phases)));
    if (ready) useSnapshot(ctx, deps, phases);
    if (deps === undefined || ready) await (canRunDirect(ctx.plan, ctx.installNetwork) ? runDirect(ctx, listing, phases) : runStaged(ctx, listing, phases));
  } catch (err) {
    if (!isAborted(err) && !ctx.aborted) throw err;
    ctx.aborted = true;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await ctx.teardown();
  }
  return summarize(ctx, started, phases);
}

/**
 * The fast path is taken when nothing needs a second process identity or a step boundary the
 * host must act on: no setup (it must run before the source exists), no chown (a non-root plan
 * user needs the copy handed over by root), no forked parallel steps, and no separate install
 * network (install and steps then run in different containers).
 */
function canRunDirect(plan: Plan, installNetwork: Plan['network'] | undefined): boolean {
  return plan.setup.length === 0 && !plan.parallel && (plan.user === undefined || isRoot(plan.user)) && installNetwork === undefined;
}

function summarize(ctx: RunContext, started: number, phases: ReadonlyMap<PhaseName, PhaseResult>): PipelineResult {
  const plan = ctx.original;
  const order: PhaseName[] = [
    ...(plan.setup.length ? (['setup'] as const) : []),
    ...(plan.install.length ? (['install'] as const) : []),
    ...plan.steps.map((s) => s.name),
  ];
  const skipped = (name: PhaseName): PhaseResult => ({
    name,
    outcome: ctx.aborted ? 'aborted' : 'skipped',
    exitCode: null,
    durationMs: 0,
    commands: [],
    tail: '',
  });
  const list = order.map((name) => phases.get(name) ?? skipped(name));
  const firstBad = list.find((p) => p.outcome === 'failed' || p.outcome === 'timeout' || p.outcome === 'aborted');
  let outcome: RunOutcome = 'passed';
  let exitCode = 0;
  if (ctx.aborted) {
    outcome = 'aborted';
    exitCode = EXIT_ABORTED;
  } else if (firstBad?.outcome === 'timeout') {
    outcome = 'timeout';
    exitCode = EXIT_TIMEOUT;
  } else if (firstBad) {
    outcome = 'failed';
    exitCode = firstBad.exitCode ?? 1;
  }
  return {
    runId: ctx.runId,
    target: plan.target,
    image: plan.image,
    ok: outcome === 'passed',
    outcome,
    exitCode,
    durationMs: Date.now() - started,
    phases: list,
    failedPhase: ctx.aborted ? list.find((p) => p.outcome === 'aborted')?.name : firstBad?.name,
  };
}

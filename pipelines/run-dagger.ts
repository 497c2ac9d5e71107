/**
 * The Dagger side of runPipeline(): a source that runs a plan through the Dagger executor
 * (pipelines/dagger.ts), and the adaptation of what that executor returns or throws into the one
 * PipelineResult. Dagger reports no per-command exit code on success and one STEP_FAILED (phase,
 * command, exit code, output tails) on failure, so phases before the failing one are 'passed',
 * the failing one carries the error text as its tail, and the rest are 'skipped'.
 */
import { asBerthError } from '../src/errors.js';
import type { PhaseResult } from './docker.js';
import { daggerImage, runPlanDagger, type DaggerClientLike, type DaggerContainerLike, type DaggerRunResult } from './dagger.js';
import type { PhaseName, Plan, PlanCommand } from './plan.js';
import { EXIT_TIMEOUT, failureKindOf, pipelineErrorResult, pipelineExitCode, type PipelineResult } from './result.js';

/** Output characters kept per phase, as the local executor's default. */
const TAIL_CHARS = 4096;

/** A Dagger Directory run by the Dagger executor. Build it with daggerSource(). */
export interface DaggerPipelineSource {
  readonly kind: 'dagger';
  /** Cache key of the project (repoKey of its manifest name: a Directory has no host path). */
  readonly repo: string;
  run(plan: Plan): Promise<DaggerRunResult>;
}

/** Bind a Dagger client and Directory (and the source's .dockerignore patterns) into a pipeline source. */
export function daggerSource<C extends DaggerContainerLike<C, Dir, Cache>, Dir, Cache>(
  client: DaggerClientLike<C, Cache>,
  directory: Dir,
  opts: { readonly repo: string; readonly exclude?: readonly string[] },
): DaggerPipelineSource {
  return {
    kind: 'dagger',
    repo: opts.repo,
    run: (plan) => runPlanDagger(client, plan, directory, { exclude: opts.exclude ?? [] }),
  };
}

function phaseOrder(plan: Plan): { name: PhaseName; commands: readonly PlanCommand[] }[] {
  return [
    ...(plan.setup.length ? [{ name: 'setup' as const, commands: plan.setup }] : []),
    ...(plan.install.length ? [{ name: 'install' as const, commands: plan.install }] : []),
    ...plan.steps.map((s) => ({ name: s.name as PhaseName, commands: s.commands })),
  ];
}

function clip(s: string): string {
  return s.length > TAIL_CHARS ? s.slice(-TAIL_CHARS) : s;
}

/** A successful Dagger run. Setup and install are synced as one engine call: their time is on the last of them. */
export function fromDaggerRun(r: DaggerRunResult, plan: Plan, durationMs: number): PipelineResult {
  const prep = phaseOrder(plan).filter((p) => p.name === 'setup' || p.name === 'install');
  const phases: PhaseResult[] = prep.map((p, i) => ({
    name: p.name,
    outcome: 'passed',
    exitCode: 0,
    durationMs: i === prep.length - 1 ? r.prepareMs : 0,
    commands: p.commands.map((c) => ({ command: c.display, exitCode: 0, durationMs: 0 })),
    tail: '',
  }));
  for (const s of r.steps) {
    phases.push({
      name: s.name,
      outcome: 'passed',
      exitCode: 0,
      durationMs: s.durationMs,
      commands: s.commands.map((c) => ({ command: c.command, exitCode: 0, durationMs: c.durationMs })),
      tail: clip(s.commands.map((c) => c.stdout + c.stderr).join('')),
    });
  }
  return {
    step: r.target,
    executor: 'dagger',
    image: r.image,
    ok: true,
    outcome: 'passed',
    exitCode: 0,
    durationMs,
    failureKind: null,
    failedPhase: null,
    phases,
    error: null,
    runId: null,
  };
}

/** A Dagger run that threw: STEP_FAILED becomes a failed phase with its exit code; anything else is berth's (125). */
export function fromDaggerError(err: unknown, plan: Plan, durationMs: number): PipelineResult {
  const e = asBerthError(err);
  const d = e.details as { phase?: unknown; exitCode?: unknown; timedOut?: unknown } | undefined;
  const failed = phaseOrder(plan).findIndex((p) => p.name === d?.phase);
  if (e.code !== 'STEP_FAILED' || failed < 0 || typeof d?.exitCode !== 'number') {
    return pipelineErrorResult(plan.target, e, { image: daggerImage(plan.image), executor: 'dagger', durationMs });
  }
  const timedOut = d.timedOut === true;
  // A parallel check runs every step to completion and reports each failure in details.failures;
  // a step that is not among them passed. Sequential plans stop at the first failure.
  const failures = new Map<string, { exitCode: number; timedOut: boolean }>();
  for (const f of Array.isArray((d as { failures?: unknown }).failures) ? (d as { failures: unknown[] }).failures : [d]) {
    const x = f as { phase?: unknown; exitCode?: unknown; timedOut?: unknown } | undefined;
    if (typeof x?.phase === 'string' && typeof x.exitCode === 'number') failures.set(x.phase, { exitCode: x.exitCode, timedOut: x.timedOut === true });
  }
  const stepsRan = plan.parallel && failed >= phaseOrder(plan).length - plan.steps.length;
  const phases: PhaseResult[] = phaseOrder(plan).map((p, i) => {
    const f = failures.get(p.name) ?? (i === failed ? { exitCode: d.exitCode as number, timedOut } : undefined);
    const isStep = i >= phaseOrder(plan).length - plan.steps.length;
    const outcome = f ? (f.timedOut ? 'timeout' : 'failed') : i < failed || (stepsRan && isStep) ? 'passed' : 'skipped';
    return {
      name: p.name,
      outcome,
      exitCode: f ? f.exitCode : outcome === 'passed' ? 0 : null,
      durationMs: 0,
      commands: [],
      tail: f ? clip(e.message) : '',
    };
  });
  const name = phases[failed]?.name ?? null;
  return {
    step: plan.target,
    executor: 'dagger',
    image: daggerImage(plan.image),
    ok: false,
    outcome: timedOut ? 'timeout' : 'failed',
    exitCode: timedOut ? EXIT_TIMEOUT : pipelineExitCode('failed', failureKindOf(name), d.exitCode),
    durationMs,
    failureKind: failureKindOf(name),
    failedPhase: name,
    phases,
    error: null,
    runId: null,
  };
}

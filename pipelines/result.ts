/**
 * The one result shape of a pipeline run, whichever executor ran it (pipelines/run.ts builds it).
 *
 * Exit codes (`exitCode`, what the CLI exits with), so a CI job can branch without parsing JSON:
 *   0    every command passed
 *   N    a step failed (failureKind 'test'): the step's own exit code, except that an own code
 *        equal to one of berth's reserved codes below is reported as 1 (the phase keeps the
 *        original), so 4/124/125/130 always mean what this table says
 *   4    the project's setup or install failed (failureKind 'install'; the phase has its own code)
 *   124  a command hit the timeout
 *   125  berth could not run the pipeline (failureKind 'infra'; `error` says why: bad berth.yaml,
 *        image missing, Docker unavailable ...). Not 3: test runners exit 3 themselves.
 *   130  interrupted (signal / MCP cancellation); containers were removed first
 */
import { asBerthError, type ErrorJson } from '../src/errors.js';
import { EXIT_ABORTED, EXIT_TIMEOUT, type PhaseResult } from './docker.js';
import type { PhaseName, Plan } from './plan.js';

export { EXIT_ABORTED, EXIT_TIMEOUT };

/** berth's own failure (the CLI's documented 125: "could not run it"). */
export const EXIT_INFRA = 125;

/** The project's setup or install failed: its dependencies never got ready, so no test ran. */
export const EXIT_INSTALL = 4;

/** Codes whose meaning berth fixes; a test step exiting with one of them is reported as 1. */
export const RESERVED_EXIT_CODES: readonly number[] = [EXIT_INSTALL, EXIT_TIMEOUT, EXIT_INFRA, EXIT_ABORTED];

/** A step's own code, unless it would read as one of berth's reserved codes (then 1: "failed"). */
const STEP_FAILED_FALLBACK = 1;

export type FailureKind = 'test' | 'install' | 'infra';
export type PipelineOutcome = 'passed' | 'failed' | 'timeout' | 'aborted' | 'error';

/** The one result of a pipeline run (the CLI's `--json`, MCP `pipeline_run`, the Dagger module). */
export interface PipelineResult {
  /** What ran: build, test, lint, check, or run (an arbitrary command). */
  readonly step: Plan['target'];
  readonly executor: 'local' | 'dagger';
  /** The image the plan ran on (for Dagger, the public image it pulled). */
  readonly image: string;
  readonly ok: boolean;
  readonly outcome: PipelineOutcome;
  /** See the exit-code table in the header. */
  readonly exitCode: number;
  readonly durationMs: number;
  /** Why it failed: a step's command, a setup/install command, or berth itself. null when ok. */
  readonly failureKind: FailureKind | null;
  readonly failedPhase: PhaseName | null;
  /** Every phase of the plan in order (setup, install, steps); unreached ones are 'skipped'. Empty when berth could not start. */
  readonly phases: readonly PhaseResult[];
  /** berth's own failure (outcome 'error', or 'aborted' by berth): code, message, remedy. */
  readonly error: ErrorJson | null;
  /** The local executor's run id (its containers carry it as a label); null for Dagger. */
  readonly runId: string | null;
  /** The engine the local executor ran on, when one was chosen or placed (RunPipelineOptions.engine). */
  readonly engine?: string;
}

/** failureKind of a failed phase: setup and install prepare the run; anything else is the project's own step. */
export function failureKindOf(phase: PhaseName | null | undefined): FailureKind | null {
  if (phase === null || phase === undefined) return null;
  return phase === 'setup' || phase === 'install' ? 'install' : 'test';
}

/**
 * The run's exit code from its outcome and the failing command's own code: install failures are
 * EXIT_INSTALL; a failed step keeps its code unless that code is reserved. Timeouts (124), berth's
 * errors (125) and interruptions (130) arrive already mapped and pass through.
 */
export function pipelineExitCode(outcome: PipelineOutcome, kind: FailureKind | null, own: number): number {
  if (outcome !== 'failed') return own;
  if (kind === 'install') return EXIT_INSTALL;
  return RESERVED_EXIT_CODES.includes(own) ? STEP_FAILED_FALLBACK : own;
}

/** The result for a run berth could not start or finish: outcome 'error' (125), or 'aborted' (130) for a cancellation. */
export function pipelineErrorResult(
  step: Plan['target'],
  err: unknown,
  ctx: { readonly image: string; readonly executor: 'local' | 'dagger'; readonly durationMs?: number },
): PipelineResult {
  const e = asBerthError(err);
  const aborted = e.code === 'ABORTED';
  return {
    step,
    executor: ctx.executor,
    image: ctx.image,
    ok: false,
    outcome: aborted ? 'aborted' : 'error',
    exitCode: aborted ? EXIT_ABORTED : EXIT_INFRA,
    durationMs: ctx.durationMs ?? 0,
    failureKind: 'infra',
    failedPhase: null,
    phases: [],
    error: e.toJSON(),
    runId: null,
  };
}

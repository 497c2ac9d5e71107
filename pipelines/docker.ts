/**
 * The local executor: runs a Plan in one-shot containers on the local Docker engine. This file is
 * its stable entry; the parts live in pipelines/local/:
 *   run.ts      one run: image check, source listing, caches, path choice, teardown, result
 *   context.ts  the run's labels and container lifecycle (created through docker/create.ts, the
 *               hardened builder), cache volumes, removal shared by timeout, abort and teardown
 *   direct.ts   the fast path: the whole plan as the main process of one container (markers.ts
 *               attributes its output to commands)
 *   staged.ts   setup, the source copy and chown, then one exec per command (exec.ts); `check`
 *               forks the prepared container into one container per step
 * Per run, in the same order as the Dagger chain in pipelines/dagger.ts. Every command is bounded
 * by plan.timeoutMs, enforced by removing the container (a process in it cannot ignore that), and
 * reported as exit 124 like coreutils timeout. Teardown is unconditional: every container carrying
 * the run's label and the temporary fork image are removed. Cache volumes stay.
 */
import type { Plan } from './plan.js';
import { executeLocal } from './local/run.js';
import type { PipelineResult, RunPlanLocalOptions } from './local/types.js';

export {
  EXIT_ABORTED,
  EXIT_TIMEOUT,
  formatMs,
  type CommandResult,
  type PhaseOutcome,
  type PhaseResult,
  type PipelineEvent,
  type PipelineResult,
  type RunOutcome,
  type RunPlanLocalOptions,
} from './local/types.js';

/** Run `plan` on the local engine. Throws BerthError for berth's own failures (image missing, bad source, Docker down). */
export async function runPlanLocal(plan: Plan, opts: RunPlanLocalOptions): Promise<PipelineResult> {
  return executeLocal(plan, opts);
}

/**
 * runPipeline(): THE pipeline entry. `berth build|test|lint|check|run`, MCP `pipeline_run`, the
 * bench and the Dagger module all call it, so every caller gets the same plan (the default user is
 * chosen here and only here), the same missing-image policy and one result shape whichever executor
 * ran the plan. It never throws for a failure of the run itself: berth's own failures (image
 * missing, Docker down, the source changing under the copy, a step not defined) come back as a
 * result with outcome 'error', exit code 125 and the BerthError as JSON, after the executor's
 * teardown has run. The result shape and the exit codes are documented in pipelines/result.ts.
 */
import { ensureImageRef, type Engine, type EnsureOpts, type PullProgress } from '../docker/index.js';
import { silentLogger, type Logger } from '../src/log.js';
import type { ResolvedSpec } from '../src/project/index.js';
import { runPlanLocal, type PipelineEvent, type PipelineResult as LocalResult } from './docker.js';
import { plan, repoKey, type Plan, type PlanTarget } from './plan.js';
import { failureKindOf, pipelineErrorResult, pipelineExitCode, type PipelineResult } from './result.js';
import { fromDaggerError, fromDaggerRun, type DaggerPipelineSource } from './run-dagger.js';
import { imageOnEngine, onEngine } from './local/engine.js';

/** A host directory run by the local Docker executor. */
export interface LocalPipelineSource {
  readonly kind: 'local';
  /** Host directory to copy in (only read, through the safe walker). */
  readonly dir: string;
  /** Identity the caches are keyed by (default: `dir`); MCP passes the user's checkout, not the worktree. */
  readonly identity?: string;
}

export type PipelineSource = LocalPipelineSource | DaggerPipelineSource;

export interface RunPipelineOptions {
  /** Per-command bound; default the spec's stepTimeoutMs. */
  readonly timeoutMs?: number;
  /** Abort: containers are removed at once; outcome 'aborted', exit 130. */
  readonly signal?: AbortSignal;
  /** Live progress (output, phase boundaries, image builds as 'info'). */
  readonly onOutput?: (event: PipelineEvent) => void;
  readonly logger?: Logger;
  /** Extra labels on the local executor's containers. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Output characters kept per phase. Default 4096. */
  readonly tailChars?: number;
  /** Raw events of an image pull (per-layer bytes), e.g. for MCP progress; onOutput gets them as lines. */
  readonly onPullProgress?: (p: PullProgress) => void;
  /**
   * The engine the local executor runs on (EngineSet.forPipeline; default the local engine). The
   * source goes in through the archive API either way; the image is copied there when missing.
   */
  readonly engine?: Engine;
}

/**
 * The user a local plan runs as when berth.yaml sets none: the host's uid:gid, so files the run
 * writes into caches are the user's. Dagger plans keep the image's default user. The one place it
 * is decided.
 */
export function defaultUser(source: PipelineSource): string | undefined {
  if (source.kind !== 'local') return undefined;
  const uid = process.getuid?.();
  const gid = process.getgid?.();
  return uid === undefined || gid === undefined ? undefined : `${uid}:${gid}`;
}

/** Plan `step` for `source` and run it on the executor the source names. Never throws for a run's failure. */
export async function runPipeline(source: PipelineSource, spec: ResolvedSpec, step: PlanTarget, opts: RunPipelineOptions = {}): Promise<PipelineResult> {
  const started = Date.now();
  const name = typeof step === 'object' ? 'run' : step;
  let p: Plan;
  try {
    const user = defaultUser(source);
    p = plan(spec, step, {
      repo: source.kind === 'local' ? repoKey(source.identity ?? source.dir) : source.repo,
      ...(user === undefined ? {} : { defaultUser: user }),
      ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
    });
  } catch (err) {
    return pipelineErrorResult(name, err, { image: spec.image, executor: source.kind, durationMs: Date.now() - started });
  }
  if (source.kind === 'dagger') {
    try {
      return fromDaggerRun(await source.run(p), p, Date.now() - started);
    } catch (err) {
      return fromDaggerError(err, p, Date.now() - started);
    }
  }
  try {
    const ensure = () => ensurePlanImage(p.image, { ...opts, pull: spec.pull, build: spec.build && { spec: spec.build, root: source.dir } });
    await (opts.engine ? imageOnEngine(opts.engine, p.image, ensure, opts) : ensure());
    const r = await runPlanLocal(p, {
      source: source.dir,
      ...(opts.engine ? { docker: opts.engine.docker } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.onOutput ? { onOutput: opts.onOutput } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
      ...(opts.labels ? { labels: opts.labels } : {}),
      ...(opts.tailChars === undefined ? {} : { tailChars: opts.tailChars }),
    });
    return onEngine(fromLocal(r), opts.engine);
  } catch (err) {
    return onEngine(pipelineErrorResult(p.target, err, { image: p.image, executor: 'local', durationMs: Date.now() - started }), opts.engine);
  }
}

/**
 * The missing-image policy, the same for every caller and the same as sessions': berth's own and
 * toolchain images are built on the spot, other references as docker/ensure.ts decides (progress
 * as 'info' events); what is still missing makes the executor report IMAGE_MISSING with the remedy.
 */
export async function ensurePlanImage(
  image: string,
  opts: Pick<RunPipelineOptions, 'signal' | 'onOutput' | 'logger' | 'onPullProgress'> & Pick<EnsureOpts, 'pull' | 'build'> = {},
): Promise<void> {
  await ensureImageRef(image, {
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onPullProgress ? { onPullProgress: opts.onPullProgress } : {}),
    ...(opts.pull ? { pull: opts.pull } : {}),
    ...(opts.build ? { build: opts.build } : {}),
    onProgress: (line) => {
      if (/: present$/.test(line)) return;
      (opts.logger ?? silentLogger).info(line);
      opts.onOutput?.({ type: 'info', message: line });
    },
  });
}

function fromLocal(r: LocalResult): PipelineResult {
  const failedPhase = r.failedPhase ?? null;
  const failureKind = r.ok ? null : r.outcome === 'aborted' ? 'infra' : failureKindOf(failedPhase);
  return {
    step: r.target,
    executor: 'local',
    image: r.image,
    ok: r.ok,
    outcome: r.outcome,
    exitCode: pipelineExitCode(r.outcome, failureKind, r.exitCode),
    durationMs: r.durationMs,
    failureKind,
    failedPhase,
    phases: r.phases,
    error:
      r.outcome === 'aborted'
        ? { code: 'ABORTED', message: `${r.target} was interrupted; its containers were removed.`, remedy: 'retry when you want it to finish' }
        : null,
    runId: r.runId,
  };
}

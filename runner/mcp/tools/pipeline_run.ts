import { z } from 'zod';
import { ensurePlanImage, formatMs, runPipeline, type PipelineEvent, type PipelineResult } from '../../../pipelines/index.js';
import { withImageFallback } from '../../../src/project/index.js';
import { EngineSet, LABEL, pullByteCounter } from '../../../docker/index.js';
import type { McpRunner } from '../deps.js';
import { BerthError } from '../../../src/errors.js';
import { pullTransfer, type Progress } from '../progress.js';
import { defineTool, PULL_BYTES_LINE } from '../tool.js';
import { clip, MAX_SECONDS } from './shared.js';

/** Output tail kept per phase in the result (the executor keeps 4 KiB; the model needs less). */
const TAIL_CHARS = 3000;

export const pipelineRun = defineTool({
  name: 'pipeline_run',
  title: 'Run build/test/lint',
  description:
    "Run the project's build, test or lint step (or check = all defined steps in parallel) the way CI would: in fresh, " +
    "throw-away containers on a copy of the workspace's current files (uncommitted changes included), using the steps " +
    "defined for the project (berth.yaml of the user's checkout, or detected from package.json, Makefile ...). " +
    "Your workspace container is not touched. Returns ok plus each phase's outcome, exit code and output tail, and the " +
    'engine it ran on; a failing step is a normal result (ok: false), not a tool error.',
  scope: 'workspace',
  input: {
    step: z.enum(['build', 'test', 'lint', 'check']).describe('Which pipeline to run: build, test, lint, or check (every defined step).'),
    timeoutSeconds: z.number().int().min(1).max(MAX_SECONDS).optional().describe('Time limit per command in seconds (default from berth.yaml, 30 minutes).'),
    engine: z
      .string()
      .min(1)
      .max(32)
      .optional()
      .describe(
        'Docker engine to run on: an id from the engines tool. Default: the healthy engine with the most free capacity (the only one when there is one).',
      ),
  },
  output: {
    ok: z.boolean(),
    outcome: z.enum(['passed', 'failed', 'timeout', 'aborted', 'error']),
    failureKind: z.enum(['test', 'install', 'infra']).nullable(),
    exitCode: z.number(),
    durationMs: z.number(),
    failedPhase: z.string().nullable(),
    engine: z.string(),
    phases: z.array(
      z.object({
        name: z.string(),
        outcome: z.enum(['passed', 'failed', 'timeout', 'aborted', 'skipped']),
        exitCode: z.number().nullable(),
        durationMs: z.number(),
        tail: z.string(),
      }),
    ),
  },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },

  async run(args, call) {
    const runner = call.deps.runner;
    const info = await call.info();
    // The checkout's spec, not the worktree's berth.yaml: the agent can edit its own copy, and
    // image, network, user and resources must stay what the user configured.
    // A devcontainer image that can't be had here falls back to the detected one (one progress line).
    const { resolved, warning } = await withImageFallback(await runner.resolve(), (spec) =>
      ensurePlanImage(spec.image, {
        signal: call.signal,
        pull: spec.pull,
        build: spec.build && { spec: spec.build, root: info.worktree },
        onPullProgress: pullByteCounter(spec.image, (b) => call.progress.transfer(pullTransfer(b))),
      }),
    );
    if (warning) call.progress.step(`warning: ${warning}`);
    // Like the CLI: a named engine (ENGINE_CONFIG / ENGINE_UNAVAILABLE when it can't be used), else
    // placed by free capacity when engines are configured, else DOCKER_HOST as always.
    const engines = enginesOf(runner);
    const engine = args.engine !== undefined || engines.configured ? await engines.forPipeline(args.engine) : undefined;
    const engineId = engine?.id ?? engines.primary.id;
    call.progress.step(`${args.step}: starting on a copy of ${info.name} (engine ${engineId})`);
    const result = await runPipeline({ kind: 'local', dir: info.worktree, identity: runner.repo.path }, resolved.spec, args.step, {
      signal: call.signal,
      logger: call.logger,
      labels: { ...call.deps.pipelineLabels, [LABEL.workspace]: info.name },
      onOutput: (e) => report(call.progress, e),
      onPullProgress: pullByteCounter(resolved.spec.image, (b) => call.progress.transfer(pullTransfer(b))),
      ...(args.timeoutSeconds === undefined ? {} : { timeoutMs: args.timeoutSeconds * 1000 }),
      ...(engine ? { engine } : {}),
    });
    // berth's own failure (image missing, Docker down, the source changing under the copy) is a
    // tool error with the table's next step; a failing step is a normal result.
    if (result.outcome === 'error' && result.error) {
      throw new BerthError(result.error.code, result.error.message, result.error.details ? { details: { ...result.error.details } } : undefined);
    }
    const phases = result.phases.map((ph) => ({
      name: ph.name,
      outcome: ph.outcome,
      exitCode: ph.exitCode,
      durationMs: ph.durationMs,
      tail: clip(ph.tail, TAIL_CHARS).text,
    }));
    return {
      text: render(result, phases, engineId),
      structured: {
        ok: result.ok,
        outcome: result.outcome,
        exitCode: result.exitCode,
        durationMs: result.durationMs,
        failureKind: result.failureKind,
        failedPhase: result.failedPhase,
        engine: engineId,
        phases,
      },
    };
  },
});

/**
 * The runner's engine set. Runner has one; McpRunner does not declare it yet (runner/mcp/deps.ts is
 * being reworked elsewhere), so a runner without one runs on DOCKER_HOST as before.
 */
function enginesOf(runner: McpRunner): EngineSet {
  const set = (runner as McpRunner & { engines?: unknown }).engines;
  return set instanceof EngineSet ? set : EngineSet.single();
}

function report(progress: Progress, e: PipelineEvent): void {
  switch (e.type) {
    case 'phase-start':
      progress.step(`${e.phase}: started${e.parallel ? ' (parallel)' : ''}`);
      break;
    case 'command-start':
      progress.step(`${e.phase}: $ ${e.command}`);
      break;
    case 'output':
      progress.output(e.text);
      break;
    case 'phase-end':
      progress.step(`${e.phase}: ${e.outcome}${e.exitCode ? ` (exit ${e.exitCode})` : ''} in ${formatMs(e.durationMs)}`);
      break;
    case 'info':
      // Per-layer download lines arrive as byte transfers (onPullProgress) instead.
      if (!PULL_BYTES_LINE.test(e.message)) progress.step(e.message);
      break;
  }
}

function render(
  r: PipelineResult,
  phases: readonly { name: string; outcome: string; exitCode: number | null; durationMs: number; tail: string }[],
  engine: string,
): string {
  const lines = [
    r.ok
      ? `${r.step} passed in ${formatMs(r.durationMs)} on engine ${engine}.`
      : `${r.step} ${r.outcome === 'failed' ? 'FAILED' : r.outcome === 'timeout' ? 'TIMED OUT' : 'was cancelled'} in ${formatMs(r.durationMs)} on engine ${engine}` +
        `${r.failedPhase ? ` (phase ${r.failedPhase}, exit ${r.exitCode})` : ''}.`,
    ...phases.map((ph) => `  ${ph.name}: ${ph.outcome}${ph.exitCode !== null && ph.exitCode !== 0 ? ` (exit ${ph.exitCode})` : ''} ${formatMs(ph.durationMs)}`),
  ];
  const shown = r.ok
    ? phases.filter((ph) => ph.name !== 'setup' && ph.name !== 'install' && ph.outcome !== 'skipped')
    : phases.filter((ph) => ph.outcome !== 'passed' && ph.outcome !== 'skipped');
  for (const ph of shown) {
    if (ph.tail.trim()) lines.push(`--- ${ph.name} output (tail) ---`, ph.tail.replace(/\n$/, ''));
  }
  return lines.join('\n');
}

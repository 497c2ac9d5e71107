/**
 * `berth build | test | lint | check | run`: resolve the spec of --source and hand it to the one
 * pipeline entry (runPipeline, pipelines/run.ts), which runs it in one-shot containers on a copy
 * of the source, on the local engine or the one --engine names (placed by free capacity when
 * engines are configured; the image is copied there when it lacks it). `--json` prints its PipelineResult (pipelines/result.ts), also when berth
 * could not start (then `error` is set and `phases` is empty).
 *
 * Exit codes (the table is pipelines/result.ts's): 0 passed; a failed step's own code (1 in place
 * of a reserved code); 4 when setup or install failed; 124 when a command hit the timeout; 130 when
 * interrupted (Ctrl-C / SIGTERM; containers are removed first); 125 for berth's own failures: bad
 * berth.yaml (SPEC_YAML / SPEC_INVALID), step not defined (STEP_UNDEFINED), image missing
 * (IMAGE_MISSING), Docker unavailable, bad --source. These use 125, not the environment code 3,
 * because 3 is also an ordinary exit code of test runners.
 */
import { realpath, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { LocalSourceReader } from '../../../src/source-reader.js';
import { parseDuration, resolveSpec, withImageFallback } from '../../../src/project/index.js';
import type { ResolvedSpec } from '../../../src/project/index.js';
import {
  ensurePlanImage,
  formatMs,
  pipelineErrorResult,
  runPipeline,
  type PhaseName,
  type PipelineEvent,
  type PipelineResult,
  type PlanTarget,
} from '../../../pipelines/index.js';
import { BerthError } from '../../../src/errors.js';
import { EngineSet, type Engine } from '../../../docker/index.js';
import { action, printJson } from '../output.js';

interface PipelineOpts {
  source?: string;
  json?: boolean;
  timeout?: string;
  strictImage?: boolean;
  engine?: string;
}

const DESCRIPTIONS: Record<'build' | 'test' | 'lint' | 'check', string> = {
  build: 'run the build step of --source in a fresh container (on a copy of the source)',
  test: 'run the test step of --source in a fresh container (on a copy of the source)',
  lint: 'run the lint step of --source in a fresh container (on a copy of the source)',
  check: 'run every defined step (build, test, lint) in parallel, each in its own container after install',
};

const EXIT_HELP = `
Exit codes:
  0        passed
  N        a step (build/test/lint) failed with its own exit code N (1 if N is one of 4, 124, 125, 130)
  4        setup or install failed (e.g. a dependency could not be fetched); no step ran
  124      a command hit the timeout
  125      berth could not run it (bad berth.yaml, step not defined, image missing, Docker unavailable)
  130      interrupted
With --json, "failureKind" ("test" | "install" | "infra") says the same, and each phase keeps its own code.`;

export function register(program: Command): void {
  for (const step of ['build', 'test', 'lint', 'check'] as const) {
    withCommonOptions(program.command(step).description(DESCRIPTIONS[step]))
      .addHelpText(
        'after',
        `\nExamples:\n  berth ${step} --source=.\n  berth ${step} --source=../app --json --timeout 10m\n  berth ${step} --source=. --engine build-box --json\n${EXIT_HELP}`,
      )
      .action(action(async (opts: PipelineOpts) => runTarget(step, opts), { passthrough: true }));
  }
  withCommonOptions(
    program
      .command('run')
      .description('run an arbitrary command after setup and install, in a fresh container on a copy of --source')
      .argument('<command...>', 'the command; one argument is a shell line (sh -c), several are an argv'),
  )
    .addHelpText('after', `\nExamples:\n  berth run --source=. -- npm run coverage\n  berth run --source=. 'npm ci && npm test -- --grep slow'\n${EXIT_HELP}`)
    .action(
      action(async (command: string[], opts: PipelineOpts) => runTarget({ run: command.length === 1 ? (command[0] as string) : command }, opts), {
        passthrough: true,
      }),
    );
}

function withCommonOptions(cmd: Command): Command {
  return cmd
    .option('--source <dir>', 'project directory to copy in (default: the current directory)')
    .option('--json', 'print a JSON summary (steps, exit codes, durations, output tails); live output goes to stderr')
    .option('--timeout <duration>', 'time limit for each command: "90s", "10m", "1h" (a bare number is minutes); default from berth.yaml')
    .option('--strict-image', "fail when devcontainer.json's image can't be pulled or built, instead of using the detected toolchain image")
    .option('--engine <id>', 'run on this engine of `engines:` / BERTH_ENGINES (default: the one with the most free capacity; `berth engines` lists them)');
}

async function runTarget(target: PlanTarget, opts: PipelineOpts): Promise<number> {
  const json = Boolean(opts.json);
  let input: { source: string; spec: ResolvedSpec; timeoutMs: number | undefined; engine: Engine | undefined };
  try {
    input = { ...(await prepare(opts)), engine: await pipelineEngine(opts.engine) };
  } catch (err) {
    // Same shape as every other outcome: a PipelineResult with `error` (exit 125).
    return finish(pipelineErrorResult(typeof target === 'object' ? 'run' : target, err, { image: '', executor: 'local' }), json);
  }
  const ac = new AbortController();
  const onSignal = () => {
    if (!ac.signal.aborted) process.stderr.write('\nberth: interrupted, removing pipeline containers ...\n');
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const render = new Renderer(json);
  let result: PipelineResult;
  try {
    result = await runPipeline({ kind: 'local', dir: input.source }, input.spec, target, {
      signal: ac.signal,
      onOutput: (e) => render.event(e),
      ...(input.timeoutMs === undefined ? {} : { timeoutMs: input.timeoutMs }),
      ...(input.engine ? { engine: input.engine } : {}),
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  render.flush();
  return finish(result, json);
}

/** The engine of --engine, or a placed one when engines are configured; undefined: DOCKER_HOST as always. */
async function pipelineEngine(id: string | undefined): Promise<Engine | undefined> {
  const engines = EngineSet.resolve();
  if (id === undefined && !engines.configured) return undefined;
  return engines.forPipeline(id);
}

/** Everything the CLI resolves before the entry: the source directory, --timeout and the spec. */
async function prepare(opts: PipelineOpts): Promise<{ source: string; spec: ResolvedSpec; timeoutMs: number | undefined }> {
  const source = await sourceDir(opts.source ?? process.cwd());
  let timeoutMs: number | undefined;
  if (opts.timeout !== undefined) {
    timeoutMs = parseDuration(opts.timeout);
    if (timeoutMs === undefined || timeoutMs < 1000) {
      throw new BerthError('BAD_INPUT', `--timeout ${JSON.stringify(opts.timeout)} is not a duration of at least 1s: use e.g. "90s", "10m" or "1h".`);
    }
  }
  // A devcontainer image that can't be had here falls back to the detected one (one warning), unless
  // --strict-image. Pipelines run no lifecycle commands: those set up a dev environment, not a test run.
  const { resolved, warning } = await withImageFallback(
    await resolveSpec(new LocalSourceReader(source)),
    (spec) => ensurePlanImage(spec.image, { pull: spec.pull, build: spec.build && { spec: spec.build, root: source } }),
    opts.strictImage ? { strictImage: true } : {},
  );
  if (warning) process.stderr.write(`berth: warning: ${warning}\n`);
  return { source, spec: resolved.spec, timeoutMs };
}

function finish(result: PipelineResult, json: boolean): number {
  if (result.error && result.outcome === 'error') process.stderr.write(`berth: ${result.error.message}\n`);
  if (json) printJson(result);
  process.stderr.write(`${summaryLine(result)}${result.engine ? ` (engine ${result.engine})` : ''}\n`);
  return result.exitCode;
}

async function sourceDir(dir: string): Promise<string> {
  const abs = resolve(dir);
  try {
    if (!(await stat(abs)).isDirectory()) throw new Error('not a directory');
    return await realpath(abs);
  } catch (err) {
    throw new BerthError('BAD_INPUT', `--source ${JSON.stringify(dir)} is not a directory. Pass the project directory, e.g. --source=.`, { cause: err });
  }
}

function summaryLine(r: PipelineResult): string {
  const took = formatMs(r.durationMs);
  switch (r.outcome) {
    case 'error':
      return `berth: ${r.step} could not run (${r.error?.code ?? 'error'}; exit ${r.exitCode})`;
    case 'passed':
      return `berth: ${r.step} passed in ${took}`;
    case 'failed':
      return `berth: ${r.step} failed in ${took}: ${failedWhat(r)}`;
    case 'timeout':
      return `berth: ${r.step} timed out in ${r.failedPhase ?? 'a phase'} after ${took} (exit ${r.exitCode})`;
    case 'aborted':
      return `berth: ${r.step} interrupted after ${took}; its containers were removed (exit ${r.exitCode})`;
  }
}

/** "test exited 3"; an install failure says so, with the command's own code and berth's exit code. */
function failedWhat(r: PipelineResult): string {
  const phase = r.phases.find((p) => p.name === r.failedPhase);
  const own = phase?.exitCode ?? r.exitCode;
  if (r.failureKind === 'install') return `${r.failedPhase ?? 'install'} failed (exited ${own}; exit ${r.exitCode}: install failure, no step ran)`;
  return own === r.exitCode ? `${r.failedPhase ?? 'a phase'} exited ${own}` : `${r.failedPhase ?? 'a phase'} exited ${own} (exit ${r.exitCode})`;
}

/**
 * Live output: a header per phase and per command, the command's output as it arrives (prefixed
 * with the step name when steps run in parallel), and the phase's outcome with its elapsed time.
 * With --json everything goes to stderr so stdout carries only the JSON summary.
 */
class Renderer {
  readonly #json: boolean;
  /** Phases that started as parallel steps (their output is prefixed with the phase name). */
  readonly #parallel = new Set<PhaseName>();
  /** Partial lines per phase+stream, for prefixing parallel output line by line. */
  readonly #partial = new Map<string, string>();

  constructor(json: boolean) {
    this.#json = json;
  }

  event(e: PipelineEvent): void {
    switch (e.type) {
      case 'phase-start':
        if (e.parallel) this.#parallel.add(e.phase);
        this.#header(`==> ${e.phase}${e.parallel ? ' (parallel)' : ''}`);
        break;
      case 'command-start':
        this.#header(`${this.#prefix(e.phase)}$ ${e.command}`);
        break;
      case 'output':
        this.#output(e.phase, e.stream, e.text);
        break;
      case 'phase-end':
        this.#flushPhase(e.phase);
        this.#header(`<== ${e.phase} ${e.outcome}${e.exitCode !== null && e.exitCode !== 0 ? ` (exit ${e.exitCode})` : ''} in ${formatMs(e.durationMs)}`);
        break;
      case 'info':
        this.#header(`berth: ${e.message}`);
        break;
    }
  }

  flush(): void {
    for (const key of [...this.#partial.keys()]) {
      const [phase] = key.split('\0') as [PhaseName];
      this.#flushPhase(phase);
    }
  }

  #prefix(phase: PhaseName): string {
    return this.#parallel.has(phase) ? `[${phase}] ` : '';
  }

  #header(line: string): void {
    process.stderr.write(`${line}\n`);
  }

  #write(stream: 'stdout' | 'stderr', text: string): void {
    (stream === 'stdout' && !this.#json ? process.stdout : process.stderr).write(text);
  }

  #output(phase: PhaseName, stream: 'stdout' | 'stderr', text: string): void {
    const prefix = this.#prefix(phase);
    if (prefix === '') {
      this.#write(stream, text);
      return;
    }
    const key = `${phase}\0${stream}`;
    const lines = ((this.#partial.get(key) ?? '') + text).split('\n');
    this.#partial.set(key, lines.pop() ?? '');
    if (lines.length) this.#write(stream, lines.map((l) => `${prefix}${l}\n`).join(''));
  }

  #flushPhase(phase: PhaseName): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const key = `${phase}\0${stream}`;
      const rest = this.#partial.get(key);
      if (rest) this.#write(stream, `${this.#prefix(phase)}${rest}\n`);
      this.#partial.delete(key);
    }
  }
}

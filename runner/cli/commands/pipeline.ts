/**
 * `berth build | test | lint | check | run`: resolve the spec of --source, plan the target and run
 * it in one-shot local containers (pipelines/docker.ts) on a copy of the source.
 *
 * Exit codes: the failing command's own code (0 when everything passed), 124 when a command hit
 * the timeout, 130 when interrupted (Ctrl-C / SIGTERM; containers are removed first), and 125 for
 * berth's own failures: bad berth.yaml (SPEC_YAML / SPEC_INVALID), step not defined
 * (STEP_UNDEFINED), image missing (IMAGE_MISSING), Docker unavailable, bad --source. These use 125,
 * not the environment code 3, because 3 is also an ordinary exit code of test runners.
 */
import { realpath, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { LocalSourceReader } from '../../../src/source-reader.js';
import { parseDuration, resolveSpec } from '../../../src/project/index.js';
import {
  formatMs,
  plan,
  repoKey,
  runPlanLocal,
  type PhaseName,
  type PipelineEvent,
  type PipelineResult,
  type PlanTarget,
} from '../../../pipelines/index.js';
import { BerthError } from '../../../src/errors.js';
import { action, printJson } from '../output.js';
import { ensureImageRef } from '../../../docker/ensure.js';
import { networkExists, NO_BRIDGE_HINT } from '../../../docker/networks.js';

interface PipelineOpts {
  source?: string;
  json?: boolean;
  timeout?: string;
}

const DESCRIPTIONS: Record<'build' | 'test' | 'lint' | 'check', string> = {
  build: 'run the build step of --source in a fresh container (on a copy of the source)',
  test: 'run the test step of --source in a fresh container (on a copy of the source)',
  lint: 'run the lint step of --source in a fresh container (on a copy of the source)',
  check: 'run every defined step (build, test, lint) in parallel, each in its own container after install',
};

const EXIT_HELP = `
Exit code: the failing command's own code; 124 timeout; 130 interrupted; 125 berth could not run it
(bad berth.yaml, step not defined, image missing, Docker unavailable).`;

export function register(program: Command): void {
  for (const step of ['build', 'test', 'lint', 'check'] as const) {
    withCommonOptions(program.command(step).description(DESCRIPTIONS[step]))
      .addHelpText('after', `\nExamples:\n  berth ${step} --source=.\n  berth ${step} --source=../app --json --timeout 10m\n${EXIT_HELP}`)
      .action(action(async (opts: PipelineOpts) => runTarget(step, opts), { passthrough: true }));
  }
  withCommonOptions(
    program
      .command('run')
      .description('run an arbitrary command after setup and install, in a fresh container on a copy of --source')
      .argument('<command...>', 'the command; one argument is a shell line (sh -c), several are an argv'),
  )
    .addHelpText(
      'after',
      `\nExamples:\n  berth run --source=. -- npm run coverage\n  berth run --source=. 'npm ci && npm test -- --grep slow'\n${EXIT_HELP}`,
    )
    .action(
      action(
        async (command: string[], opts: PipelineOpts) =>
          runTarget({ run: command.length === 1 ? (command[0] as string) : command }, opts),
        { passthrough: true },
      ),
    );
}

function withCommonOptions(cmd: Command): Command {
  return cmd
    .option('--source <dir>', 'project directory to copy in (default: the current directory)')
    .option('--json', 'print a JSON summary (steps, exit codes, durations, output tails); live output goes to stderr')
    .option('--timeout <duration>', 'time limit for each command: "90s", "10m", "1h" (a bare number is minutes); default from berth.yaml');
}

async function runTarget(target: PlanTarget, opts: PipelineOpts): Promise<number> {
  const source = await sourceDir(opts.source ?? process.cwd());
  let timeoutMs: number | undefined;
  if (opts.timeout !== undefined) {
    timeoutMs = parseDuration(opts.timeout);
    if (timeoutMs === undefined || timeoutMs < 1000) {
      throw new BerthError('BAD_INPUT', `--timeout ${JSON.stringify(opts.timeout)} is not a duration of at least 1s: use e.g. "90s", "10m" or "1h".`);
    }
  }
  const resolved = await resolveSpec(new LocalSourceReader(source));
  const build = resolved.spec.build && { spec: resolved.spec.build, root: source };
  await ensureImageRef(resolved.spec.image, { pull: resolved.spec.pull, build, onProgress: (l) => process.stderr.write(`berth: ${l}\n`) });
  const uid = process.getuid?.();
  const gid = process.getgid?.();
  const p = plan(resolved.spec, target, {
    repo: repoKey(source),
    ...(uid === undefined || gid === undefined ? {} : { defaultUser: `${uid}:${gid}` }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });

  const ac = new AbortController();
  const onSignal = () => {
    if (!ac.signal.aborted) process.stderr.write('\nberth: interrupted, removing pipeline containers ...\n');
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const render = new Renderer(Boolean(opts.json), p.parallel);
  let result: PipelineResult;
  try {
    result = await runPlanLocal(p, { source, signal: ac.signal, onOutput: (e) => render.event(e) });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  render.flush();
  if (opts.json) printJson(result);
  process.stderr.write(`${summaryLine(result)}\n`);
  if (result.failedPhase === 'install' && p.installNetwork === 'bridge' && !(await networkExists('bridge'))) process.stderr.write(`berth: ${NO_BRIDGE_HINT}\n`);
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
    case 'passed':
      return `berth: ${r.target} passed in ${took}`;
    case 'failed':
      return `berth: ${r.target} failed in ${took}: ${r.failedPhase ?? 'a phase'} exited ${r.exitCode}`;
    case 'timeout':
      return `berth: ${r.target} timed out in ${r.failedPhase ?? 'a phase'} after ${took} (exit ${r.exitCode})`;
    case 'aborted':
      return `berth: ${r.target} interrupted after ${took}; its containers were removed (exit ${r.exitCode})`;
  }
}

/**
 * Live output: a header per phase and per command, the command's output as it arrives (prefixed
 * with the step name when steps run in parallel), and the phase's outcome with its elapsed time.
 * With --json everything goes to stderr so stdout carries only the JSON summary.
 */
class Renderer {
  readonly #json: boolean;
  readonly #parallel: boolean;
  /** Partial lines per phase+stream, for prefixing parallel output line by line. */
  readonly #partial = new Map<string, string>();

  constructor(json: boolean, parallel: boolean) {
    this.#json = json;
    this.#parallel = parallel;
  }

  event(e: PipelineEvent): void {
    switch (e.type) {
      case 'phase-start':
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
        this.#header(
          `<== ${e.phase} ${e.outcome}${e.exitCode !== null && e.exitCode !== 0 ? ` (exit ${e.exitCode})` : ''} in ${formatMs(e.durationMs)}`,
        );
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
    return this.#parallel && phase !== 'setup' && phase !== 'install' ? `[${phase}] ` : '';
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

/**
 * plan(): the one function that turns a ResolvedSpec and a target (a step, `check`, or an arbitrary
 * command) into a Plan: pure, frozen data that both executors (local Docker and Dagger) consume.
 * Nothing here touches Docker, Dagger, the filesystem or the clock, so the plan for a fixture can be
 * asserted exactly in tests and the two executors cannot drift apart on what a step means.
 */
import { createHash } from 'node:crypto';
import { deepFreeze } from '../src/project/index.js';
import type { Network, ResolvedSpec, StepName, Toolchain } from '../src/project/index.js';
import { BerthError } from '../src/errors.js';
import { sharedCacheVolume } from '../docker/index.js';

/** The steps a spec can define, in the order `check` runs and reports them. */
export const STEP_NAMES: readonly StepName[] = Object.freeze(['build', 'test', 'lint']);

/** A named pipeline: one step, or `check` (every defined step). */
export type PipelineStep = StepName | 'check';

/**
 * What to plan: a named pipeline, or `{ run }` with an arbitrary command. A string is a shell
 * command line (`sh -c`); an array is an argv run without a shell (what `berth run -- CMD…` passes).
 */
export type PlanTarget = PipelineStep | { readonly run: string | readonly string[] };

/** Names of the phases a plan can contain. `run` is the phase of a `{ run }` target. */
export type PhaseName = 'setup' | 'install' | StepName | 'run';

export interface PlanCommand {
  /** What a human reads in headers and errors: the shell line, or the argv shell-quoted. */
  readonly display: string;
  /** What is executed, without any timeout wrapper (executors add their own). */
  readonly argv: readonly string[];
}

export interface PlanStep {
  readonly name: StepName | 'run';
  readonly commands: readonly PlanCommand[];
}

export interface PlanCache {
  /** The spec's cache name, e.g. "npm". */
  readonly name: string;
  /** Absolute mount path inside the container. */
  readonly path: string;
  /**
   * Docker volume name / Dagger cache key: `berth-cache-<toolchain>-<name>[-u<uid>]`
   * (docker/caches.ts sharedCacheVolume). Shared by every repository of the toolchain, like a
   * developer's ~/.npm, and per user id (a cache one uid wrote is not writable by another). The
   * ready-deps snapshots, which hold what an install produced, are per repository (docker/deps.ts).
   */
  readonly volume: string;
}

export interface Plan {
  readonly target: PipelineStep | 'run';
  readonly image: string;
  readonly workdir: string;
  /** Sorted by name so executors apply them in a stable order (stable Dagger cache keys). */
  readonly env: Readonly<Record<string, string>>;
  /** undefined: the image's default user. */
  readonly user: string | undefined;
  readonly network: Network;
  /** The install phase's network when it differs from `network` (the executor then forks the steps). */
  readonly installNetwork?: Network;
  readonly resources: { readonly cpus: number; readonly memoryMb: number; readonly pids: number };
  /** Bound on each command (setup, install and step commands alike). */
  readonly timeoutMs: number;
  readonly toolchain: Toolchain;
  /** The repo key of the run: labels, and the scope of its ready-deps snapshots (see repoKey()). */
  readonly repo: string;
  readonly caches: readonly PlanCache[];
  /** Run before the source is copied in: they may not depend on it (Dagger caches them per image). */
  readonly setup: readonly PlanCommand[];
  /** Run once the source is present, before any step. */
  readonly install: readonly PlanCommand[];
  /** One entry per step to run, in STEP_NAMES order for `check`. Never empty. */
  readonly steps: readonly PlanStep[];
  /**
   * True when the steps are independent and run concurrently, each in its own copy of the
   * prepared (setup + source + install) container. Only `check` with more than one step.
   */
  readonly parallel: boolean;
}

export interface PlanOptions {
  /** Repo identity (labels, ready-deps scope): the output of repoKey(). Default "default". */
  readonly repo?: string;
  /** User when the spec leaves it undefined (the local executor passes the host's uid:gid). */
  readonly defaultUser?: string;
  /** Overrides spec.stepTimeoutMs (e.g. `--timeout`). */
  readonly timeoutMs?: number;
}

/** Longest accepted command (bytes of the shell line / sum of argv). Agents send commands too. */
export const MAX_COMMAND_BYTES = 64 * 1024;
/** Upper bound for a per-command timeout: a day. */
export const MAX_TIMEOUT_MS = 24 * 60 * 60 * 1000;

/** Build the plan for `target` from a resolved spec. Throws BerthError STEP_UNDEFINED / BAD_INPUT. */
export function plan(spec: ResolvedSpec, target: PlanTarget, opts: PlanOptions = {}): Plan {
  const timeoutMs = opts.timeoutMs ?? spec.stepTimeoutMs;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS) {
    throw new BerthError(
      'BAD_INPUT',
      `timeout ${JSON.stringify(timeoutMs)} ms is out of range: give a whole number of milliseconds between 1 and ${MAX_TIMEOUT_MS}.`,
    );
  }
  const repo = opts.repo ?? 'default';
  if (!/^[a-z0-9][a-z0-9_.-]{0,62}$/.test(repo)) {
    throw new BerthError('BAD_INPUT', `repo key ${JSON.stringify(repo)} is not valid: build it with repoKey().`);
  }

  let steps: PlanStep[];
  let name: Plan['target'];
  if (typeof target === 'object') {
    name = 'run';
    steps = [{ name: 'run', commands: [runCommand(target.run)] }];
  } else if (target === 'check') {
    name = 'check';
    steps = STEP_NAMES.filter((s) => spec.steps[s].length > 0).map((s) => ({ name: s, commands: spec.steps[s].map(shell) }));
    if (steps.length === 0) {
      throw new BerthError(
        'STEP_UNDEFINED',
        `"check" has nothing to run: the spec defines none of ${STEP_NAMES.join(', ')}. Add steps to berth.yaml (e.g. "test: npm test").`,
      );
    }
  } else if ((STEP_NAMES as readonly string[]).includes(target)) {
    name = target;
    const commands = spec.steps[target];
    if (commands.length === 0) {
      throw new BerthError(
        'STEP_UNDEFINED',
        `step "${target}" is not defined for this source (nothing was detected and berth.yaml sets none). Add "${target}: <command>" to berth.yaml.`,
      );
    }
    steps = [{ name: target, commands: commands.map(shell) }];
  } else {
    throw new BerthError('BAD_INPUT', `unknown pipeline ${JSON.stringify(target)}: use build, test, lint, check or { run }.`);
  }

  const env: Record<string, string> = {};
  for (const k of Object.keys(spec.env).sort()) env[k] = spec.env[k] as string;

  return deepFreeze({
    target: name,
    image: spec.image,
    workdir: spec.workdir,
    env,
    user: spec.user ?? opts.defaultUser,
    network: spec.network,
    ...(spec.installNetwork && spec.installNetwork !== spec.network && spec.install.length ? { installNetwork: spec.installNetwork } : {}),
    resources: { cpus: spec.resources.cpus, memoryMb: spec.resources.memoryMb, pids: spec.resources.pids },
    timeoutMs,
    toolchain: spec.toolchain,
    repo,
    caches: spec.caches.map((c) => ({
      name: c.name,
      path: c.path,
      volume: sharedCacheVolume(spec.toolchain, c.name, spec.user ?? opts.defaultUser),
    })),
    setup: spec.setup.map(shell),
    install: spec.install.map(shell),
    steps,
    parallel: name === 'check' && steps.length > 1,
  });
}

/**
 * A cache key for a repository: a readable slug of `name` plus 12 hex chars of sha256(identity),
 * e.g. repoKey('/home/me/app') → "app-3f2a…". The local executor passes the source's real path;
 * the Dagger module, which never sees a host path, passes the project's manifest name.
 */
export function repoKey(identity: string, name: string = identity.split('/').filter(Boolean).pop() ?? 'repo'): string {
  const hash = createHash('sha256').update(identity).digest('hex').slice(0, 12);
  return `${slug(name, 40)}-${hash}`;
}

function slug(s: string, max: number): string {
  const out = s
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, max)
    .replace(/[-.]+$/, '');
  return out === '' ? 'x' : out;
}

function shell(line: string): PlanCommand {
  checkCommandText(line, 'command');
  return { display: line, argv: ['sh', '-c', line] };
}

function runCommand(cmd: string | readonly string[]): PlanCommand {
  if (typeof cmd === 'string') {
    if (cmd.trim() === '') throw new BerthError('BAD_INPUT', 'run: the command is empty. Pass a command, e.g. `berth run -- npm ci`.');
    return shell(cmd);
  }
  if (cmd.length === 0 || cmd[0] === '') {
    throw new BerthError('BAD_INPUT', 'run: the command is empty. Pass a command, e.g. `berth run -- npm ci`.');
  }
  for (const a of cmd) checkCommandText(a, 'argument');
  if (cmd.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0) > MAX_COMMAND_BYTES) {
    throw new BerthError('BAD_INPUT', `run: the command is longer than ${MAX_COMMAND_BYTES} bytes. Put it in a script in the source.`);
  }
  return { display: cmd.map(shellQuote).join(' '), argv: [...cmd] };
}

function checkCommandText(s: string, what: string): void {
  if (typeof s !== 'string' || s.includes('\0')) {
    throw new BerthError('BAD_INPUT', `${what} ${JSON.stringify(s)} contains a NUL byte: remove it.`);
  }
  if (Buffer.byteLength(s) > MAX_COMMAND_BYTES) {
    throw new BerthError(
      'BAD_INPUT',
      `${what} is longer than ${MAX_COMMAND_BYTES} bytes (${JSON.stringify(s.slice(0, 40))}…). Put it in a script in the source.`,
    );
  }
}

/** POSIX single-quote a word unless it is plainly safe. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The Dagger executor: translates a Plan into a chain of Dagger Container calls and runs it.
 *
 * The chain, in order (the local executor follows the same order, see pipelines/docker.ts):
 *   from(image) → withEnvVariable* (sorted) → withMountedCache* → withWorkdir →
 *   withExec(setup)* → withUser? → withDirectory(workdir, source) → withExec(install)* →
 *   withExec(step)*   (for a parallel `check`, each step forks the prepared container)
 * Setup runs as the image's default user before the source exists, so Dagger caches it per image
 * and it may install system packages; install and the steps run as the plan's user.
 *
 * Every command is wrapped as `timeout <s> …` because withExec has no timeout of its own. Dagger
 * cannot express two plan fields: `network` (the engine always provides networking) and
 * `resources` (no per-exec CPU/memory/pids limits); the local executor enforces both.
 *
 * This module only depends on the slice of the Dagger API it calls (the *Like interfaces below),
 * so its translation is tested with a recording fake; the real `dag`, `Container`, `Directory`
 * and `CacheVolume` satisfy those interfaces. It imports nothing from '@dagger.io/dagger' at
 * runtime: the SDK takes about a second to load, and the CLI and MCP server import pipelines/.
 */
import { builtinImageKey, toolchainImageOf, type BuiltinImageKey } from '../src/images.js';
import { BerthError } from '../src/errors.js';
import type { PhaseName, Plan, PlanCommand, PlanStep } from './plan.js';

/**
 * The public images the Dagger path uses in place of berth's locally built ones (a real Dagger
 * engine pulls from a registry and cannot see this machine's images). Same OS family and Node
 * major as the local recipes in docker/images.ts.
 */
export const DAGGER_PUBLIC_IMAGES: Readonly<Record<BuiltinImageKey, string>> = Object.freeze({
  node: 'node:18-bookworm',
  busybox: 'busybox:1.36',
  debian: 'debian:bookworm',
});

/** The image the Dagger path pulls for a plan's image: builtin names mapped, anything else as is. */
export function daggerImage(ref: string): string {
  const key = builtinImageKey(ref);
  return key === undefined ? (toolchainImageOf(ref)?.official ?? ref) : DAGGER_PUBLIC_IMAGES[key];
}

/** The Container calls the executor makes. Dagger's `Container` satisfies DaggerContainerLike<Container, Directory, CacheVolume>. */
export interface DaggerContainerLike<Self, Dir, Cache> {
  from(address: string): Self;
  withEnvVariable(name: string, value: string): Self;
  withMountedCache(path: string, cache: Cache, opts?: { owner?: string }): Self;
  withWorkdir(path: string): Self;
  withUser(name: string): Self;
  withDirectory(path: string, source: Dir, opts?: { exclude?: string[]; gitignore?: boolean; owner?: string }): Self;
  withExec(args: string[]): Self;
  sync(): Promise<unknown>;
  stdout(): Promise<string>;
  stderr(): Promise<string>;
}

/** The client calls the executor makes. Dagger's `dag` satisfies it. */
export interface DaggerClientLike<C, Cache> {
  container(): C;
  cacheVolume(key: string): Cache;
}

export interface DaggerSourceOptions {
  /**
   * Extra exclude patterns for the copied source (the module passes the source's .dockerignore
   * patterns). `.git` is always excluded and .gitignore rules always apply, as in the local executor.
   */
  readonly exclude?: readonly string[];
}

/** Patterns always left out of the copied source. */
export const SOURCE_EXCLUDES: readonly string[] = Object.freeze(['.git']);

/** `timeout <s> argv…`: whole seconds, at least 1. coreutils exits 124 on expiry, busybox 143. */
export function withTimeout(argv: readonly string[], timeoutMs: number): string[] {
  return ['timeout', String(Math.max(1, Math.ceil(timeoutMs / 1000))), ...argv];
}

/**
 * The prepared container: image, env, caches, workdir, setup, user, source, install. This is what
 * `dagger call workspace --source=. terminal` opens a shell in. Lazy: nothing runs until synced.
 */
export function daggerPrepared<C extends DaggerContainerLike<C, Dir, Cache>, Dir, Cache>(
  client: DaggerClientLike<C, Cache>,
  plan: Plan,
  source: Dir,
  opts: DaggerSourceOptions = {},
): C {
  let c = client.container().from(daggerImage(plan.image));
  for (const [k, v] of Object.entries(plan.env)) c = c.withEnvVariable(k, v);
  for (const cache of plan.caches) {
    c = c.withMountedCache(cache.path, client.cacheVolume(cache.volume), plan.user === undefined ? undefined : { owner: plan.user });
  }
  c = c.withWorkdir(plan.workdir);
  for (const cmd of plan.setup) c = c.withExec(withTimeout(cmd.argv, plan.timeoutMs));
  if (plan.user !== undefined) c = c.withUser(plan.user);
  c = c.withDirectory(plan.workdir, source, {
    exclude: [...SOURCE_EXCLUDES, ...(opts.exclude ?? [])],
    gitignore: true,
    ...(plan.user === undefined ? {} : { owner: plan.user }),
  });
  for (const cmd of plan.install) c = c.withExec(withTimeout(cmd.argv, plan.timeoutMs));
  return c;
}

export interface DaggerCommandOutput {
  readonly command: string;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time of the engine call that ran it (earlier links of the chain are cached by then). */
  readonly durationMs: number;
}

export interface DaggerStepResult {
  readonly name: PlanStep['name'];
  readonly commands: readonly DaggerCommandOutput[];
  readonly durationMs: number;
}

export interface DaggerRunResult {
  readonly target: Plan['target'];
  readonly image: string;
  /** Time to sync the prepared container (image, setup, source, install). */
  readonly prepareMs: number;
  readonly steps: readonly DaggerStepResult[];
}

/**
 * Run a plan on a Dagger engine: sync the prepared container once (so an install failure is
 * reported once, not per step), then each step's commands, the steps concurrently when the plan
 * says so. Every step runs to completion; if any failed, throws one BerthError STEP_FAILED that
 * carries each failing command's exit code and output (what `dagger call` prints before exiting
 * non-zero).
 */
export async function runPlanDagger<C extends DaggerContainerLike<C, Dir, Cache>, Dir, Cache>(
  client: DaggerClientLike<C, Cache>,
  plan: Plan,
  source: Dir,
  opts: DaggerSourceOptions = {},
): Promise<DaggerRunResult> {
  const prepared = daggerPrepared(client, plan, source, opts);
  const t0 = Date.now();
  try {
    await prepared.sync();
  } catch (err) {
    throw translateDaggerError(err, plan);
  }
  const prepareMs = Date.now() - t0;
  const runStep = async (step: PlanStep): Promise<DaggerStepResult> => {
    let c = prepared;
    const commands: DaggerCommandOutput[] = [];
    const stepStart = Date.now();
    for (const cmd of step.commands) {
      c = c.withExec(withTimeout(cmd.argv, plan.timeoutMs));
      const started = Date.now();
      try {
        const [stdout, stderr] = await Promise.all([c.stdout(), c.stderr()]);
        commands.push({ command: cmd.display, stdout, stderr, durationMs: Date.now() - started });
      } catch (err) {
        throw translateDaggerError(err, plan);
      }
    }
    return { name: step.name, commands, durationMs: Date.now() - stepStart };
  };

  let settled: PromiseSettledResult<DaggerStepResult>[];
  if (plan.parallel) {
    settled = await Promise.allSettled(plan.steps.map(runStep));
  } else {
    settled = [];
    for (const step of plan.steps) {
      const r = await runStep(step).then(
        (value) => ({ status: 'fulfilled', value }) as const,
        (reason: unknown) => ({ status: 'rejected', reason }) as const,
      );
      settled.push(r);
      if (r.status === 'rejected') break;
    }
  }
  const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason] : []));
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) {
    const parts = failures.map((f) => (f instanceof Error ? f.message : String(f)));
    const first = failures.find((f): f is BerthError => f instanceof BerthError && f.code === 'STEP_FAILED');
    throw new BerthError('STEP_FAILED', `${failures.length} steps of "${plan.target}" failed:\n\n${parts.join('\n\n')}`, {
      cause: failures[0],
      details: { ...(first?.details ?? {}), failures: failures.map((f) => (f instanceof BerthError ? f.details : undefined)) },
    });
  }
  return {
    target: plan.target,
    image: daggerImage(plan.image),
    prepareMs,
    steps: settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : [])),
  };
}

/** The text a module function returns for a successful run: each command's header and output. */
export function formatDaggerResult(result: DaggerRunResult): string {
  const out: string[] = [];
  for (const step of result.steps) {
    for (const c of step.commands) {
      out.push(`==> ${step.name}: ${c.command}`);
      if (c.stdout !== '') out.push(c.stdout.replace(/\n$/, ''));
      if (c.stderr !== '') out.push(c.stderr.replace(/\n$/, ''));
    }
  }
  out.push(`${result.target}: ok (${result.image})`);
  return `${out.join('\n')}\n`;
}

interface CommandRef {
  readonly phase: PhaseName;
  readonly command: PlanCommand;
}

/** Wrapped argv (as Dagger reports it in ExecError.cmd) → the plan command it came from. */
function commandLookup(plan: Plan): Map<string, CommandRef> {
  const map = new Map<string, CommandRef>();
  const add = (phase: PhaseName, command: PlanCommand) => {
    const key = JSON.stringify(withTimeout(command.argv, plan.timeoutMs));
    if (!map.has(key)) map.set(key, { phase, command });
  };
  for (const c of plan.setup) add('setup', c);
  for (const c of plan.install) add('install', c);
  for (const s of plan.steps) for (const c of s.commands) add(s.name, c);
  return map;
}

/** Output kept in an error message, per stream. */
const ERROR_TAIL_CHARS = 8 * 1024;

function tail(s: string): string {
  return s.length <= ERROR_TAIL_CHARS ? s : `…${s.slice(-ERROR_TAIL_CHARS)}`;
}

/** The fields of the SDK's ExecError (code D109) this translation reads. */
interface ExecErrorShape {
  name: 'ExecError';
  cmd: string[];
  exitCode: number;
  stdout: string;
  stderr: string;
}

function isExecError(err: unknown): err is ExecErrorShape {
  // Structural check instead of `instanceof`: the SDK is not loaded at runtime here (see header),
  // and these are the documented fields of @dagger.io/dagger's ExecError.
  const e = err as Partial<ExecErrorShape> | null;
  return err instanceof Error && e?.name === 'ExecError' && typeof e.exitCode === 'number' && Array.isArray(e.cmd);
}

/**
 * The one place Dagger's errors become RunnerErrors. An ExecError (a command exited non-zero)
 * becomes STEP_FAILED naming the phase, command and exit code with the tails of its stdout and
 * stderr; a timeout (exit 124 from coreutils `timeout`, 143 from busybox's) says so. Anything else
 * (engine, pull, GraphQL failures) becomes DAGGER_ERROR with the SDK's message.
 */
export function translateDaggerError(err: unknown, plan: Plan): BerthError {
  if (err instanceof BerthError) return err;
  if (isExecError(err)) {
    const ref = commandLookup(plan).get(JSON.stringify(err.cmd));
    const phase = ref?.phase ?? 'unknown';
    const command = ref?.command.display ?? err.cmd.join(' ');
    const timedOut = err.cmd[0] === 'timeout' && (err.exitCode === 124 || err.exitCode === 143);
    const what = timedOut
      ? `timed out after ${Math.max(1, Math.ceil(plan.timeoutMs / 1000))}s (raise stepTimeoutMs in berth.yaml or pass a longer timeout)`
      : `exited ${err.exitCode}`;
    const sections = [`${phase}: \`${command}\` ${what}`];
    if (err.stdout.trim() !== '') sections.push(`--- stdout ---\n${tail(err.stdout).replace(/\n$/, '')}`);
    if (err.stderr.trim() !== '') sections.push(`--- stderr ---\n${tail(err.stderr).replace(/\n$/, '')}`);
    return new BerthError('STEP_FAILED', sections.join('\n'), {
      cause: err,
      details: { phase, command, exitCode: err.exitCode, timedOut },
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new BerthError('DAGGER_ERROR', `Dagger engine call failed: ${message}`, { cause: err });
}

/**
 * What the Dagger module's functions (src/index.ts) do, kept out of the module file so it stays a
 * thin list of declarations: read the spec of a Dagger Directory through the same SourceReader
 * interface the CLI uses, then call the one pipeline entry (runPipeline) with a Dagger source.
 * Depends only on the *Like slices of the Dagger API, so it is exercised with the recording fake.
 */
import { BerthError } from '../src/errors.js';
import { resolveSpec } from '../src/project/index.js';
import { daggerPrepared, type DaggerClientLike, type DaggerContainerLike } from './dagger.js';
import { DirectorySourceReader, dockerignorePatterns, manifestName, type DirectoryLike } from './dagger-reader.js';
import { plan, repoKey, type PlanTarget } from './plan.js';
import { pipelineErrorResult, type PipelineResult } from './result.js';
import { daggerSource } from './run-dagger.js';
import { runPipeline } from './run.js';

interface Loaded {
  readonly spec: Awaited<ReturnType<typeof resolveSpec>>['spec'];
  readonly repo: string;
  readonly exclude: readonly string[];
}

async function load(source: DirectoryLike): Promise<Loaded> {
  const reader = new DirectorySourceReader(source);
  const resolved = await resolveSpec(reader);
  const name = (await manifestName(reader)) ?? 'source';
  const ignore = await reader.readFile('.dockerignore');
  return { spec: resolved.spec, repo: repoKey(`manifest:${name}`, name), exclude: ignore === undefined ? [] : dockerignorePatterns(ignore) };
}

/** Resolve the Directory's spec and run `target` on the Dagger engine through runPipeline. */
export async function runDaggerPipeline<C extends DaggerContainerLike<C, Dir, Cache>, Dir extends DirectoryLike, Cache>(
  client: DaggerClientLike<C, Cache>,
  source: Dir,
  target: PlanTarget,
): Promise<PipelineResult> {
  let loaded: Loaded;
  try {
    loaded = await load(source);
  } catch (err) {
    return pipelineErrorResult(typeof target === 'object' ? 'run' : target, err, { image: '', executor: 'dagger' });
  }
  return runPipeline(daggerSource(client, source, { repo: loaded.repo, exclude: loaded.exclude }), loaded.spec, target);
}

/**
 * What a module function returns: each step's output and a summary line. A failed run throws, so
 * `dagger call` exits non-zero with the failing command's output (or berth's error) as its message.
 */
export function daggerFunctionOutput(r: PipelineResult): string {
  if (!r.ok) {
    const failed = r.phases.find((p) => p.name === r.failedPhase);
    if (r.error) throw new BerthError(r.error.code, r.error.message, { ...(r.error.details ? { details: { ...r.error.details } } : {}) });
    throw new BerthError('STEP_FAILED', failed?.tail || `${r.step}: ${r.failedPhase ?? 'a phase'} exited ${r.exitCode}`, {
      details: { phase: r.failedPhase, exitCode: r.exitCode, failureKind: r.failureKind },
    });
  }
  const out: string[] = [];
  for (const p of r.phases) {
    if (p.name === 'setup' || p.name === 'install') continue;
    for (const c of p.commands) out.push(`==> ${p.name}: ${c.command}`);
    if (p.tail !== '') out.push(p.tail.replace(/\n$/, ''));
  }
  out.push(`${r.step}: ok (${r.image})`);
  return `${out.join('\n')}\n`;
}

/** The prepared container (setup, source, install) without running a step, for `dagger call workspace … terminal`. */
export async function daggerWorkspace<C extends DaggerContainerLike<C, Dir, Cache>, Dir extends DirectoryLike, Cache>(
  client: DaggerClientLike<C, Cache>,
  source: Dir,
): Promise<C> {
  const loaded = await load(source);
  // The target only names what would run next; the prepared container does not depend on it.
  const p = plan(loaded.spec, { run: ['sh'] }, { repo: loaded.repo });
  return daggerPrepared(client, p, source, { exclude: loaded.exclude });
}

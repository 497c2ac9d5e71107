/**
 * The Dagger module entry (`dagger call …`, configured by dagger.json at the repo root). Thin: it
 * resolves the spec of the given source through the same SourceReader interface the CLI uses,
 * builds the same Plan with pipelines/plan.ts, and hands it to the Dagger executor. This is the one
 * file in src/ allowed to import pipelines/ (scripts/check-imports.mjs).
 *
 *   dagger call test --source=.
 *   dagger call check --source=.
 *   dagger call run --source=. --cmd='npm run coverage'
 *   dagger call workspace --source=. terminal
 */
import { dag, func, object, type Container, type Directory } from '@dagger.io/dagger';
import {
  DirectorySourceReader,
  daggerPrepared,
  dockerignorePatterns,
  formatDaggerResult,
  manifestName,
  plan,
  repoKey,
  runPlanDagger,
  type Plan,
  type PlanTarget,
} from '../pipelines/index.js';
import { resolveSpec } from './project/index.js';

interface Loaded {
  readonly plan: Plan;
  readonly exclude: readonly string[];
}

async function load(source: Directory, target: PlanTarget): Promise<Loaded> {
  const reader = new DirectorySourceReader(source);
  const resolved = await resolveSpec(reader);
  const name = (await manifestName(reader)) ?? 'source';
  const ignore = await reader.readFile('.dockerignore');
  return {
    plan: plan(resolved.spec, target, { repo: repoKey(`manifest:${name}`, name) }),
    exclude: ignore === undefined ? [] : dockerignorePatterns(ignore),
  };
}

async function execute(source: Directory, target: PlanTarget): Promise<string> {
  const { plan: p, exclude } = await load(source, target);
  return formatDaggerResult(await runPlanDagger(dag, p, source, { exclude }));
}

@object()
export class Berth {
  /**
   * Run the build step of the source's berth.yaml (or the detected one). Fails with the step's
   * output when it exits non-zero.
   */
  @func()
  async build(source: Directory): Promise<string> {
    return execute(source, 'build');
  }

  /** Run the test step of the source's berth.yaml (or the detected one). */
  @func()
  async test(source: Directory): Promise<string> {
    return execute(source, 'test');
  }

  /** Run the lint step of the source's berth.yaml (or the detected one). */
  @func()
  async lint(source: Directory): Promise<string> {
    return execute(source, 'lint');
  }

  /** Run every defined step (build, test, lint) concurrently, each on its own copy of the prepared container. */
  @func()
  async check(source: Directory): Promise<string> {
    return execute(source, 'check');
  }

  /** Run an arbitrary shell command (sh -c) after setup and install. */
  @func()
  async run(source: Directory, cmd: string): Promise<string> {
    return execute(source, { run: cmd });
  }

  /**
   * The prepared container (image, env, caches, setup, source, install) without running a step:
   * `dagger call workspace --source=. terminal` opens a shell in it.
   */
  @func()
  async workspace(source: Directory): Promise<Container> {
    // The target only names what would run next; the prepared container does not depend on it.
    const { plan: p, exclude } = await load(source, { run: ['sh'] });
    return daggerPrepared(dag, p, source, { exclude });
  }
}

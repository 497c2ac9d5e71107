/**
 * berth's pipelines as a Dagger module: run a project's build, test and lint steps (from its
 * berth.yaml, or detected from package.json, Makefile, go.mod, Cargo.toml, pyproject.toml) in
 * containers on a Dagger engine, the same plan `berth test` runs on the local Docker engine.
 *
 *   dagger call test                      (the source defaults to the repository root)
 *   dagger call check --source=../app
 *   dagger call run --cmd='npm run coverage'
 *   dagger call workspace terminal
 *
 * This file only declares the module (dagger.json points the TypeScript SDK at src/index.ts); each
 * function calls the one pipeline entry through pipelines/dagger-module.ts. It is the one file in
 * src/ allowed to import pipelines/ (scripts/check-imports.mjs); the shared library's own entry is
 * src/lib.ts.
 */
import { argument, dag, func, object, type Container, type Directory } from '@dagger.io/dagger';
import { daggerFunctionOutput, daggerWorkspace, runDaggerPipeline } from '../pipelines/dagger-module.js';

/**
 * Left out of the source before it reaches the engine: dependencies, build outputs, VCS data and
 * virtualenvs are rebuilt by the install step or never needed (the copy also honours .gitignore
 * and .dockerignore inside the pipeline).
 */
const SOURCE_IGNORE = [
  '**/.git',
  '**/node_modules',
  '**/dist',
  '**/build',
  '**/target',
  '**/coverage',
  '**/.venv',
  '**/venv',
  '**/__pycache__',
  '**/.pytest_cache',
  '**/.mypy_cache',
  '**/.tox',
  '**/.gradle',
  '**/.next',
  '**/.turbo',
  '**/.cache',
];

/** Run a project's build, test and lint steps on a Dagger engine, the way `berth test` runs them locally. */
@object()
export class Berth {
  /**
   * Run the build step of the source's berth.yaml (or the detected one). Returns the step's output;
   * fails with the failing command's exit code and output tail.
   */
  @func()
  async build(
    /** The project directory. Defaults to the root of the repository that holds this module. */
    @argument({ defaultPath: '/', ignore: SOURCE_IGNORE }) source: Directory,
  ): Promise<string> {
    return daggerFunctionOutput(await runDaggerPipeline(dag, source, 'build'));
  }

  /**
   * Run the test step of the source's berth.yaml (or the detected one). Returns the step's output;
   * fails with the failing command's exit code and output tail.
   */
  @func()
  async test(
    /** The project directory. Defaults to the root of the repository that holds this module. */
    @argument({ defaultPath: '/', ignore: SOURCE_IGNORE }) source: Directory,
  ): Promise<string> {
    return daggerFunctionOutput(await runDaggerPipeline(dag, source, 'test'));
  }

  /**
   * Run the lint step of the source's berth.yaml (or the detected one). Returns the step's output;
   * fails with the failing command's exit code and output tail.
   */
  @func()
  async lint(
    /** The project directory. Defaults to the root of the repository that holds this module. */
    @argument({ defaultPath: '/', ignore: SOURCE_IGNORE }) source: Directory,
  ): Promise<string> {
    return daggerFunctionOutput(await runDaggerPipeline(dag, source, 'lint'));
  }

  /**
   * Run every defined step (build, test, lint) concurrently, each on its own copy of the prepared
   * container. Fails if any step fails, reporting each failure.
   */
  @func()
  async check(
    /** The project directory. Defaults to the root of the repository that holds this module. */
    @argument({ defaultPath: '/', ignore: SOURCE_IGNORE }) source: Directory,
  ): Promise<string> {
    return daggerFunctionOutput(await runDaggerPipeline(dag, source, 'check'));
  }

  /** Run an arbitrary shell command (sh -c) after the source's setup and install steps. */
  @func()
  async run(
    /** The project directory. Defaults to the root of the repository that holds this module. */
    @argument({ defaultPath: '/', ignore: SOURCE_IGNORE }) source: Directory,
    /** The shell command line to run in the project directory, e.g. "npm run coverage". */
    cmd: string,
  ): Promise<string> {
    return daggerFunctionOutput(await runDaggerPipeline(dag, source, { run: cmd }));
  }

  /**
   * The prepared container (image, env, caches, setup, source, install) without running a step:
   * `dagger call workspace terminal` opens a shell in it.
   */
  @func()
  async workspace(
    /** The project directory. Defaults to the root of the repository that holds this module. */
    @argument({ defaultPath: '/', ignore: SOURCE_IGNORE }) source: Directory,
  ): Promise<Container> {
    return daggerWorkspace(dag, source);
  }
}

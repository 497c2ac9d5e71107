// runPipeline, the one entry: the same PipelineResult shape from the Dagger executor (driven by a
// recording fake of the engine: no Dagger engine can run here) and the local executor (real Docker),
// the CLI's --json printing exactly the library's result, and one missing-image policy.
import { runBerth, type CliRun } from '../helpers/cli.js';
import { mkdir, mkdtemp, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExecError } from '@dagger.io/dagger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  daggerFunctionOutput,
  defaultUser,
  repoKey,
  runDaggerPipeline,
  runPipeline,
  type DaggerClientLike,
  type DaggerContainerLike,
  type DirectoryLike,
  type PipelineResult,
} from '../../pipelines/index.js';
import { resolveSpec } from '../../src/project/index.js';
import { LocalSourceReader } from '../../src/source-reader.js';
import { IMAGES } from '../../src/images.js';
import { describeDocker } from '../helpers/docker.js';
import { pipelineContainers } from './helpers.js';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

/** A local folder shaped like Dagger's Directory (entries() marks directories with "/"). */
function localDirectory(root: string): DirectoryLike {
  return {
    async entries(opts) {
      const ds = await readdir(join(root, opts?.path ?? ''), { withFileTypes: true });
      return ds.map((d) => (d.isDirectory() ? `${d.name}/` : d.name));
    },
    file: (path) => ({ contents: async () => readFile(join(root, path), 'utf8') }),
  };
}

/** Immutable recording container; an exec fails when `fail` returns an error for its argv. */
class Fake implements DaggerContainerLike<Fake, DirectoryLike, string> {
  constructor(
    readonly execs: readonly string[][],
    readonly fail: (argv: readonly string[]) => Error | undefined,
  ) {}
  #with(exec?: string[]): Fake {
    return new Fake(exec ? [...this.execs, exec] : this.execs, this.fail);
  }
  from = () => this.#with();
  withEnvVariable = () => this.#with();
  withMountedCache = () => this.#with();
  withWorkdir = () => this.#with();
  withUser = () => this.#with();
  withDirectory = () => this.#with();
  withExec = (args: string[]) => this.#with(args);
  #run(): string {
    for (const argv of this.execs) {
      const err = this.fail(argv);
      if (err) throw err;
    }
    return `ran ${this.execs.at(-1)?.slice(2).join(' ') ?? ''}\n`;
  }
  sync = async () => this.#run();
  stdout = async () => this.#run();
  stderr = async () => (this.#run(), '');
}

function engine(fail: (argv: readonly string[]) => Error | undefined = () => undefined): DaggerClientLike<Fake, string> {
  return { container: () => new Fake([], fail), cacheVolume: (key) => key };
}

const exitOn = (needle: string, code: number) => (argv: readonly string[]) =>
  argv.join(' ').includes(needle) ? new ExecError(`exit code: ${code}`, { cmd: [...argv], exitCode: code, stdout: 'so\n', stderr: 'se\n' }) : undefined;

const KEYS = ['durationMs', 'error', 'executor', 'exitCode', 'failedPhase', 'failureKind', 'image', 'ok', 'outcome', 'phases', 'runId', 'step'];
const PHASE_KEYS = ['commands', 'durationMs', 'exitCode', 'name', 'outcome', 'tail'];

function expectShape(r: PipelineResult): void {
  expect(Object.keys(r).sort()).toEqual(KEYS);
  for (const p of r.phases) expect(Object.keys(p).sort()).toEqual(PHASE_KEYS);
}

describe('runPipeline through the Dagger executor', () => {
  it('a passing run: the one result shape, phases install and test, the module output', async () => {
    const r = await runDaggerPipeline(engine(), localDirectory(fixture('node-pass')), 'test');
    expectShape(r);
    expect(r).toMatchObject({
      step: 'test',
      executor: 'dagger',
      image: 'node:24-bookworm-slim',
      ok: true,
      outcome: 'passed',
      exitCode: 0,
      failureKind: null,
      failedPhase: null,
      error: null,
    });
    expect(r.phases.map((p) => [p.name, p.outcome, p.exitCode])).toEqual([
      ['install', 'passed', 0],
      ['test', 'passed', 0],
    ]);
    expect(daggerFunctionOutput(r)).toBe('==> test: npm test\nran sh -c npm test\ntest: ok (node:24-bookworm-slim)\n');
  });

  it("a failing step: the step's own exit code, failureKind test; the module function throws", async () => {
    const r = await runDaggerPipeline(engine(exitOn('npm test', 3)), localDirectory(fixture('node-pass')), 'test');
    expectShape(r);
    expect(r).toMatchObject({ ok: false, outcome: 'failed', exitCode: 3, failureKind: 'test', failedPhase: 'test', error: null });
    expect(r.phases.map((p) => [p.name, p.outcome])).toEqual([
      ['install', 'passed'],
      ['test', 'failed'],
    ]);
    expect(r.phases[1]?.tail).toContain('test: `npm test` exited 3');
    expect(() => daggerFunctionOutput(r)).toThrow(expect.objectContaining({ code: 'STEP_FAILED' }));
  });

  it('an install failure is failureKind install, exit 4; a timeout is 124; an engine failure is infra (125)', async () => {
    const install = await runDaggerPipeline(engine(exitOn('npm ci', 1)), localDirectory(fixture('node-pass')), 'test');
    expect(install).toMatchObject({ outcome: 'failed', exitCode: 4, failureKind: 'install', failedPhase: 'install' });
    expect(install.phases[0]?.exitCode).toBe(1);
    expect(install.phases.map((p) => p.outcome)).toEqual(['failed', 'skipped']);

    const timeout = await runDaggerPipeline(engine(exitOn('npm test', 124)), localDirectory(fixture('node-pass')), 'test');
    expect(timeout).toMatchObject({ outcome: 'timeout', exitCode: 124, failureKind: 'test' });

    const down = await runDaggerPipeline(
      engine(() => new Error('connection refused')),
      localDirectory(fixture('node-pass')),
      'test',
    );
    expectShape(down);
    expect(down).toMatchObject({ outcome: 'error', exitCode: 125, failureKind: 'infra', phases: [], error: { code: 'DAGGER_ERROR' } });
    expect(() => daggerFunctionOutput(down)).toThrow(expect.objectContaining({ code: 'DAGGER_ERROR' }));
  });

  it('a parallel check: every failing step is failed with its own code, the others passed', async () => {
    const fail = (argv: readonly string[]) => exitOn('npm run lint', 4)(argv) ?? exitOn('npm run build', 2)(argv);
    const r = await runDaggerPipeline(engine(fail), localDirectory(fixture('node-lint')), 'check');
    expectShape(r);
    expect(r).toMatchObject({ step: 'check', outcome: 'failed', exitCode: 2, failedPhase: 'build', failureKind: 'test' });
    expect(r.phases.map((p) => [p.name, p.outcome, p.exitCode])).toEqual([
      ['install', 'passed', 0],
      ['build', 'failed', 2],
      ['test', 'passed', 0],
      ['lint', 'failed', 4],
    ]);
  });

  it("berth's own failures before the run come back as results too: bad berth.yaml, undefined step", async () => {
    const yaml = await runDaggerPipeline(engine(), localDirectory(fixture('broken-yaml')), 'test');
    expect(yaml).toMatchObject({ outcome: 'error', exitCode: 125, error: { code: 'SPEC_YAML' } });
    const undef = await runDaggerPipeline(engine(), localDirectory(fixture('node-pass')), 'lint');
    expect(undef).toMatchObject({ step: 'lint', outcome: 'error', exitCode: 125, error: { code: 'STEP_UNDEFINED' } });
  });

  it('the default user is decided once: the host uid:gid locally, the image default on Dagger', () => {
    expect(defaultUser({ kind: 'local', dir: '/x' })).toBe(`${process.getuid?.()}:${process.getgid?.()}`);
    expect(defaultUser({ kind: 'dagger', repo: 'r-1', run: async () => Promise.reject(new Error('unused')) })).toBeUndefined();
  });
});

function cli(args: string[]): Promise<CliRun> {
  return runBerth(args);
}

/** The fields that do not depend on timing or run ids. */
function stable(r: PipelineResult) {
  return {
    ...r,
    durationMs: 0,
    runId: null,
    phases: r.phases.map((p) => ({ ...p, durationMs: 0, commands: p.commands.map((c) => ({ ...c, durationMs: 0 })) })),
  };
}

describeDocker('runPipeline through the local executor (real Docker): library and CLI agree', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await realpath(await mkdtemp(join(tmpdir(), 'berth-entry-')));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  async function project(name: string, yaml: string): Promise<string> {
    const dir = join(tmp, name);
    await mkdir(dir);
    await writeFile(join(dir, 'berth.yaml'), yaml);
    return dir;
  }

  it('a failing step: the CLI prints exactly the result the library returns, and exits with its code', async () => {
    const dir = await project('fails', `image: ${IMAGES.busybox}\ninstall: echo installing\ntest:\n  - echo first\n  - echo second; exit 3\n`);
    const { spec } = await resolveSpec(new LocalSourceReader(dir));
    const lib = await runPipeline({ kind: 'local', dir }, spec, 'test');
    expectShape(lib);
    expect(lib).toMatchObject({
      step: 'test',
      executor: 'local',
      ok: false,
      outcome: 'failed',
      exitCode: 3,
      failureKind: 'test',
      failedPhase: 'test',
      error: null,
    });
    expect(lib.phases.map((p) => [p.name, p.outcome, p.exitCode, p.commands.length])).toEqual([
      ['install', 'passed', 0, 1],
      ['test', 'failed', 3, 2],
    ]);
    const r = await cli(['test', `--source=${dir}`, '--json']);
    expect(r.code, r.stderr).toBe(3);
    const printed = JSON.parse(r.stdout) as PipelineResult;
    expectShape(printed);
    expect(stable(printed)).toEqual(stable(lib));
    expect(await pipelineContainers(repoKey(dir))).toEqual([]);
  });

  it("a missing image (not one of berth's): the same IMAGE_MISSING result from the library and the CLI, exit 125, nothing left", async () => {
    // pull: never: the image policy must not reach for a registry (none answers here anyway).
    const dir = await project('noimage', 'image: berth-test-no-such-image:0\npull: never\ninstall: []\ntest: echo never\n');
    const { spec } = await resolveSpec(new LocalSourceReader(dir));
    const lib = await runPipeline({ kind: 'local', dir }, spec, 'test');
    expectShape(lib);
    expect(lib).toMatchObject({ ok: false, outcome: 'error', exitCode: 125, failureKind: 'infra', phases: [], error: { code: 'IMAGE_MISSING' } });
    expect(lib.error?.message).toContain('berth-test-no-such-image:0');
    const r = await cli(['test', `--source=${dir}`, '--json']);
    expect(r.code).toBe(125);
    expect(stable(JSON.parse(r.stdout) as PipelineResult)).toEqual(stable(lib));
    expect(r.stderr).toContain(`berth: ${lib.error?.message}`);
    expect(await pipelineContainers(repoKey(dir))).toEqual([]);
  });

  it('a step berth cannot plan (undefined) is a result with STEP_UNDEFINED in both, before any container exists', async () => {
    const dir = await project('nolint', `image: ${IMAGES.busybox}\ntest: echo t\n`);
    const { spec } = await resolveSpec(new LocalSourceReader(dir));
    const lib = await runPipeline({ kind: 'local', dir }, spec, 'lint');
    expect(lib).toMatchObject({ step: 'lint', outcome: 'error', exitCode: 125, error: { code: 'STEP_UNDEFINED' } });
    const r = await cli(['lint', `--source=${dir}`, '--json']);
    expect(r.code).toBe(125);
    expect(stable(JSON.parse(r.stdout) as PipelineResult)).toEqual(stable(lib));
  });
});

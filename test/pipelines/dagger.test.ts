// The Dagger executor's translation of a Plan into Container calls, checked against a recording
// fake of the Container/CacheVolume API (no Dagger engine can run here; this fake stands in for the
// engine only). ExecError is the SDK's real class.
import { ExecError } from '@dagger.io/dagger';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  DAGGER_PUBLIC_IMAGES,
  daggerImage,
  daggerPrepared,
  formatDaggerResult,
  plan,
  runPlanDagger,
  translateDaggerError,
  withTimeout,
  type DaggerClientLike,
  type DaggerContainerLike,
} from '../../pipelines/index.js';
import { IMAGES } from '../../src/images.js';
import { LocalSourceReader } from '../../src/source-reader.js';
import { resolveSpec } from '../../src/project/index.js';
import type { ResolvedSpec } from '../../src/project/types.js';

type Call = readonly [string, ...unknown[]];
const SOURCE = { fake: 'source-directory' } as const;
type Source = typeof SOURCE;
interface Cache {
  readonly key: string;
}

/** What the fake engine does when a chain is evaluated. */
interface Engine {
  /** Every chain evaluated (sync/stdout/stderr), in order. */
  readonly evaluated: Call[][];
  /** Return an ExecError to make the exec with these args fail. */
  fail?: (args: readonly string[]) => ExecError | undefined;
}

/** Immutable like Dagger's Container: each call returns a new object with the call appended. */
class FakeContainer implements DaggerContainerLike<FakeContainer, Source, Cache> {
  constructor(
    readonly calls: readonly Call[],
    readonly engine: Engine,
  ) {}
  #with(...call: Call): FakeContainer {
    return new FakeContainer([...this.calls, call], this.engine);
  }
  from(address: string) {
    return this.#with('from', address);
  }
  withEnvVariable(name: string, value: string) {
    return this.#with('withEnvVariable', name, value);
  }
  withMountedCache(path: string, cache: Cache, opts?: { owner?: string }) {
    return opts === undefined ? this.#with('withMountedCache', path, cache.key) : this.#with('withMountedCache', path, cache.key, opts);
  }
  withWorkdir(path: string) {
    return this.#with('withWorkdir', path);
  }
  withUser(name: string) {
    return this.#with('withUser', name);
  }
  withDirectory(path: string, source: Source, opts?: { exclude?: string[]; gitignore?: boolean; owner?: string }) {
    return this.#with('withDirectory', path, source === SOURCE ? 'SOURCE' : source, opts);
  }
  withExec(args: string[]) {
    return this.#with('withExec', args);
  }
  #evaluate(): string {
    this.engine.evaluated.push([...this.calls]);
    let last = '';
    for (const [name, ...args] of this.calls) {
      if (name !== 'withExec') continue;
      const argv = args[0] as string[];
      const err = this.engine.fail?.(argv);
      if (err) throw err;
      last = argv.join(' ');
    }
    return last;
  }
  async sync() {
    this.#evaluate();
    return this;
  }
  async stdout() {
    return `out: ${this.#evaluate()}\n`;
  }
  async stderr() {
    this.#evaluate();
    return '';
  }
}

function fakeClient(engine: Engine = { evaluated: [] }): DaggerClientLike<FakeContainer, Cache> & { engine: Engine } {
  return {
    engine,
    container: () => new FakeContainer([], engine),
    cacheVolume: (key: string) => ({ key }),
  };
}

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
const specOf = async (name: string) => (await resolveSpec(new LocalSourceReader(fixture(name)))).spec;
const T = (argv: string[], s = 1800) => ['timeout', String(s), ...argv];

function spec(over: Partial<ResolvedSpec> = {}): ResolvedSpec {
  return {
    image: IMAGES.busybox,
    workdir: '/src',
    env: { B: '2', A: '1' },
    setup: ['apk-ish setup'],
    install: ['echo install'],
    steps: { build: ['echo build'], test: ['echo t1', 'echo t2'], lint: ['echo lint'] },
    caches: [{ name: 'pip', path: '/var/cache/berth/pip' }],
    volumes: [],
    resources: { cpus: 1, memoryMb: 512, pids: 128 },
    network: 'none',
    user: undefined,
    idleTimeoutMs: 60_000,
    stepTimeoutMs: 90_500,
    pool: { size: 0 },
    toolchain: 'python',
    packageManager: undefined,
    ...over,
  };
}

function execError(cmd: string[], exitCode: number, stdout = '', stderr = ''): ExecError {
  return new ExecError(`process "${cmd.join(' ')}" did not complete successfully: exit code: ${exitCode}`, { cmd, exitCode, stdout, stderr });
}

describe('Dagger executor: Plan → Container calls', () => {
  it('node-pass test: the exact chain, public image, cache shared per toolchain, timeout-wrapped execs', async () => {
    const p = plan(await specOf('node-pass'), 'test', { repo: 'app-0123456789ab' });
    const client = fakeClient();
    const result = await runPlanDagger(client, p, SOURCE, { exclude: ['secret.env'] });
    const prepared: Call[] = [
      ['from', 'node:24-bookworm-slim'],
      ['withEnvVariable', 'npm_config_cache', '/var/cache/berth/npm'],
      ['withMountedCache', '/var/cache/berth/npm', 'berth-cache-node-npm'],
      ['withWorkdir', '/workspace'],
      ['withDirectory', '/workspace', 'SOURCE', { exclude: ['.git', 'secret.env'], gitignore: true }],
      ['withExec', T(['sh', '-c', 'npm ci'])],
    ];
    // Prepared synced once, then the step (stdout + stderr of the same chain).
    expect(client.engine.evaluated).toEqual([
      prepared,
      [...prepared, ['withExec', T(['sh', '-c', 'npm test'])]],
      [...prepared, ['withExec', T(['sh', '-c', 'npm test'])]],
    ]);
    expect(result).toEqual({
      target: 'test',
      image: 'node:24-bookworm-slim',
      prepareMs: expect.any(Number),
      steps: [
        {
          name: 'test',
          durationMs: expect.any(Number),
          commands: [{ command: 'npm test', stdout: 'out: timeout 1800 sh -c npm test\n', stderr: '', durationMs: expect.any(Number) }],
        },
      ],
    });
    expect(formatDaggerResult(result)).toBe('==> test: npm test\nout: timeout 1800 sh -c npm test\ntest: ok (node:24-bookworm-slim)\n');
  });

  it('orders env (sorted), caches, workdir, setup before user and source, owner for a non-root user', () => {
    const p = plan(spec({ user: '1000:1000' }), 'build', { repo: 'r-1' });
    const c = daggerPrepared(fakeClient(), p, SOURCE);
    expect(c.calls).toEqual([
      ['from', DAGGER_PUBLIC_IMAGES.busybox],
      ['withEnvVariable', 'A', '1'],
      ['withEnvVariable', 'B', '2'],
      ['withMountedCache', '/var/cache/berth/pip', 'berth-cache-python-pip-u1000', { owner: '1000:1000' }],
      ['withWorkdir', '/src'],
      ['withExec', T(['sh', '-c', 'apk-ish setup'], 91)],
      ['withUser', '1000:1000'],
      ['withDirectory', '/src', 'SOURCE', { exclude: ['.git'], gitignore: true, owner: '1000:1000' }],
      ['withExec', T(['sh', '-c', 'echo install'], 91)],
    ]);
  });

  it('check forks the prepared container: each step chain starts from the same prefix', async () => {
    const p = plan(spec(), 'check', { repo: 'r-1' });
    const client = fakeClient();
    const result = await runPlanDagger(client, p, SOURCE);
    const preparedLen = daggerPrepared(fakeClient(), p, SOURCE).calls.length;
    const stepChains = client.engine.evaluated.slice(1).map((chain) => chain.slice(preparedLen).map((c) => (c[1] as string[]).slice(2).join(' ')));
    expect(new Set(stepChains.map((c) => c.join(' | ')))).toEqual(
      new Set(['sh -c echo build', 'sh -c echo t1', 'sh -c echo t1 | sh -c echo t2', 'sh -c echo lint']),
    );
    expect(result.steps.map((s) => [s.name, s.commands.map((c) => c.command)])).toEqual([
      ['build', ['echo build']],
      ['test', ['echo t1', 'echo t2']],
      ['lint', ['echo lint']],
    ]);
  });

  it('run with an argv wraps it in timeout without a shell', async () => {
    const p = plan(spec({ setup: [], install: [] }), { run: ['node', '-e', '1'] }, { timeoutMs: 2500 });
    const client = fakeClient();
    await runPlanDagger(client, p, SOURCE);
    expect(client.engine.evaluated.at(-1)?.at(-1)).toEqual(['withExec', ['timeout', '3', 'node', '-e', '1']]);
  });

  it('maps only builtin images to public ones', () => {
    expect(daggerImage(IMAGES.node)).toBe('node:18-bookworm');
    expect(daggerImage(IMAGES.busybox)).toBe(DAGGER_PUBLIC_IMAGES.busybox);
    expect(daggerImage('python:3.12-slim')).toBe('python:3.12-slim');
    expect(withTimeout(['x'], 1)).toEqual(['timeout', '1', 'x']);
  });
});

describe('Dagger executor: failures', () => {
  it('a failing step throws STEP_FAILED with the command, exit code and output', async () => {
    const p = plan(spec(), 'test', { repo: 'r-1' });
    const client = fakeClient({
      evaluated: [],
      fail: (args) => (args.includes('echo t2') ? execError(args as string[], 3, 'partial out\n', 'AssertionError: boom\n') : undefined),
    });
    const err = await runPlanDagger(client, p, SOURCE).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'BerthError', code: 'STEP_FAILED', details: { phase: 'test', command: 'echo t2', exitCode: 3, timedOut: false } });
    expect((err as Error).message).toBe('test: `echo t2` exited 3\n--- stdout ---\npartial out\n--- stderr ---\nAssertionError: boom');
    expect((err as Error).cause).toBeInstanceOf(ExecError);
  });

  it('an install failure is reported once, as install, before any step runs', async () => {
    const p = plan(spec(), 'check', { repo: 'r-1' });
    const client = fakeClient({ evaluated: [], fail: (args) => (args.includes('echo install') ? execError(args as string[], 1, '', 'E404') : undefined) });
    await expect(runPlanDagger(client, p, SOURCE)).rejects.toMatchObject({ code: 'STEP_FAILED', details: { phase: 'install', exitCode: 1 } });
    expect(client.engine.evaluated).toHaveLength(1);
  });

  it('check runs every step to completion and reports all failures', async () => {
    const p = plan(spec(), 'check', { repo: 'r-1' });
    const client = fakeClient({
      evaluated: [],
      fail: (args) =>
        args.includes('echo build') ? execError(args as string[], 2, 'b') : args.includes('echo lint') ? execError(args as string[], 4, 'l') : undefined,
    });
    const err = (await runPlanDagger(client, p, SOURCE).then(
      () => undefined,
      (e: unknown) => e,
    )) as Error;
    expect(err).toMatchObject({ code: 'STEP_FAILED', details: { phase: 'build', exitCode: 2 } });
    expect(err.message).toMatch(/^2 steps of "check" failed:\n\nbuild: `echo build` exited 2\n--- stdout ---\nb\n\nlint: `echo lint` exited 4/);
    // test still ran (both of its commands) although build failed.
    expect(client.engine.evaluated.some((chain) => JSON.stringify(chain).includes('echo t2'))).toBe(true);
  });

  it('sequential steps stop at the first failure', async () => {
    const p = plan(spec(), 'test', { repo: 'r-1' });
    const client = fakeClient({ evaluated: [], fail: (args) => (args.includes('echo t1') ? execError(args as string[], 9) : undefined) });
    await expect(runPlanDagger(client, p, SOURCE)).rejects.toMatchObject({ details: { command: 'echo t1', exitCode: 9 } });
    expect(client.engine.evaluated.some((chain) => JSON.stringify(chain).includes('echo t2'))).toBe(false);
  });

  it('translates a timeout exit and non-exec errors', () => {
    const p = plan(spec(), 'test', { timeoutMs: 4000 });
    const timedOut = translateDaggerError(execError(T(['sh', '-c', 'echo t1'], 4), 124), p);
    expect(timedOut.code).toBe('STEP_FAILED');
    expect(timedOut.message).toMatch(/^test: `echo t1` timed out after 4s \(raise stepTimeoutMs/);
    expect(timedOut.details).toMatchObject({ timedOut: true });
    const other = translateDaggerError(new Error('failed to resolve image: pull access denied'), p);
    expect(other.code).toBe('DAGGER_ERROR');
    expect(other.message).toBe('Dagger engine call failed: failed to resolve image: pull access denied');
    // Output tails are bounded.
    const big = translateDaggerError(execError(T(['sh', '-c', 'echo t1'], 4), 1, 'x'.repeat(100_000)), p);
    expect(big.message.length).toBeLessThan(10_000);
  });
});

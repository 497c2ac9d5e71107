// plan(): the exact Plan for each fixture, and for hand-built specs the edge cases (check, run,
// undefined steps, hostile commands, timeouts). Pure: no Docker.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { plan, repoKey, shellQuote, type Plan } from '../../pipelines/index.js';
import { IMAGES } from '../../src/images.js';
import { LocalSourceReader } from '../../src/source-reader.js';
import { resolveSpec, TOOLCHAIN_IMAGES } from '../../src/project/index.js';
import type { ResolvedSpec } from '../../src/project/types.js';
import { isBerthError } from '../../src/errors.js';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
const specOf = async (name: string) => (await resolveSpec(new LocalSourceReader(fixture(name)))).spec;

const sh = (line: string) => ({ display: line, argv: ['sh', '-c', line] });
const NPM_CACHE = { name: 'npm', path: '/var/cache/berth/npm' };
const NODE_BASE = {
  // Detection gives a Node project its own toolchain image (issue 13).
  image: TOOLCHAIN_IMAGES.node,
  workdir: '/workspace',
  env: { npm_config_cache: '/var/cache/berth/npm' },
  user: '1000:1000',
  network: 'none',
  resources: { cpus: 2, memoryMb: 2048, pids: 1024 },
  timeoutMs: 30 * 60_000,
  toolchain: 'node',
  setup: [],
} as const;

function spec(over: Partial<ResolvedSpec> = {}): ResolvedSpec {
  return {
    image: IMAGES.busybox,
    workdir: '/src',
    env: { ZED: 'last', ALPHA: 'first' },
    setup: ['echo setup'],
    install: ['echo install'],
    steps: { build: ['echo build'], test: ['echo t1', 'echo t2'], lint: ['echo lint'] },
    caches: [{ name: 'pip', path: '/var/cache/berth/pip' }],
    volumes: [{ name: 'data', path: '/data' }],
    resources: { cpus: 1.5, memoryMb: 512, pids: 128 },
    network: 'none',
    user: undefined,
    idleTimeoutMs: 60_000,
    stepTimeoutMs: 90_000,
    pool: { size: 0 },
    toolchain: 'python',
    packageManager: undefined,
    ...over,
  };
}

function expectRunnerError(fn: () => unknown, code: string, text: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(isBerthError(err), String(err)).toBe(true);
    expect((err as { code: string }).code).toBe(code);
    expect((err as Error).message).toMatch(text);
    return;
  }
  throw new Error(`expected BerthError ${code}`);
}

describe('plan() for the fixtures', () => {
  const opts = { repo: 'fixture-0123456789ab', defaultUser: '1000:1000' };

  it('node-pass: test = npm ci then npm test, npm cache shared per toolchain and user', async () => {
    expect(plan(await specOf('node-pass'), 'test', opts)).toEqual({
      ...NODE_BASE,
      // An install phase gets the network by default (network.install: bridge).
      installNetwork: 'bridge',
      target: 'test',
      repo: 'fixture-0123456789ab',
      caches: [{ ...NPM_CACHE, volume: 'berth-cache-node-npm-u1000' }],
      install: [sh('npm ci')],
      steps: [{ name: 'test', commands: [sh('npm test')] }],
      parallel: false,
    } satisfies Plan);
  });

  it('node-pass: check runs build and test (no lint defined) in parallel', async () => {
    const p = plan(await specOf('node-pass'), 'check', opts);
    expect(p.steps).toEqual([
      { name: 'build', commands: [sh('npm run build')] },
      { name: 'test', commands: [sh('npm test')] },
    ]);
    expect(p.parallel).toBe(true);
    expect(p.target).toBe('check');
  });

  it('node-fail: no lockfile, so npm install; the failing test step', async () => {
    const p = plan(await specOf('node-fail'), 'test', opts);
    expect(p.install).toEqual([sh('npm install')]);
    expect(p.steps).toEqual([{ name: 'test', commands: [sh('npm test')] }]);
  });

  it('node-lint: check has build, test and lint, in that order', async () => {
    const p = plan(await specOf('node-lint'), 'check', opts);
    expect(p.steps.map((s) => [s.name, s.commands.map((c) => c.display)])).toEqual([
      ['build', ['npm run build']],
      ['test', ['npm test']],
      ['lint', ['npm run lint']],
    ]);
    expect(p.parallel).toBe(true);
    expect(plan(await specOf('node-lint'), 'lint', opts).steps).toEqual([{ name: 'lint', commands: [sh('npm run lint')] }]);
  });

  it('make: detected make targets, the env from berth.yaml, no caches, no install', async () => {
    expect(plan(await specOf('make'), 'test', opts)).toEqual({
      target: 'test',
      image: IMAGES.node,
      workdir: '/workspace',
      env: { PATH: '/workspace/tools:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
      user: '1000:1000',
      network: 'none',
      resources: { cpus: 2, memoryMb: 2048, pids: 1024 },
      timeoutMs: 30 * 60_000,
      toolchain: 'make',
      repo: 'fixture-0123456789ab',
      caches: [],
      setup: [],
      install: [],
      steps: [{ name: 'test', commands: [sh('make test')] }],
      parallel: false,
    } satisfies Plan);
    // No lint target in the Makefile: `check` is build + test.
    expect(plan(await specOf('make'), 'check', opts).steps.map((s) => s.name)).toEqual(['build', 'test']);
  });

  it('broken-yaml: resolving fails before any plan exists', async () => {
    await expect(specOf('broken-yaml')).rejects.toMatchObject({ code: 'SPEC_YAML' });
  });
});

describe('plan() semantics', () => {
  it('sorts env, keeps setup/install/steps, maps caches to volumes, leaves volumes out', () => {
    const p = plan(spec(), 'test', { repo: 'r-1' });
    expect(Object.keys(p.env)).toEqual(['ALPHA', 'ZED']);
    expect(p.setup).toEqual([sh('echo setup')]);
    expect(p.install).toEqual([sh('echo install')]);
    expect(p.steps).toEqual([{ name: 'test', commands: [sh('echo t1'), sh('echo t2')] }]);
    expect(p.caches).toEqual([{ name: 'pip', path: '/var/cache/berth/pip', volume: 'berth-cache-python-pip' }]);
    expect(p.timeoutMs).toBe(90_000);
    expect(p.user).toBeUndefined();
    expect(p).not.toHaveProperty('volumes');
  });

  it('the spec user wins over the default user; no default leaves it undefined', () => {
    expect(plan(spec({ user: 'node' }), 'build', { defaultUser: '1000:1000' }).user).toBe('node');
    expect(plan(spec(), 'build', { defaultUser: '1000:1000' }).user).toBe('1000:1000');
  });

  it('a single-step check is not parallel', () => {
    const p = plan(spec({ steps: { build: [], test: ['t'], lint: [] } }), 'check');
    expect(p.steps.map((s) => s.name)).toEqual(['test']);
    expect(p.parallel).toBe(false);
  });

  it('run: a string is a shell line, an array an argv with a quoted display', () => {
    expect(plan(spec(), { run: 'npm ci && npm test' }).steps).toEqual([{ name: 'run', commands: [sh('npm ci && npm test')] }]);
    const p = plan(spec(), { run: ['node', '-e', "console.log('hi there')"] });
    expect(p.target).toBe('run');
    expect(p.steps).toEqual([
      { name: 'run', commands: [{ display: `node -e 'console.log('\\''hi there'\\'')'`, argv: ['node', '-e', "console.log('hi there')"] }] },
    ]);
  });

  it('the result is deeply frozen', () => {
    const p = plan(spec(), 'check');
    expect(Object.isFrozen(p)).toBe(true);
    expect(Object.isFrozen(p.steps[0]?.commands[0]?.argv)).toBe(true);
    expect(Object.isFrozen(p.env)).toBe(true);
  });

  it('an undefined step or an empty check is STEP_UNDEFINED, naming the remedy', () => {
    const none = spec({ steps: { build: [], test: [], lint: [] } });
    expectRunnerError(() => plan(none, 'lint'), 'STEP_UNDEFINED', /step "lint" is not defined.*Add "lint: <command>" to berth.yaml/);
    expectRunnerError(() => plan(none, 'check'), 'STEP_UNDEFINED', /"check" has nothing to run/);
  });

  it('rejects hostile or malformed input with BAD_INPUT', () => {
    expectRunnerError(() => plan(spec(), { run: '' }), 'BAD_INPUT', /command is empty/);
    expectRunnerError(() => plan(spec(), { run: [] }), 'BAD_INPUT', /command is empty/);
    expectRunnerError(() => plan(spec(), { run: ['echo', 'a\0b'] }), 'BAD_INPUT', /NUL/);
    expectRunnerError(() => plan(spec(), { run: 'x'.repeat(70_000) }), 'BAD_INPUT', /longer than/);
    expectRunnerError(() => plan(spec(), 'deploy' as never), 'BAD_INPUT', /unknown pipeline "deploy"/);
    expectRunnerError(() => plan(spec(), 'test', { timeoutMs: 0 }), 'BAD_INPUT', /timeout 0 ms/);
    expectRunnerError(() => plan(spec(), 'test', { timeoutMs: 1.5 }), 'BAD_INPUT', /timeout/);
    expectRunnerError(() => plan(spec(), 'test', { repo: '../etc' }), 'BAD_INPUT', /repo key "..\/etc"/);
  });

  it('--timeout overrides the spec', () => {
    expect(plan(spec(), 'test', { timeoutMs: 5000 }).timeoutMs).toBe(5000);
  });
});

describe('repoKey / shellQuote', () => {
  it('is a stable, Docker-safe slug plus a hash of the identity', () => {
    const a = repoKey('/home/me/My App!');
    expect(a).toMatch(/^my-app-[0-9a-f]{12}$/);
    expect(repoKey('/home/me/My App!')).toBe(a);
    expect(repoKey('/other/My App!')).not.toBe(a);
    expect(repoKey('/', '')).toMatch(/^x-[0-9a-f]{12}$/);
    expect(repoKey('/x', '../../..')).toMatch(/^x-[0-9a-f]{12}$/);
    // A volume name built from it is valid for Docker: [a-zA-Z0-9][a-zA-Z0-9_.-]+
    expect(plan(spec(), 'test', { repo: repoKey('/tmp/ü ü') }).caches[0]?.volume).toMatch(/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/);
  });

  it('quotes only what needs quoting', () => {
    expect(shellQuote('npm')).toBe('npm');
    expect(shellQuote('a b')).toBe("'a b'");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote('$(rm -rf /)')).toBe("'$(rm -rf /)'");
  });
});

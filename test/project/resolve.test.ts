import { describe, expect, it } from 'vitest';
import { isBerthError } from '../../src/errors.js';
import { DEFAULT_NODE_MAJOR, IMAGES, nodeImage } from '../../src/images.js';
import { CACHE_ROOT, resolveSpec, SPEC_DEFAULTS, specFromYaml, type Resolved } from '../../src/project/index.js';
import { pkg, reader } from './tree.js';

const nodeProject = { 'package.json': pkg({ build: 'tsc', test: 'vitest run', lint: 'eslint .' }), 'package-lock.json': '{}' };

async function resolveFiles(files: Record<string, string>, overrides?: Parameters<typeof resolveSpec>[1]): Promise<Resolved> {
  return resolveSpec(await reader(files), overrides);
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

describe('resolveSpec: layers', () => {
  it('detection + defaults when there is no berth.yaml', async () => {
    const r = await resolveFiles(nodeProject);
    expect(r.configFile).toBeUndefined();
    expect(r.spec.toolchain).toBe('node');
    expect(r.spec.packageManager).toBe('npm');
    expect(r.spec.image).toBe(nodeImage(DEFAULT_NODE_MAJOR).ref);
    expect(r.spec.workdir).toBe('/workspace');
    expect(r.spec.network).toBe('none');
    expect(r.spec.user).toBeUndefined();
    expect(r.spec.idleTimeoutMs).toBe(30 * 60_000);
    expect(r.spec.stepTimeoutMs).toBe(30 * 60_000);
    expect(r.spec.pool).toEqual({ size: 0 });
    expect(r.spec.resources).toEqual(SPEC_DEFAULTS.resources);
    expect(r.spec.install).toEqual(['npm ci']);
    expect(r.spec.steps).toEqual({ build: ['npm run build'], test: ['npm test'], lint: ['npm run lint'] });
    expect(r.origins).toMatchObject({
      image: 'detected',
      install: 'detected',
      'steps.test': 'detected',
      workdir: 'default',
      network: 'default',
      resources: 'default',
    });
    expect(r.hash).toMatch(/^[0-9a-f]{16}$/);
  });

  it('merges a partial berth.yaml with detection, field by field', async () => {
    const r = await resolveFiles({
      ...nodeProject,
      'berth.yaml': [
        'test: npm run test:unit',
        'lint: []',
        'env:',
        '  FOO: bar',
        'resources:',
        '  memoryMb: 512',
        'caches:',
        '  npm: /cache/npm',
        '  extra: /cache/extra',
        'idleTimeout: 90s',
        'timeout: 1h30m',
        '',
      ].join('\n'),
    });
    expect(r.configFile).toBe('berth.yaml');
    expect(r.spec.steps.test).toEqual(['npm run test:unit']);
    expect(r.spec.steps.build).toEqual(['npm run build']); // still detected
    expect(r.spec.steps.lint).toEqual([]); // explicitly disabled by the file
    expect(r.spec.install).toEqual(['npm ci']);
    expect(r.spec.env).toEqual({ npm_config_cache: `${CACHE_ROOT}/npm`, FOO: 'bar' });
    expect(r.spec.resources).toEqual({ ...SPEC_DEFAULTS.resources, memoryMb: 512 });
    expect(r.spec.caches).toEqual([
      { name: 'extra', path: '/cache/extra' },
      { name: 'npm', path: '/cache/npm' },
    ]);
    expect(r.spec.idleTimeoutMs).toBe(90_000);
    expect(r.spec.stepTimeoutMs).toBe(90 * 60_000);
    expect(r.origins).toMatchObject({
      'steps.test': 'file',
      'steps.build': 'detected',
      'steps.lint': 'file',
      steps: 'file',
      env: 'file',
      'env.FOO': 'file',
      'env.npm_config_cache': 'detected',
      'resources.memoryMb': 'file',
      'resources.cpus': 'default',
      'caches.npm': 'file',
      image: 'detected',
      idleTimeoutMs: 'file',
    });
  });

  it('precedence is call > file > detected > default for every kind of field', async () => {
    const file = 'image: from-file:1\ntest: file-test\nnetwork: bridge\nenv:\n  A: file\n  B: file\nresources:\n  cpus: 1\n  pids: 64\n';
    const overrides = { image: IMAGES.busybox, test: 'call-test', env: { B: 'call' }, resources: { cpus: 0.5 } };

    const all = await resolveFiles({ ...nodeProject, 'berth.yaml': file }, { overrides });
    expect(all.spec.image).toBe(IMAGES.busybox);
    expect(all.spec.steps.test).toEqual(['call-test']);
    expect(all.spec.network).toBe('bridge');
    expect(all.spec.env).toEqual({ npm_config_cache: `${CACHE_ROOT}/npm`, A: 'file', B: 'call' });
    expect(all.spec.resources).toEqual({ cpus: 0.5, memoryMb: SPEC_DEFAULTS.resources.memoryMb, pids: 64 });
    expect(all.origins).toMatchObject({
      image: 'call',
      'steps.test': 'call',
      network: 'file',
      env: 'call',
      'env.A': 'file',
      'env.B': 'call',
      'env.npm_config_cache': 'detected',
      'resources.cpus': 'call',
      'resources.pids': 'file',
      'resources.memoryMb': 'default',
      resources: 'call',
    });

    const noCall = await resolveFiles({ ...nodeProject, 'berth.yaml': file });
    expect(noCall.spec.image).toBe('from-file:1');
    expect(noCall.spec.steps.test).toEqual(['file-test']);
    expect(noCall.origins.image).toBe('file');

    const detectedOnly = await resolveFiles(nodeProject);
    expect(detectedOnly.spec.image).toBe(nodeImage(DEFAULT_NODE_MAJOR).ref);
    expect(detectedOnly.spec.steps.test).toEqual(['npm test']);
    expect(detectedOnly.spec.network).toBe('none');
    expect(detectedOnly.origins.network).toBe('default');

    const defaults = await resolveFiles({ 'README.md': 'x' });
    expect(defaults.spec.steps.test).toEqual([]);
    expect(defaults.origins['steps.test']).toBe('default');
    expect(defaults.spec.image).toBe(SPEC_DEFAULTS.image);
  });

  it('env values are strings: numbers and booleans keep the text the author wrote', async () => {
    const r = await resolveFiles(
      { 'berth.yaml': 'env:\n  PORT: 3000\n  VERSION: 1.10\n  MODE: 0x10\n  DEBUG: true\n  EMPTY: ""\n  TRUE: t\n  NULL: n\nuser: 1000\n' },
      { overrides: { env: { RETRIES: 3, VERBOSE: false } } },
    );
    expect(r.spec.env).toEqual({ PORT: '3000', VERSION: '1.10', MODE: '0x10', DEBUG: 'true', EMPTY: '', TRUE: 't', NULL: 'n', RETRIES: '3', VERBOSE: 'false' });
    expect(r.spec.user).toBe('1000');
  });

  it('caches and volumes accept the list form and the map form alike', () => {
    const list = specFromYaml('caches:\n  - name: npm\n    path: /c/npm/\nvolumes:\n  - {name: data, path: /data}\n');
    const map = specFromYaml('caches:\n  npm: /c/npm\nvolumes:\n  data: //data\n');
    expect(list.caches).toEqual([{ name: 'npm', path: '/c/npm' }]);
    expect(map).toEqual(list);
  });

  it('durations: bare numbers are minutes', () => {
    expect(specFromYaml('idleTimeout: 45\ntimeout: "2h"\n')).toMatchObject({ idleTimeout: 45 * 60_000, timeout: 2 * 3_600_000 });
  });

  it('reads berth.yml when there is no berth.yaml, a named configFile, or no file at all', async () => {
    const root = await reader({ 'berth.yml': 'network: host\n', 'ci/berth.yaml': 'network: bridge\n' });
    expect((await resolveSpec(root)).spec.network).toBe('host');
    expect((await resolveSpec(root)).configFile).toBe('berth.yml');
    expect((await resolveSpec(root, { configFile: 'ci/berth.yaml' })).spec.network).toBe('bridge');
    expect((await resolveSpec(root, { configFile: false })).spec.network).toBe('none');
    const missing = await rejection(resolveSpec(root, { configFile: 'nope.yaml' }));
    expect(isBerthError(missing, 'BAD_INPUT')).toBe(true);
    expect((missing as Error).message).toContain('"nope.yaml"');
    const escape = await rejection(resolveSpec(root, { configFile: '../berth.yaml' }));
    expect(isBerthError(escape, 'BAD_INPUT')).toBe(true);
  });
});

describe('resolveSpec: frozen result', () => {
  it('deep-freezes spec, nested objects, lists and origins', async () => {
    const r = await resolveFiles({ ...nodeProject, 'berth.yaml': 'volumes:\n  data: /data\n' });
    for (const v of [
      r,
      r.spec,
      r.spec.env,
      r.spec.steps,
      r.spec.steps.test,
      r.spec.caches,
      r.spec.caches[0],
      r.spec.volumes[0],
      r.spec.resources,
      r.spec.pool,
      r.origins,
    ]) {
      expect(Object.isFrozen(v)).toBe(true);
    }
    expect(() => {
      (r.spec as { image: string }).image = 'evil';
    }).toThrow(TypeError);
    expect(() => {
      (r.spec.steps.test as string[]).push('rm -rf /');
    }).toThrow(TypeError);
    expect(() => {
      (r.spec.env as Record<string, string>).X = '1';
    }).toThrow(TypeError);
    expect(r.spec.image).toBe(nodeImage(DEFAULT_NODE_MAJOR).ref);
  });
});

describe('resolveSpec: hash', () => {
  const base = [
    'image: img:1',
    'env:',
    '  A: "1"',
    '  B: "2"',
    'resources:',
    '  cpus: 1',
    '  memoryMb: 256',
    'caches:',
    '  - {name: a, path: /a}',
    '  - {name: b, path: /b}',
    'test: t1',
    '',
  ].join('\n');
  const hashOf = async (yaml: string, overrides?: Parameters<typeof resolveSpec>[1]) => (await resolveFiles({ 'berth.yaml': yaml }, overrides)).hash;

  it('is stable across key order (top level, nested, env, cache order)', async () => {
    const reordered = [
      'test: t1',
      'caches:',
      '  b: /b',
      '  a: /a',
      'resources:',
      '  memoryMb: 256',
      '  cpus: 1',
      'env:',
      '  B: "2"',
      '  A: "1"',
      'image: img:1',
      '',
    ].join('\n');
    expect(await hashOf(reordered)).toBe(await hashOf(base));
  });

  it('ignores install, steps, timeouts and pool size', async () => {
    const h = await hashOf(base);
    expect(await hashOf(base.replace('test: t1', 'test: [t2, t3]'))).toBe(h);
    expect(await hashOf(`${base}install: npm ci\nbuild: make\nlint: []\ntimeout: 5m\nidleTimeout: 2h\npool:\n  size: 3\n`)).toBe(h);
  });

  it('changes when any container-shaping field changes', async () => {
    const h = await hashOf(base);
    const variants = [
      base.replace('img:1', 'img:2'),
      `${base}workdir: /src\n`,
      base.replace('B: "2"', 'B: "3"'),
      `${base}setup: apt-get update\n`,
      base.replace('path: /b', 'path: /bb'),
      `${base}volumes:\n  data: /data\n`,
      base.replace('memoryMb: 256', 'memoryMb: 257'),
      `${base}network: bridge\n`,
      `${base}user: "1000:1000"\n`,
    ];
    const hashes = await Promise.all(variants.map((v) => hashOf(v)));
    for (const x of hashes) expect(x).not.toBe(h);
    expect(new Set(hashes).size).toBe(variants.length);
    // A call-level override of a shaping field changes it too.
    expect(await hashOf(base, { overrides: { env: { A: 'other' } } })).not.toBe(h);
  });
});

describe('resolveSpec: cross-field checks', () => {
  it('rejects a cache mounted on the workdir, naming the file, line and field', async () => {
    const e = await rejection(resolveFiles({ 'berth.yaml': 'workdir: /src\ncaches:\n  - name: c\n    path: /src\n' }));
    expect(isBerthError(e, 'SPEC_INVALID')).toBe(true);
    expect((e as Error).message).toMatch(/^berth\.yaml:4:11: caches\.c: path "\/src" is the workdir/);
  });

  it('rejects two mounts on the same path, even across layers', async () => {
    const e = await rejection(resolveFiles({ ...nodeProject, 'berth.yaml': `volumes:\n  npmdata: ${CACHE_ROOT}/npm\n` }));
    expect(isBerthError(e, 'SPEC_INVALID')).toBe(true);
    expect((e as Error).message).toContain(`berth.yaml:2:12: volumes.npmdata: path "${CACHE_ROOT}/npm" is also used by caches.npm`);
  });

  it('validates call overrides like the file and names them', async () => {
    const e = await rejection(resolveFiles(nodeProject, { overrides: { resources: { pids: 3 }, network: 'internet' as never } }));
    expect(isBerthError(e, 'SPEC_INVALID')).toBe(true);
    expect((e as Error).message).toContain('call options: resources.pids: expected an integer >= 16');
    expect((e as Error).message).toContain('call options: network: expected one of none, bridge, host, got "internet"');
  });
});

describe('renderBerthYaml', () => {
  it('round-trips a spec with every field set (quoting, lists, multi-line commands, durations)', async () => {
    const { renderBerthYaml } = await import('../../src/project/index.js');
    const original = await resolveFiles({
      ...nodeProject,
      'berth.yaml': [
        'image: berth-busybox:1',
        'workdir: /src/app',
        'env:',
        '  VERSION: 1.10',
        '  QUOTE: "it\'s \\"quoted\\" # not a comment"',
        '  YES: "yes"',
        'setup:',
        '  - apt-get update',
        '  - |',
        '    set -e',
        '    echo two lines',
        'install: [npm ci, "npm run prepare: all"]',
        'lint: []',
        'volumes:',
        '  data: /data',
        'resources: {cpus: 1.5, memoryMb: 512, pids: 100}',
        'network: bridge',
        'user: "1000:1000"',
        'idleTimeout: 90s',
        'timeout: 1500ms',
        'pool: {size: 2}',
        '',
      ].join('\n'),
    });
    const text = renderBerthYaml(original);
    const again = await resolveFiles({ ...nodeProject, 'berth.yaml': text });
    expect(again.spec).toEqual(original.spec);
    expect(again.hash).toBe(original.hash);
    expect(text).toContain('timeout: 1500ms');
    expect(text).toContain('idleTimeout: 90s');
  });
});

// devcontainer.json: parsing (jsonc), validation, conversion to a spec layer, and its place in the
// precedence berth.yaml > devcontainer.json > detection, on real temp trees and through the real CLI.
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { BerthError } from '../../src/errors.js';
import { LocalSourceReader } from '../../src/source-reader.js';
import { parseDevcontainer, resolveSpec } from '../../src/project/index.js';
import { tree } from './tree.js';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const bin = join(repoRoot, 'bin', 'berth.js');
const ctx = { root: '/home/u/app', localEnv: {} };

function parseError(text: string, file = '.devcontainer/devcontainer.json'): BerthError {
  try {
    parseDevcontainer(text, file, ctx);
  } catch (err) {
    return err as BerthError;
  }
  throw new Error('expected an error');
}

describe('parseDevcontainer', () => {
  it('accepts comments and trailing commas, and maps image, env, user and workspaceFolder', () => {
    const dc = parseDevcontainer(
      `// a comment
      {
        "image": "berth-busybox:1", /* inline */
        "containerEnv": { "A": "1", "B": "\${containerWorkspaceFolder}/bin", },
        "remoteEnv": { "B": null, "C": "\${containerEnv:A}-x" },
        "remoteUser": "1000:1000",
        "workspaceFolder": "/workspaces/\${localWorkspaceFolderBasename}",
      }`,
      '.devcontainer/devcontainer.json',
      ctx,
    );
    expect(dc.spec).toEqual({ workdir: '/workspaces/app', image: 'berth-busybox:1', env: { A: '1', C: '1-x' }, user: '1000:1000' });
    expect(dc.warnings).toEqual([]);
  });

  it('reads all three command forms in spec order; the array form is quoted, the object form parallel', () => {
    const dc = parseDevcontainer(
      JSON.stringify({
        postStartCommand: 'echo start',
        postCreateCommand: { a: 'echo a', b: ['printf', '%s\\n', 'it is'] },
        onCreateCommand: ['touch', 'my file'],
        initializeCommand: 'touch /tmp/x',
      }),
      '.devcontainer.json',
      ctx,
    );
    expect(dc.lifecycle).toEqual([
      { hook: 'onCreateCommand', commands: [{ name: undefined, command: "touch 'my file'" }], parallel: false },
      {
        hook: 'postCreateCommand',
        commands: [
          { name: 'a', command: 'echo a' },
          { name: 'b', command: "printf '%s\\n' 'it is'" },
        ],
        parallel: true,
      },
      { hook: 'postStartCommand', commands: [{ name: undefined, command: 'echo start' }], parallel: false },
    ]);
    expect(dc.initialize?.commands[0]?.command).toBe('touch /tmp/x');
  });

  it('maps the legacy dockerFile and build paths relative to the file, confined to the repository', () => {
    const legacy = parseDevcontainer('{"dockerFile": "Dockerfile", "context": ".."}', '.devcontainer/devcontainer.json', ctx);
    expect(legacy.spec.build).toEqual({ dockerfile: '.devcontainer/Dockerfile', context: '.', args: {} });
    const modern = parseDevcontainer(
      '{"image": "ignored:1", "build": {"dockerfile": "dev.Dockerfile", "args": {"V": "1"}, "target": "dev"}}',
      '.devcontainer/devcontainer.json',
      ctx,
    );
    expect(modern.spec.build).toEqual({ dockerfile: 'dev.Dockerfile', context: '.devcontainer', args: { V: '1' }, target: 'dev' });
    expect(modern.spec.image).toBeUndefined();
    const escape = parseError('{"build": {"dockerfile": "Dockerfile", "context": "../.."}}');
    expect(escape.code).toBe('DEVCONTAINER_INVALID');
    expect(escape.message).toMatch(/must stay inside the repository/);
  });

  it('reports bad JSON and bad fields with file:line:col', () => {
    const syntax = parseError('{\n  "image": "x:1",\n  "containerEnv": { "A": }\n}');
    expect(syntax.code).toBe('DEVCONTAINER_INVALID');
    expect(syntax.message).toMatch(/^\.devcontainer\/devcontainer\.json:3:\d+: invalid JSON: ValueExpected/);
    const schema = parseError('{\n  "image": "x:1",\n  "remoteUser": 7\n}');
    expect(schema.message).toMatch(/^\.devcontainer\/devcontainer\.json:3:17: remoteUser: /);
  });

  it('keeps volumes and binds inside the repository; warns once per other mount, naming it', () => {
    const dc = parseDevcontainer(
      JSON.stringify({
        image: 'x:1',
        mounts: [
          'source=cache,target=/cache,type=volume',
          { type: 'bind', source: '${localWorkspaceFolder}/data', target: '/data', readonly: true },
          'source=/,target=/host,type=bind',
          'source=/etc,target=/hostetc,type=bind',
          'source=${localWorkspaceFolder}/..,target=/up,type=bind',
          'source=${localWorkspaceFolder}/.git,target=/g,type=bind',
          { type: 'tmpfs', target: '/t' },
          'source=v2,target=/etc,type=volume',
        ],
      }),
      '.devcontainer.json',
      ctx,
    );
    expect(dc.spec.volumes).toEqual([{ name: 'cache', path: '/cache' }]);
    expect(dc.binds).toEqual([{ source: 'data', target: '/data', readOnly: true }]);
    expect(dc.warnings).toHaveLength(6);
    expect(dc.warnings[0]).toMatch(/mounts\[2\] "source=\/,target=\/host,type=bind" is not applied: its source is outside the repository/);
    expect(dc.warnings[1]).toMatch(/mounts\[3\] .*\/etc.* is not applied/);
    expect(dc.warnings[4]).toMatch(/type "tmpfs" is not supported/);
    expect(dc.warnings[5]).toMatch(/system directory/);
  });

  it('withholds host variables unless allowed by name, and says so once', () => {
    const text = JSON.stringify({ image: 'x:1', containerEnv: { T: '${localEnv:SECRET_TOKEN}', D: '${localEnv:NOPE:dflt}' } });
    const denied = parseDevcontainer(text, '.devcontainer.json', ctx);
    expect(denied.spec.env).toEqual({ T: '', D: 'dflt' });
    expect(denied.warnings).toHaveLength(1);
    expect(denied.warnings[0]).toMatch(/NOPE, SECRET_TOKEN .*BERTH_DEVCONTAINER_LOCAL_ENV=NOPE,SECRET_TOKEN/);
    const allowed = parseDevcontainer(text, '.devcontainer.json', { ...ctx, localEnv: { SECRET_TOKEN: 'ok' } });
    expect(allowed.spec.env).toEqual({ T: 'ok', D: 'dflt' });
  });

  it('lists features in one warning and names what it does not apply', () => {
    const dc = parseDevcontainer(
      JSON.stringify({
        image: 'x:1',
        features: { 'ghcr.io/devcontainers/features/node:1': {}, 'ghcr.io/x/y:2': {} },
        privileged: true,
        runArgs: ['--net=host'],
      }),
      '.devcontainer.json',
      ctx,
    );
    expect(dc.features).toEqual(['ghcr.io/devcontainers/features/node:1', 'ghcr.io/x/y:2']);
    expect(dc.warnings.filter((w) => /features are not applied \(ghcr\.io\/devcontainers\/features\/node:1, ghcr\.io\/x\/y:2\)/.test(w))).toHaveLength(1);
    expect(dc.warnings.some((w) => /not applied: docker run arguments; a privileged container/.test(w))).toBe(true);
  });
});

describe('precedence: berth.yaml > devcontainer.json > detection', () => {
  it('merges field by field and records where each came from', async () => {
    const dir = await tree({
      'pyproject.toml': '[project]\nname = "x"\n',
      'berth.yaml': 'env:\n  FROM_YAML: "1"\n  SHARED: yaml\n',
      '.devcontainer/devcontainer.json': '{ "image": "berth-busybox:1", "containerEnv": { "SHARED": "dc", "DC": "1" }, "remoteUser": "1000", }',
    });
    const r = await resolveSpec(new LocalSourceReader(dir), { devcontainer: { localEnv: {} } });
    expect(r.spec.image).toBe('berth-busybox:1');
    expect(r.origins.image).toBe('devcontainer');
    expect(r.spec.env.SHARED).toBe('yaml');
    expect(r.origins['env.SHARED']).toBe('file');
    expect(r.origins['env.DC']).toBe('devcontainer');
    expect(r.spec.user).toBe('1000');
    expect(r.origins['steps.test']).toBe('detected');
    expect(r.sources.devcontainer).toBe('.devcontainer/devcontainer.json');
    expect(r.sources.detected).toMatch(/^detection \(python: pyproject\.toml/);
    // The fallback is the same spec on the detected image.
    expect(r.devcontainer?.fallback?.spec.image).toMatch(/^berth-python:/);
    expect(r.devcontainer?.fallback?.spec.env.DC).toBe('1');

    const yamlImage = await tree({
      'berth.yaml': 'image: berth-debian:bookworm-1\n',
      '.devcontainer.json': '{ "image": "berth-busybox:1" }',
    });
    const r2 = await resolveSpec(new LocalSourceReader(yamlImage));
    expect(r2.spec.image).toBe('berth-debian:bookworm-1');
    expect(r2.origins.image).toBe('file');
    expect(r2.devcontainer?.fallback).toBeUndefined();
  });

  it('a repository Dockerfile is not used unless berth.yaml says build:', async () => {
    const dir = await tree({ Dockerfile: 'FROM scratch\n', 'package.json': '{"name":"x"}' });
    const r = await resolveSpec(new LocalSourceReader(dir));
    expect(r.spec.build).toBeUndefined();
    expect(r.spec.image).toMatch(/^berth-node:/);
    const withBuild = await tree({ Dockerfile: 'FROM scratch\n', 'berth.yaml': 'build: {}\n' });
    expect((await resolveSpec(new LocalSourceReader(withBuild))).spec.build?.dockerfile).toBe('Dockerfile');
  });

  it('berth spec --explain --json names the file each field came from (real CLI)', async () => {
    const dir = await tree({
      'go.mod': 'module m\n\ngo 1.19\n',
      'berth.yaml': 'network: host\n',
      '.devcontainer/devcontainer.json': '// dev\n{ "image": "berth-busybox:1", "onCreateCommand": "echo hi", "features": {"ghcr.io/a/b:1": {}} }',
    });
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, 'spec', '--source', dir, '--explain', '--json'], { timeout: 120_000 });
    const out = JSON.parse(stdout) as {
      explain: Record<string, string>;
      origins: Record<string, string>;
      devcontainer: { file: string; lifecycle: unknown[]; fallbackImage: string; warnings: string[] };
    };
    expect(out.explain.image).toBe('.devcontainer/devcontainer.json');
    expect(out.explain.network).toBe('berth.yaml');
    expect(out.explain['steps.test']).toMatch(/^detection \(go: go\.mod/);
    expect(out.explain['resources.cpus']).toBe('default');
    expect(out.origins.image).toBe('devcontainer');
    expect(out.devcontainer.lifecycle).toHaveLength(1);
    expect(out.devcontainer.fallbackImage).toMatch(/^berth-go:/);
    expect(out.devcontainer.warnings[0]).toMatch(/features are not applied/);
    expect(stderr).toBe('');
    const human = await promisify(execFile)(process.execPath, [bin, 'spec', '--source', dir, '--explain'], { timeout: 120_000 });
    expect(human.stdout).toMatch(/^image +berth-busybox:1 +\(\.devcontainer\/devcontainer\.json\)$/m);
    expect(human.stdout).toMatch(/^onCreateCommand +echo hi/m);
  }, 300_000);
});

import { describe, expect, it } from 'vitest';
import { DEFAULT_NODE_MAJOR, NODE_RELEASES, OFFLINE_TOOLCHAINS } from '../../src/images.js';
import { detect } from '../../src/project/index.js';
import { chooseGo, chooseNode, choosePython, chooseRust, goDirective, requiresPython, rustChannel, satisfies } from '../../src/project/versions.js';
import { reader } from './tree.js';

describe('satisfies (npm range syntax)', () => {
  it.each([
    ['20.20.2', '>=20', true],
    ['18.20.0', '>=20', false],
    ['24.22.3', '^22 || ^24', true],
    ['26.12.1', '^22 || ^24', false],
    ['22.23.5', '>=16.20.2', true],
    ['20.20.2', '20.x', true],
    ['22.23.5', '~22.1', false],
    ['22.1.9', '~22.1', true],
    ['22.23.5', '>=18 <23', true],
    ['24.22.3', '>=18 <23', false],
    ['20.20.2', '18 - 20', true],
    ['20.20.2', '*', true],
    ['3.11.2', '>=3.10', true],
    ['3.11.2', '>=3.12', false],
    ['20.0.0', 'not a range', false],
  ])('%s in %s: %s', (v, range, want) => {
    expect(satisfies(v, range)).toBe(want);
  });
});

describe('chooseNode', () => {
  it('defaults to the LTS major when nothing is asked', () => {
    const c = chooseNode([]);
    expect(c.image.ref).toBe(`berth-node:${DEFAULT_NODE_MAJOR}-2`);
    expect(c.official).toBe(`node:${DEFAULT_NODE_MAJOR}-bookworm-slim`);
    expect(c.requestedBy).toBeUndefined();
  });
  it('a version file wins over engines.node', () => {
    const c = chooseNode([
      { source: '.nvmrc', text: 'v22.3.0\n' },
      { source: 'engines.node', text: '>=20' },
    ]);
    expect(c.image.version).toBe('22');
    expect(c.requestedBy).toBe('.nvmrc "v22.3.0"');
  });
  it('engines.node keeps the LTS when it fits, else the lowest release that does', () => {
    expect(chooseNode([{ source: 'engines.node', text: '>=16.20.2' }]).image.version).toBe(String(DEFAULT_NODE_MAJOR));
    expect(chooseNode([{ source: 'engines.node', text: '^20.17 || ^22.9' }]).image.version).toBe('20');
    expect(chooseNode([{ source: 'engines.node', text: '>=25' }]).image.version).toBe('26');
  });
  it('lts codenames, lts/* and node', () => {
    expect(chooseNode([{ source: '.nvmrc', text: 'lts/jod' }]).image.version).toBe('22');
    expect(chooseNode([{ source: '.node-version', text: 'lts/*' }]).image.version).toBe(String(DEFAULT_NODE_MAJOR));
    const newest = Math.max(...Object.keys(NODE_RELEASES).map(Number));
    expect(chooseNode([{ source: '.nvmrc', text: 'node' }]).image.version).toBe(String(newest));
  });
  it('an end-of-life major gets the next release and a warning naming both', () => {
    const c = chooseNode([{ source: '.nvmrc', text: '16' }]);
    expect(c.image.version).toBe('20');
    expect(c.warning).toMatch(/Node 16.*using Node 20/);
  });
  it('an impossible engines range warns and keeps the LTS', () => {
    const c = chooseNode([{ source: 'engines.node', text: '<10' }]);
    expect(c.image.version).toBe(String(DEFAULT_NODE_MAJOR));
    expect(c.warning).toMatch(/matches none/);
  });
});

describe('choosePython', () => {
  it('requires-python that the offline Python meets: no warning', () => {
    const c = choosePython({ requiresPython: '>=3.10' });
    expect(c.image.ref).toBe(`berth-python:${OFFLINE_TOOLCHAINS.python}-2`);
    expect(c.warning).toBeUndefined();
  });
  it('a newer requirement names the official image and both versions', () => {
    const c = choosePython({ requiresPython: '>=3.12,<4' });
    expect(c.official).toBe('python:3.13-slim');
    expect(c.warning).toMatch(/excludes Python 3\.11.*python:3\.13-slim needs a registry/);
  });
  it('.python-version wins', () => {
    const c = choosePython({ pythonVersion: '3.12.4\n', requiresPython: '>=3.8' });
    expect(c.official).toBe('python:3.12-slim');
    expect(c.warning).toMatch(/Python 3\.12.*3\.11/);
  });
  it('requiresPython reads only the [project] table', () => {
    expect(requiresPython('[project]\nname = "x"\nrequires-python = ">=3.9"\n[tool.x]\nrequires-python = "no"\n')).toBe('>=3.9');
    expect(requiresPython('[tool.x]\nrequires-python = ">=3.9"\n')).toBeUndefined();
  });
});

describe('chooseGo / chooseRust', () => {
  it('go.mod directive picks Debian 1.19, backports 1.23, or warns beyond', () => {
    expect(goDirective('module x\n\ngo 1.18\n')).toBe('1.18');
    expect(chooseGo('1.18').image.ref).toBe('berth-go:1.19-2');
    expect(chooseGo('1.21.4').image.ref).toBe('berth-go:1.23-2');
    const far = chooseGo('1.25');
    expect(far.image.ref).toBe('berth-go:1.23-2');
    expect(far.official).toBe('golang:1.25');
    expect(far.warning).toMatch(/Go 1\.25.*1\.23/);
  });
  it('rust-toolchain channel in both file forms', () => {
    expect(rustChannel('[toolchain]\nchannel = "1.70.0"\n')).toBe('1.70.0');
    expect(rustChannel('stable\n')).toBe('stable');
    expect(chooseRust('1.70.0').warning).toBeUndefined();
    expect(chooseRust('nightly-2024-01-01').warning).toMatch(/cannot build offline/);
    expect(chooseRust('1.99').warning).toMatch(/Rust 1\.99.*1\.96/);
  });
});

describe('detect picks the toolchain image', () => {
  it('python project: the python image, not node', async () => {
    const d = await detect(await reader({ 'pyproject.toml': '[project]\nname="x"\nrequires-python=">=3.8"\n' }));
    expect(d.spec.image).toBe('berth-python:3.11-2');
    expect(d.image?.requestedBy).toBe('requires-python ">=3.8"');
  });
  it('node project with .nvmrc: that major, with the file as evidence', async () => {
    const d = await detect(await reader({ 'package.json': '{"engines":{"node":">=18"}}', '.nvmrc': '22\n' }));
    expect(d.spec.image).toBe('berth-node:22-2');
    expect(d.evidence).toContain('.nvmrc');
  });
  it('go and rust projects read their version files', async () => {
    expect((await detect(await reader({ 'go.mod': 'module x\ngo 1.22\n' }))).spec.image).toBe('berth-go:1.23-2');
    const r = await detect(await reader({ 'Cargo.toml': '[package]\nname="x"\n', 'rust-toolchain.toml': '[toolchain]\nchannel="1.99"\n' }));
    expect(r.spec.image).toBe('berth-rust:1.96-2');
    expect(r.warnings.join('\n')).toMatch(/1\.99/);
  });
});

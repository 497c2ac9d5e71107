import { execFile } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { LocalSourceReader } from '../../src/source-reader.js';
import { resolveSpec, SPEC_FIELDS } from '../../src/project/index.js';
import { pkg, tree } from './tree.js';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const bin = join(repoRoot, 'bin', 'berth.js');

async function berth(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, ...args], { cwd: repoRoot, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('berth init / berth spec', () => {
  it('init writes a commented berth.yaml that round-trips through resolveSpec', async () => {
    const dir = await tree({ 'package.json': pkg({ build: 'tsc', test: 'vitest run' }), 'pnpm-lock.yaml': "lockfileVersion: '9.0'\n" });
    const res = await berth(['init', '--source', dir]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const path = join(dir, 'berth.yaml');
    expect(res.stdout.trim()).toBe(path);

    const text = await readFile(path, 'utf8');
    // Every field is documented with a comment, and detected values are filled in.
    for (const field of SPEC_FIELDS) expect(text).toMatch(new RegExp(`^# [^\\n]+\\n(# )?${field}:`, 'm'));
    expect(text).toContain('install: pnpm install --frozen-lockfile');
    expect(text).toContain('test: pnpm test');
    expect(text).toMatch(/^# lint: pnpm run lint$/m); // no lint script: documented, not pinned

    const reader = new LocalSourceReader(dir);
    const fromFile = await resolveSpec(reader);
    const detectedOnly = await resolveSpec(reader, { configFile: false });
    expect(fromFile.configFile).toBe('berth.yaml');
    expect(fromFile.spec).toEqual(detectedOnly.spec);
    expect(fromFile.hash).toBe(detectedOnly.hash);
    expect(fromFile.origins.image).toBe('file');
    expect(fromFile.origins['steps.test']).toBe('file');
  });

  it('init refuses to overwrite without --force; --force --json rewrites it', async () => {
    const dir = await tree({ 'go.mod': 'module m\n', 'berth.yaml': 'network: host\n' });
    const refused = await berth(['init', '--source', dir]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/berth\.yaml already exists; .*--force/);
    expect(await readFile(join(dir, 'berth.yaml'), 'utf8')).toBe('network: host\n');

    const forced = await berth(['init', '--source', dir, '--force', '--json']);
    expect(forced.code).toBe(0);
    const out = JSON.parse(forced.stdout) as { path: string; toolchain: string; hash: string };
    expect(out.path).toBe(join(dir, 'berth.yaml'));
    expect(out.toolchain).toBe('go');
    const text = await readFile(out.path, 'utf8');
    expect(text).toMatch(/network:\n {2}install: bridge\n {2}run: none/); // regenerated from detection, not merged with the old file
    expect(text).toContain('test: go test ./...');
    expect((await resolveSpec(new LocalSourceReader(dir))).hash).toBe(out.hash);
  });

  it('spec --json prints the resolved spec, hash and origins; bad files exit 1 with the location', async () => {
    const dir = await tree({ Makefile: 'test:\n\ttrue\n', 'berth.yaml': 'env:\n  FOO: 1\n' });
    const ok = await berth(['spec', '--source', dir, '--json']);
    expect(ok.code).toBe(0);
    const out = JSON.parse(ok.stdout) as {
      spec: { env: Record<string, string>; steps: { test: string[] }; user: null };
      hash: string;
      origins: Record<string, string>;
    };
    expect(out.spec.env).toEqual({ FOO: '1' });
    expect(out.spec.steps.test).toEqual(['make test']);
    expect(out.spec.user).toBeNull();
    expect(out.hash).toBe((await resolveSpec(new LocalSourceReader(dir))).hash);
    expect(out.origins).toMatchObject({ env: 'file', 'steps.test': 'detected', network: 'default' });

    await writeFile(join(dir, 'berth.yaml'), 'env:\n  FOO: 1\nresources:\n  memoryMb: lots\n');
    const bad = await berth(['spec', '--source', dir, '--json']);
    expect(bad.code).toBe(1);
    const err = JSON.parse(bad.stdout) as { error: { code: string; message: string } };
    expect(err.error.code).toBe('SPEC_INVALID');
    expect(err.error.message).toMatch(/^berth\.yaml:4:13: resources\.memoryMb: expected an integer >= 16/);
  });

  it('a missing source directory is a clear error, and nothing is written', async () => {
    const dir = await tree({});
    const missing = join(dir, 'nope');
    const res = await berth(['init', '--source', missing]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`source directory ${JSON.stringify(missing)} does not exist`);
    await expect(stat(missing)).rejects.toThrow();
  });
});

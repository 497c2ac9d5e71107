// bin/berth.js runs the compiled dist/ when scripts/build.mjs's stamp matches the sources, and the
// TypeScript sources through tsx otherwise. A real copy of bin/, the build script and the tsconfigs
// in a temp tree (node_modules linked) with a one-file runner whose output says where it ran from;
// the build is the real tsc.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
let tree: string;

const main = (word: string) => `console.log(\`${word} \${import.meta.url.endsWith('.ts') ? 'source' : 'dist'}\`);\n`;

async function berth(): Promise<string> {
  return (await run(process.execPath, [join(tree, 'bin', 'berth.js')], { cwd: tree, encoding: 'utf8' })).stdout.trim();
}

async function build(): Promise<void> {
  await run(process.execPath, [join(tree, 'scripts', 'build.mjs')], { cwd: tree });
}

beforeAll(() => {
  tree = mkdtempSync(join(tmpdir(), 'berth-bin-'));
  for (const f of ['bin/berth.js', 'bin/dist-stamp.js', 'scripts/build.mjs', 'tsconfig.json', 'tsconfig.build.json', 'package.json'])
    cpSync(join(ROOT, f), join(tree, f));
  symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'));
  mkdirSync(join(tree, 'runner', 'cli'), { recursive: true });
  writeFileSync(join(tree, 'runner', 'cli', 'main.ts'), main('one'));
});

afterAll(() => rmSync(tree, { recursive: true, force: true }));

describe('bin/berth.js: compiled when fresh, sources otherwise', () => {
  it('runs the sources before any build, and dist/ after one', async () => {
    expect(await berth()).toBe('one source');
    await build();
    expect(await berth()).toBe('one dist');
  });

  it('keeps dist/ when only mtimes changed (checkout, tarball), not when contents did', async () => {
    const file = join(tree, 'runner', 'cli', 'main.ts');
    const future = new Date(Date.now() + 60_000);
    utimesSync(file, future, future);
    expect(await berth()).toBe('one dist');
    writeFileSync(file, main('two')); // same size, new contents
    expect(await berth()).toBe('two source');
    await build();
    expect(await berth()).toBe('two dist');
  });

  it('sees an added file, and a missing stamp (a build under way)', async () => {
    writeFileSync(join(tree, 'runner', 'extra.ts'), 'export const x = 1;\n');
    expect(await berth()).toBe('two source');
    await build();
    expect(await berth()).toBe('two dist');
    rmSync(join(tree, 'dist', '.stamp.json'));
    expect(await berth()).toBe('two source');
  });

  it("run as a command (npm's .bin link), starts node with line 2's flags", async () => {
    writeFileSync(join(tree, 'runner', 'cli', 'main.ts'), 'console.log(process.execArgv.join(" "));\n');
    const link = join(tree, 'berth-link');
    symlinkSync(join(tree, 'bin', 'berth.js'), link);
    const direct = (await run(link, ['--version'], { cwd: tree, encoding: 'utf8' })).stdout.trim();
    expect(direct.split(' ')).toContain('--max-semi-space-size=2');
    expect(await berth()).not.toContain('--max-semi-space-size');
  });
});

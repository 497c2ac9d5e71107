// Sessions and ready dependencies, on the real engine. The install of a new workspace runs in a
// helper container on network.install (here `host`: the dependency's install script records the
// network interfaces it saw), the session container stays on `none`, and the result is the image a
// second workspace with the same lockfile starts from without installing. Each workspace's writes
// to its dependencies stay in its own container.
import { copyFileSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Dockerode, describeDocker } from '../helpers/docker.js';
import { LABEL } from '../../docker/labels.js';
import { Runner } from '../../runner/session/index.js';
import { IMAGES } from '../../src/images.js';
import { makeFixture, TEST_LABEL, type Fixture } from './helpers.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/deps-node/', import.meta.url));
const docker = new Dockerode();

describeDocker('sessions: install on network.install, ready dependencies', () => {
  let fx: Fixture;
  let runner: Runner;

  beforeAll(async () => {
    fx = makeFixture('berth-deps-');
    for (const f of ['package.json', 'package-lock.json', '.gitignore']) fx.write(f, readFileSync(`${FIXTURE}${f}`, 'utf8'));
    fx.write('vendor/x-1.0.0.tgz', '');
    // Binary content: copy the tarball byte for byte.
    copyFileSync(`${FIXTURE}vendor/x-1.0.0.tgz`, `${fx.repo}/vendor/x-1.0.0.tgz`);
    fx.commitAll('deps fixture');
    runner = await Runner.create({
      repo: fx.repo,
      dataDir: fx.dataDir,
      labels: fx.labels,
      spec: { resources: { cpus: 1, memoryMb: 512, pids: 512 }, network: { install: 'host', run: 'none' } },
    });
  });
  afterAll(async () => {
    await runner?.close();
    await fx.cleanup();
    const imgs = await docker.listImages({ filters: { label: [`${TEST_LABEL}=${fx.runId}`, `${LABEL.role}=deps`] } });
    for (const i of imgs)
      await docker
        .getImage(i.Id)
        .remove({ force: true })
        .catch(() => undefined);
  });

  it('installs in a helper on the install network, then a second workspace starts ready and isolated', async () => {
    const a = await runner.open('a', { create: true });
    expect(a.setup.deps).toMatchObject({ hit: false });
    const key = a.setup.deps?.key;
    expect(key).toMatch(/^[0-9a-f]{24}$/);
    const stampA = (await a.exec('cat node_modules/x/stamp')).stdout.trim();
    // The install saw the host's interfaces (network.install: host) ...
    expect(stampA).toMatch(/^\d+-0\.\d+ nets=/);
    expect(stampA.replace(/^.* nets=/, '').split(',')).not.toEqual(['lo']);
    // ... while the session container itself has no network.
    expect((await a.exec('ls /sys/class/net')).stdout.trim()).toBe('lo');
    expect((await docker.getContainer(a.containerId).inspect()).HostConfig.NetworkMode).toBe('none');
    // Install output is kept in the setup log.
    expect((await a.exec('cat /var/lib/berth/setup/log')).stdout).toContain('$ npm ci');
    // The first workspace's node_modules is real, in its own worktree.
    expect(readdirSync(`${a.workspace.worktree}/node_modules`)).toContain('x');

    // An agent in a tampers with its dependencies.
    await a.exec('echo poisoned-by-a > node_modules/x/stamp');

    const b = await runner.open('b', { create: true });
    expect(b.setup.deps).toEqual({ hit: true, key, image: a.setup.deps?.image });
    expect(b.setup.steps).toEqual([]);
    // No install ran (same stamp), and a's write did not reach b.
    expect((await b.exec('cat node_modules/x/stamp')).stdout.trim()).toBe(stampA);
    expect((await b.exec('readlink node_modules')).stdout.trim()).toBe('/berth-deps/node_modules');
    expect((await b.exec("node -e \"require('fs').accessSync(require.resolve('x/stamp.js'))\" && echo resolvable")).stdout).toContain('resolvable');

    // b's writes stay in b's container: a third workspace still starts from the clean snapshot.
    await b.exec('echo poisoned-by-b > node_modules/x/stamp');
    const c = await runner.open('c', { create: true });
    expect(c.setup.deps?.hit).toBe(true);
    expect((await c.exec('cat node_modules/x/stamp')).stdout.trim()).toBe(stampA);
    expect((await a.exec('cat node_modules/x/stamp')).stdout.trim()).toBe('poisoned-by-a');
  }, 600_000);

  it('a custom install (not cacheable) still runs in the helper; its snapshot belongs to the workspace and goes with it', async () => {
    const custom = await Runner.create({
      repo: fx.repo,
      dataDir: fx.dataDir,
      labels: fx.labels,
      spec: {
        image: IMAGES.busybox,
        install: ['echo outside-the-worktree > /tmp/made-by-install; echo inside > made-by-install'],
        resources: { cpus: 1, memoryMb: 256, pids: 256 },
      },
    });
    try {
      const s = await custom.open('custom', { create: true });
      expect(s.setup.deps).toMatchObject({ hit: false, key: null });
      // What the install wrote outside the worktree reached the session (it runs from the helper's commit).
      expect((await s.exec('cat /tmp/made-by-install made-by-install')).stdout).toBe('outside-the-worktree\ninside\n');
      const image = s.setup.deps?.image ?? '';
      expect(await docker.getImage(image).inspect()).toMatchObject({ Config: { Labels: { [LABEL.workspace]: 'custom' } } });
      await custom.delete('custom');
      await expect(docker.getImage(image).inspect()).rejects.toMatchObject({ statusCode: 404 });
    } finally {
      await custom.close();
    }
  }, 300_000);
});

// One runner, two engines, one workspace on each at the same time (issue 15): the local engine
// (a unix socket: remote=false) gets a bind-mounted worktree, engine two reached over ssh://
// (remote by its scheme) gets a volume seeded by a git bundle. Every operation picks its
// behaviour from the workspace's engine: exec and file tools, checkpoint and diff, the CLI's
// checkpoint and `ws sync` (a real process configured by BERTH_ENGINES), adoption by a new runner
// after a restart, and delete (the remote volumes go from engine two). A session image that only
// the local engine has is copied to engine two (docker save | load over the API).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineSet, parseEngineList, remoteVolumeNames, type EngineEntry } from '../../docker/index.js';
import { Runner } from '../../runner/session/index.js';
import { envWithout, runBerth } from '../helpers/cli.js';
import { dockerAvailable, Dockerode } from '../helpers/docker.js';
import { IMAGES } from '../../src/images.js';
import { busyboxSpec, makeFixture, TEST_LABEL, type Fixture } from '../runner/helpers.js';
import { cleanUpBothEngines, secondEngine, stopSecondEngine, type SecondEngine } from '../engines/helpers.js';

const ENGINE_ONE = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST : 'unix:///var/run/docker.sock';
const e2 = dockerAvailable ? secondEngine() : { reason: 'no Docker engine' };
const ready = 'sock' in e2;

const berth = (args: string[], env: Record<string, string>) => runBerth(args, { env: { ...envWithout('GIT_', 'BERTH_'), ...env } });

describe.skipIf(!ready)(`a local and a remote workspace in one runner${ready ? '' : ` [skipped: ${(e2 as { reason: string }).reason}]`}`, () => {
  const two = e2 as SecondEngine;
  const local = new Dockerode();
  let fx: Fixture;
  let entries: EngineEntry[];
  const runners: Runner[] = [];

  /** Local first: with equal free capacity the first open goes there, the second to ssh2. */
  const engines = () => EngineSet.of(entries, { sessionLabels: [`${TEST_LABEL}=${fx.runId}`] });
  async function runner(): Promise<Runner> {
    const r = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, spec: busyboxSpec(), engines: engines(), reconcile: false });
    runners.push(r);
    return r;
  }

  beforeAll(() => {
    fx = makeFixture('berth-mixed-');
    entries = parseEngineList(
      [
        { id: 'local', host: ENGINE_ONE },
        { id: 'ssh2', host: two.ssh, sshIdentityFile: two.sshKey, sshKnownHostsFile: two.knownHosts },
      ],
      'test',
    );
  });

  afterAll(async () => {
    await cleanUpBothEngines(runners, fx, two);
    stopSecondEngine(e2);
  }, 180_000);

  it('each workspace behaves per its engine: bind-mounted on the local one, a volume over ssh://', async () => {
    const r = await runner();
    expect(r.engines.engines.map((e) => [e.id, e.remote])).toEqual([
      ['local', false],
      ['ssh2', true],
    ]);
    const a = await r.open('a');
    const b = await r.open('b');
    const wa = await r.workspaces.get('a');
    const wb = await r.workspaces.get('b');
    expect([wa.extra.engine, wb.extra.engine]).toEqual(['local', 'ssh2']);

    // Local: the host worktree is bind-mounted, so exec's writes are on the host at once.
    const ia = await local.getContainer(a.containerId).inspect();
    expect((ia.Mounts ?? []).some((m) => m.Type === 'bind' && m.Source === wa.worktree)).toBe(true);
    expect((await a.exec('echo A > a.txt')).exitCode).toBe(0);
    expect(readFileSync(join(wa.worktree, 'a.txt'), 'utf8')).toBe('A\n');
    expect(r.remoteFiles('a')).toBeUndefined();

    // Remote: engine two holds the container and the tree volume; nothing is bound from the host.
    const ib = await two.client.getContainer(b.containerId).inspect();
    expect(ib.HostConfig.Binds ?? []).toEqual([]);
    expect((ib.Mounts ?? []).filter((m) => m.Type === 'bind')).toEqual([]);
    expect((ib.Mounts ?? []).map((m) => m.Name)).toContain(remoteVolumeNames(r.repo, 'b').tree);
    expect(
      await local
        .getContainer(b.containerId)
        .inspect()
        .catch(() => 'absent'),
    ).toBe('absent');
    expect((await b.exec('echo B > b.txt')).exitCode).toBe(0);
    expect(existsSync(join(wb.worktree, 'b.txt'))).toBe(false);
    const files = r.remoteFiles('b');
    expect(files).toBeDefined();
    expect((await files!.read('b.txt')).content).toBe('B\n');
    await files!.write('b-tool.txt', 'from the file tool\n');

    // Checkpoints: each through its own engine's path; both end as commits on the host branch.
    const ca = await r.checkpoint('a', { message: 'on local' });
    const cb = await r.checkpoint('b', { message: 'over ssh' });
    expect([ca.committed, ca.filesChanged, cb.committed, cb.filesChanged]).toEqual([true, 1, true, 2]);
    expect(await r.workspaces.diff('a')).toContain('+A');
    expect(await r.workspaces.diff('b')).toContain('+B');
    expect(readFileSync(join(wb.worktree, 'b-tool.txt'), 'utf8')).toBe('from the file tool\n');
  }, 300_000);

  it('the CLI checkpoints and syncs each workspace on its own engine (BERTH_ENGINES)', async () => {
    const env = { BERTH_DATA_DIR: fx.dataDir, BERTH_ENGINES: JSON.stringify(entries) };
    const r = runners[0]!;
    await r.get('b')!.exec('echo more > more.txt');
    await r.get('a')!.exec('echo more > more.txt');
    const cp = await berth(['ws', 'checkpoint', 'b', '--repo', fx.repo, '-m', 'cli over ssh', '--json'], env);
    expect(cp.code, cp.stderr).toBe(0);
    expect(JSON.parse(cp.stdout)).toMatchObject({ committed: true, filesChanged: 1 });
    expect(readFileSync(join((await r.workspaces.get('b')).worktree, 'more.txt'), 'utf8')).toBe('more\n');
    await r.get('b')!.exec('echo synced > synced.txt');
    const sb = await berth(['ws', 'sync', 'b', '--repo', fx.repo, '--json'], env);
    expect(sb.code, sb.stderr).toBe(0);
    expect(JSON.parse(sb.stdout)).toMatchObject({ remote: true, committed: true, filesChanged: 1 });
    // The local workspace: its worktree is the workspace; the CLI commits it there.
    const sa = await berth(['ws', 'sync', 'a', '--repo', fx.repo, '--json'], env);
    expect(JSON.parse(sa.stdout)).toMatchObject({ remote: false });
    const ca = await berth(['ws', 'checkpoint', 'a', '--repo', fx.repo, '-m', 'cli local', '--json'], env);
    expect(ca.code, ca.stderr).toBe(0);
    expect(JSON.parse(ca.stdout)).toMatchObject({ committed: true, filesChanged: 1 });
  }, 300_000);

  it('a new runner adopts both sessions on their engines; delete removes each engine its own things', async () => {
    const old = runners[0]!;
    const ids = { a: old.get('a')!.containerId, b: old.get('b')!.containerId };
    await old.get('b')!.exec('echo pending > pending.txt');
    await old.close({ stop: false });
    const r = await runner();
    const a = await r.open('a');
    const b = await r.open('b');
    expect([a.containerId, b.containerId]).toEqual([ids.a, ids.b]);
    expect([a.created.container, b.created.container]).toEqual([false, false]);
    // The uncheckpointed work in the volume survived the runner; the file tools still exec there.
    expect((await r.remoteFiles('b')!.read('pending.txt')).content).toBe('pending\n');
    expect(r.remoteFiles('a')).toBeUndefined();

    const worktreeA = (await r.workspaces.get('a')).worktree;
    const vb = remoteVolumeNames(r.repo, 'b');
    await r.delete('a');
    await r.delete('b');
    expect(existsSync(worktreeA)).toBe(false);
    const left = (await two.client.listVolumes({ filters: { name: [vb.tree] } })).Volumes ?? [];
    expect(left).toEqual([]);
    expect(
      await two.client
        .getContainer(ids.b)
        .inspect()
        .catch(() => 'absent'),
    ).toBe('absent');
    expect(
      await local
        .getContainer(ids.a)
        .inspect()
        .catch(() => 'absent'),
    ).toBe('absent');
  }, 300_000);

  it('a session on engine two whose image only the local engine has gets a copy of it', async () => {
    const image = `berth-mixed-copy-test:${fx.runId}`;
    const [repo, tag] = image.split(':') as [string, string];
    await local.getImage(IMAGES.busybox).tag({ repo, tag });
    try {
      expect(
        await two.client
          .getImage(image)
          .inspect()
          .catch(() => 'absent'),
      ).toBe('absent');
      // Only engine two in the set: the new workspace must go there.
      const only = EngineSet.of([entries[1]!], { sessionLabels: [`${TEST_LABEL}=${fx.runId}`] });
      const r = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, spec: busyboxSpec({ image }), engines: only, reconcile: false });
      runners.push(r);
      const s = await r.open('copied');
      expect((await s.exec('echo ok')).stdout).toBe('ok\n');
      expect((await two.client.getContainer(s.containerId).inspect()).Config.Image).toBe(image);
      await r.delete('copied');
    } finally {
      for (const client of [local, two.client])
        await client
          .getImage(image)
          .remove()
          .catch(() => undefined);
    }
  }, 300_000);
});

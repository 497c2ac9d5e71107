// Session lifecycle on real git repositories and real containers: create, hardening, setup once,
// close/resume, adoption by a second runner, rollback, reaping, deletion, idle stop, a killed
// container. Every container and volume carries the fixture's label and is removed in afterAll.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { Dockerode } from '../helpers/docker.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isBerthError } from '../../src/errors.js';
import { Workspaces } from '../../src/workspace/workspaces.js';
import { LABEL } from '../../docker/labels.js';
import { defaultSessionUser, Runner } from '../../runner/session/index.js';
import { describeDocker } from '../helpers/docker.js';
import { busyboxSpec, containerState, makeFixture, sleep, type Fixture } from './helpers.js';

describeDocker('session lifecycle', () => {
  let fx: Fixture;
  const docker = new Dockerode();
  const runners: Runner[] = [];

  async function runner(spec = busyboxSpec(), extra: { reconcile?: boolean } = {}): Promise<Runner> {
    const r = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, spec, ...extra });
    runners.push(r);
    return r;
  }

  beforeAll(() => {
    fx = makeFixture('berth-session-');
  });

  afterAll(async () => {
    for (const r of runners) await r.close().catch(() => undefined);
    await fx?.cleanup();
  });

  it('open creates the workspace and a hardened, labelled container, and runs setup once', async () => {
    const r = await runner(
      busyboxSpec({ setup: ['echo root-setup > /setup-marker; id -u'], install: ['echo installed > .installed'], volumes: { data: '/data' } }),
    );
    const s = await r.open('alpha');
    expect(s.created).toEqual({ workspace: true, container: true, fromPool: false, resumed: false });
    expect(s.setup.ran).toBe(true);
    expect(s.setup.steps.map((x) => [x.phase, x.exitCode])).toEqual([
      ['setup', 0],
      ['install', 0],
    ]);
    // The worktree is bind-mounted: the install step's file is on the host.
    expect(readFileSync(join(s.workspace.worktree, '.installed'), 'utf8')).toBe('installed\n');
    expect((await s.exec('cat src/app.txt')).stdout).toBe('hello from the fixture\n');

    const i = await docker.getContainer(s.containerId).inspect();
    const hc = i.HostConfig;
    expect(hc.CapDrop).toEqual(['ALL']);
    expect(hc.SecurityOpt).toContain('no-new-privileges:true');
    expect(hc.NetworkMode).toBe('none');
    expect(hc.Init).toBe(true);
    expect(hc.PidsLimit).toBe(256);
    expect(hc.Memory).toBe(256 * 1024 * 1024);
    expect(hc.MemorySwap).toBe(hc.Memory);
    expect(hc.NanoCpus).toBe(1e9);
    // A root berth runs sessions unprivileged (identity.ts); otherwise as the invoking user.
    expect(i.Config.Labels?.[LABEL.user]).toBe(defaultSessionUser());
    expect((await s.exec('id -u')).stdout.trim()).toBe(defaultSessionUser().split(':')[0]);
    const gitDir = realpathSync(join(fx.repo, '.git'));
    const mounts = i.Mounts.map((m) => `${m.Type}:${m.Destination}:${m.RW ? 'rw' : 'ro'}`).sort();
    expect(mounts).toEqual([`bind:${gitDir}:ro`, 'bind:/workspace:rw', 'volume:/data:rw'].sort());
    expect(JSON.stringify(i.Mounts)).not.toContain('docker.sock');
    expect(i.Config.Labels).toMatchObject({
      [LABEL.managed]: '1',
      [LABEL.role]: 'session',
      [LABEL.workspace]: 'alpha',
      [LABEL.repoId]: r.repo.id,
      [LABEL.specHash]: s.specHash,
      [LABEL.mountSource]: s.workspace.worktree,
    });
    // The network is really off.
    expect((await s.exec('ip -o link 2>/dev/null | grep -v " lo:" | wc -l || cat /proc/net/dev | tail -n +3 | grep -vc lo')).stdout.trim()).toBe('0');
    const log = await s.setupLog();
    expect(log).toContain('$ echo root-setup > /setup-marker; id -u   # setup, root');
    expect(log).toMatch(/\n0\n\n\[exit 0, \d+ ms\]/);
    expect(log).toContain('# install');
  });

  it('close stops but keeps the container; open resumes it with its writable layer and shell state', async () => {
    const r = await runner(
      busyboxSpec({ setup: ['echo root-setup > /setup-marker; id -u'], install: ['echo installed > .installed'], volumes: { data: '/data' } }),
    );
    const s = await r.open('alpha');
    await s.exec('cd src && export RESUME_VAR=1 && echo layer > $HOME/in-layer && echo vol > /data/v');
    const id = s.containerId;
    await s.close();
    await s.close(); // idempotent
    expect((await containerState(id))?.running).toBe(false);
    await expect(s.exec('true')).rejects.toSatisfy((e: unknown) => isBerthError(e, 'SESSION_CLOSED'));

    const again = await r.open('alpha');
    expect(again.containerId).toBe(id);
    expect(again.created).toEqual({ workspace: false, container: false, fromPool: false, resumed: true });
    expect(again.setup.ran).toBe(false);
    const res = await again.exec('pwd; echo $RESUME_VAR; cat $HOME/in-layer /setup-marker /data/v');
    expect(res.stdout).toBe('/workspace/src\n1\nlayer\nroot-setup\nvol\n');
  });

  it('a new runner process adopts the running container and restores the shell', async () => {
    const r1 = await runner();
    const s1 = await r1.open('beta');
    await s1.exec('cd /tmp && export ADOPT=yes');
    await r1.close({ stop: false });
    expect((await containerState(s1.containerId))?.running).toBe(true);

    const r2 = await runner();
    expect((await r2.list()).find((x) => x.name === 'beta')).toMatchObject({ state: 'running', open: false, workspaceExists: true });
    const s2 = await r2.open('beta');
    expect(s2.containerId).toBe(s1.containerId);
    expect(s2.created).toEqual({ workspace: false, container: false, fromPool: false, resumed: false });
    expect((await s2.exec('pwd; echo $ADOPT')).stdout).toBe('/tmp\nyes\n');
    expect((await r2.list()).find((x) => x.name === 'beta')?.open).toBe(true);
    expect(await r2.open('beta')).toBe(s2);
  });

  it('validates names and can require an existing workspace', async () => {
    const r = await runner();
    await expect(r.open('../etc')).rejects.toSatisfy((e: unknown) => isBerthError(e, 'INVALID_NAME'));
    await expect(r.open('Bad Name')).rejects.toSatisfy((e: unknown) => isBerthError(e, 'INVALID_NAME'));
    await expect(r.open('missing', { create: false })).rejects.toSatisfy((e: unknown) => isBerthError(e, 'NOT_FOUND'));
    expect(await r.workspaces.find('missing')).toBeUndefined();
  });

  it('a failing install rolls back everything open created', async () => {
    const r = await runner(busyboxSpec({ install: ['echo about to fail; exit 3'] }));
    const err = await r.open('broken').catch((e: unknown) => e);
    expect(isBerthError(err, 'SETUP_FAILED')).toBe(true);
    expect((err as Error).message).toContain('exit 3');
    expect((err as Error).message).toContain('about to fail');
    expect(await r.workspaces.find('broken')).toBeUndefined();
    expect(await containerState(`berth-ws-${r.repo.id}-broken`)).toBeUndefined();
  });

  it('gc reaps containers and volumes of workspaces deleted behind the runner’s back', async () => {
    const r = await runner(busyboxSpec({ volumes: { data: '/data' } }));
    const s = await r.open('orphan');
    const id = s.containerId;
    await r.close({ stop: false });
    // Delete the workspace with the git library only: the container is now an orphan.
    const ws = await Workspaces.open(fx.repo, { dataDir: fx.dataDir });
    await ws.delete('orphan');
    const r2 = await runner(busyboxSpec({ volumes: { data: '/data' } }), { reconcile: false });
    expect((await r2.list()).find((x) => x.name === 'orphan')?.workspaceExists).toBe(false);
    const report = await r2.gc();
    expect(report.removedContainers).toContain(`berth-ws-${r2.repo.id}-orphan`);
    expect(report.removedVolumes).toContain(`berth-vol-${r2.repo.id}-orphan-data`);
    expect(await containerState(id)).toBeUndefined();
    expect((await r2.gc()).removedContainers).toEqual([]);
  });

  it('delete removes the workspace, its container and its volumes', async () => {
    const r = await runner(busyboxSpec({ volumes: { data: '/data' } }));
    const s = await r.open('gamma');
    const worktree = s.workspace.worktree;
    const res = await r.delete('gamma');
    expect(res.containers).toEqual([`berth-ws-${r.repo.id}-gamma`]);
    expect(res.volumes).toEqual([`berth-vol-${r.repo.id}-gamma-data`]);
    expect(await containerState(s.containerId)).toBeUndefined();
    expect(existsSync(worktree)).toBe(false);
    expect(await r.workspaces.find('gamma')).toBeUndefined();
    expect(s.closed).toBe(true);
  });

  it('stops an idle session’s container and keeps it', async () => {
    const r = await runner(busyboxSpec({ idleTimeout: '1s' }));
    const s = await r.open('idle');
    await s.exec('true');
    for (let i = 0; i < 40 && !s.closed; i++) await sleep(250);
    expect(s.closed).toBe(true);
    for (let i = 0; i < 40 && (await containerState(s.containerId))?.running; i++) await sleep(250);
    expect((await containerState(s.containerId))?.running).toBe(false);
    const back = await r.open('idle');
    expect(back.created.resumed).toBe(true);
    await back.close();
  });

  it('a killed container fails the next call with the reason; open resumes it without loss', async () => {
    const r = await runner();
    const s = await r.open('killed');
    await s.exec('echo keep > kept.txt && echo layer > $HOME/layer && cd src');
    await docker.getContainer(s.containerId).kill();
    const err = await s.exec('true').catch((e: unknown) => e);
    expect(isBerthError(err, 'CONTAINER_DIED')).toBe(true);
    expect((err as Error).message).toMatch(/exited with code 137/);
    expect((err as Error).message).toContain('Open the session again');
    await expect(s.exec('true')).rejects.toSatisfy((e: unknown) => isBerthError(e, 'CONTAINER_DIED'));
    const again = await r.open('killed');
    expect(again).not.toBe(s);
    expect(again.containerId).toBe(s.containerId);
    expect((await again.exec('pwd; cat /workspace/kept.txt $HOME/layer')).stdout).toBe('/workspace/src\nkeep\nlayer\n');
  });
});

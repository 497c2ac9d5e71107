// gc on real repositories and containers: it never deletes what it cannot understand (a workspace
// whose state note is corrupt still has its branch, so its container is kept and reported), and it
// reaps every labelled container nothing can own any more, in any state (Created included).
import { Dockerode } from '../helpers/docker.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { IMAGES } from '../../src/images.js';
import { buildLabels, sessionContainerName } from '../../docker/labels.js';
import { Runner } from '../../runner/session/index.js';
import { describeDocker } from '../helpers/docker.js';
import { busyboxSpec, containerState, makeFixture, type Fixture } from './helpers.js';

describeDocker('gc', () => {
  let fx: Fixture;
  const docker = new Dockerode();
  const runners: Runner[] = [];

  async function runner(reconcile = false): Promise<Runner> {
    const r = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, spec: busyboxSpec(), reconcile });
    runners.push(r);
    return r;
  }

  beforeAll(() => {
    fx = makeFixture('berth-gc-');
  });

  afterAll(async () => {
    for (const r of runners) await r.close().catch(() => undefined);
    await fx?.cleanup();
  });

  it('keeps (and reports) the container of a workspace whose state note is corrupt', async () => {
    const r = await runner();
    const s = await r.open('corrupt');
    await s.exec('echo precious > installed.txt');
    const containerName = s.containerName;
    await s.close();
    // The state note sits on the workspace's root commit; overwrite it with garbage.
    fx.git('notes', '--ref=refs/notes/berth', 'add', '-f', '-m', 'garbage', s.workspace.rootSha);
    // The library lists it as corrupt (its raw note quarantined), never as gone.
    const listed = (await r.workspaces.list()).find((w) => w.name === 'corrupt');
    expect(listed?.corrupt).toBeDefined();

    // A new runner reconciles at start (gc), then gc runs again explicitly.
    const r2 = await runner(true);
    const report = await r2.gc();
    expect(await containerState(s.containerId), `container ${s.containerId} was deleted`).toBeDefined();
    expect(report.removedContainers).not.toContain(containerName);
  });

  it('reaps labelled containers no workspace can own, including ones still in state Created', async () => {
    const r = await runner();
    const labels = (workspace?: string) => buildLabels({ role: 'session', repo: r.repo, ...(workspace ? { workspace } : {}), extra: fx.labels });
    const ghost = await docker.createContainer({
      name: sessionContainerName(r.repo, 'ghost'),
      Image: IMAGES.busybox,
      Cmd: ['sleep', '1000'],
      Labels: labels('ghost'),
      HostConfig: { NetworkMode: 'none' },
    });
    const stray = await docker.createContainer({
      name: `berth-stray-${fx.runId}`,
      Image: IMAGES.busybox,
      Cmd: ['sleep', '1000'],
      Labels: labels(),
      HostConfig: { NetworkMode: 'none' },
    });
    expect((await ghost.inspect()).State.Status).toBe('created');
    const report = await r.gc();
    expect(await containerState(ghost.id), `container ${ghost.id} survived gc`).toBeUndefined();
    expect(await containerState(stray.id), `container ${stray.id} survived gc`).toBeUndefined();
    expect(report.removedContainers).toEqual(expect.arrayContaining([sessionContainerName(r.repo, 'ghost'), `berth-stray-${fx.runId}`]));
  });
});

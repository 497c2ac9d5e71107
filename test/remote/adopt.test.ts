// A remote workspace outlives its runner process: a new Runner (labels are the truth) adopts the
// running session container and the volumes as they are, without reseeding over the agent's
// uncheckpointed work; a stopped container is restarted on the same volumes.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { checkpointWorkspace } from '../../runner/session/checkpoints.js';
import { Runner } from '../../runner/session/index.js';
import { describeDocker } from '../helpers/docker.js';
import { busyboxSpec, makeFixture, removeLabelled, type Fixture } from '../runner/helpers.js';

describeDocker('remote workspace adoption', () => {
  let fx: Fixture;
  const runners: Runner[] = [];
  const create = async () => {
    const r = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, spec: busyboxSpec(), reconcile: false, remote: true });
    runners.push(r);
    return r;
  };

  beforeAll(() => {
    fx = makeFixture('berth-remote-adopt-');
  });

  afterAll(async () => {
    for (const r of runners) await r.close().catch(() => undefined);
    if (fx) {
      await removeLabelled(fx.runId);
      await fx.cleanup();
    }
  });

  it('a new runner adopts the container and volumes; uncheckpointed work survives', async () => {
    const a = await create();
    const s1 = await a.open('keep');
    expect((await s1.exec('echo pending > pending.txt')).exitCode).toBe(0);
    await a.close({ stop: false });

    const b = await create();
    const s2 = await b.open('keep');
    expect(s2.containerId).toBe(s1.containerId);
    expect(s2.created).toMatchObject({ container: false, workspace: false });
    expect((await s2.exec('cat pending.txt')).stdout).toBe('pending\n');
    await b.close(); // stops the container

    const c = await create();
    const s3 = await c.open('keep');
    expect(s3.containerId).toBe(s1.containerId);
    expect(s3.created.resumed).toBe(true);
    expect((await s3.exec('cat pending.txt')).stdout).toBe('pending\n');
    const cp = await checkpointWorkspace(c, 'keep', { message: 'pending work' });
    expect(fx.git('show', `${cp.sha}:pending.txt`)).toBe('pending\n');
  }, 180_000);
});

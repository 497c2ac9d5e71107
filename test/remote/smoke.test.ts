import { afterAll, beforeAll, expect, it } from 'vitest';
import { Runner } from '../../runner/session/index.js';
import { checkpointWorkspace } from '../../runner/session/checkpoints.js';
import { describeDocker } from '../helpers/docker.js';
import { busyboxSpec, makeFixture, removeLabelled, type Fixture } from '../runner/helpers.js';

describeDocker('remote smoke', () => {
  let fx: Fixture;
  let runner: Runner;
  beforeAll(async () => {
    fx = makeFixture('berth-remote-smoke-');
    runner = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, spec: busyboxSpec(), reconcile: false, remote: true });
  });
  afterAll(async () => {
    await runner?.close().catch(() => undefined);
    if (fx) {
      await removeLabelled(fx.runId);
      await fx.cleanup();
    }
  });
  it('seeds, execs, checkpoints', async () => {
    const s = await runner.open('a');
    const r = await s.exec('ls -la; id; echo hi > new.txt; cat .git');
    console.log(r.stdout, r.stderr);
    const cp = await checkpointWorkspace(runner, 'a', { message: 'add new' });
    console.log(cp);
    console.log(await runner.workspaces.diff('a'));
  }, 120_000);
});

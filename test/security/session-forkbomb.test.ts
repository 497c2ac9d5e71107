// Attack: a background fork bomb fills the container's pids cgroup, so no `docker exec` can fork
// inside it, and then the agent (or the user) asks berth to kill it. process_kill must work
// anyway (berth signals from the host when its helper can't start), without restarting the
// container, and the session must stay usable.
import { readFileSync } from 'node:fs';
import { Dockerode } from '../helpers/docker.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Runner } from '../../runner/session/index.js';
import { describeDocker } from '../helpers/docker.js';
import { makeFixture, nodeSpec, sleep, type Fixture } from '../runner/helpers.js';

describeDocker('security: killing a background fork bomb', () => {
  let fx: Fixture;
  let runner: Runner | undefined;
  const docker = new Dockerode();

  beforeAll(() => {
    fx = makeFixture('berth-forkbomb-');
  });

  afterAll(async () => {
    await runner?.close().catch(() => undefined);
    await fx?.cleanup();
  });

  it('process_kill stops a fork bomb that leaves no room for a helper; the session stays usable', async () => {
    runner = await Runner.create({
      repo: fx.repo,
      dataDir: fx.dataDir,
      labels: fx.labels,
      reconcile: false,
      spec: nodeSpec({ resources: { cpus: 1, memoryMb: 512, pids: 64 } }),
    });
    const s = await runner.open('bomb');
    await s.exec('cd /tmp && export KEEP=kept');
    const startedAt = (await docker.getContainer(s.containerId).inspect()).State.StartedAt;
    // bash retries a failed fork instead of exiting, so the cgroup stays full (busybox sh gives up).
    await s.startProcess('bomb', 'f(){ f|f& };f');
    // Wait until the pids cgroup is full (the host's view of it: cgroup v1 or v2).
    const pidsFile = async (f: string) => {
      const pid = (await docker.getContainer(s.containerId).inspect()).State.Pid;
      const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
      const v1 = lines.find((l) => /^\d+:pids:/.test(l))?.split(':')[2];
      const v2 = lines.find((l) => l.startsWith('0::'))?.slice(3);
      return readFileSync(v1 !== undefined ? `/sys/fs/cgroup/pids${v1}/${f}` : `/sys/fs/cgroup${v2}/${f}`, 'utf8').trim();
    };
    let full = false;
    for (let i = 0; i < 60 && !full; i++) {
      await sleep(250);
      full = Number(await pidsFile('pids.current')) >= 64 - 2;
    }
    expect(full, 'the fork bomb never filled the pids cgroup').toBe(true);

    const killed = await s.killProcess('bomb', { graceMs: 500 });
    expect(killed.running).toBe(false);
    const after = await s.exec('pwd; echo $KEEP; ls / > /dev/null && echo forks-ok', { timeoutMs: 30_000 });
    expect(after.stdout).toBe('/tmp\nkept\nforks-ok\n');
    // Killed, not cured by restarting the container.
    expect((await docker.getContainer(s.containerId).inspect()).State.StartedAt).toBe(startedAt);
  });
});

// `berth ws sync` as a user runs it (the real CLI process): the agent's live work in a remote
// workspace's volume becomes a commit on the host branch and appears in the host worktree.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Runner } from '../../runner/session/index.js';
import { envWithout, runBerth } from '../helpers/cli.js';
import { describeDocker } from '../helpers/docker.js';
import { busyboxSpec, makeFixture, removeLabelled, type Fixture } from '../runner/helpers.js';

const berth = (args: string[], env: Record<string, string>) => runBerth(args, { env: { ...envWithout('GIT_', 'BERTH_'), ...env } });

describeDocker('berth ws sync (CLI)', () => {
  let fx: Fixture;
  let runner: Runner;

  beforeAll(async () => {
    fx = makeFixture('berth-remote-sync-');
    fx.write('berth.yaml', 'image: berth-busybox:1\nresources: {cpus: 1, memoryMb: 256, pids: 256}\n');
    fx.commitAll('berth.yaml');
    runner = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, spec: busyboxSpec(), reconcile: false, remote: true });
  });

  afterAll(async () => {
    await runner?.close().catch(() => undefined);
    if (fx) {
      await removeLabelled(fx.runId);
      await fx.cleanup();
    }
  });

  it('commits the live tree on the host branch and moves the host worktree to it', async () => {
    const s = await runner.open('live');
    expect((await s.exec('echo live-edit > live.txt')).exitCode).toBe(0);
    const env = { BERTH_DATA_DIR: fx.dataDir };
    const r = await berth(['ws', 'sync', 'live', '--repo', fx.repo, '-m', 'synced from the CLI', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { remote: boolean; committed: boolean; sha: string; worktree: string };
    expect(out).toMatchObject({ remote: true, committed: true, filesChanged: 1 });
    expect(fx.git('log', '-1', '--format=%s', 'berth/live').trim()).toBe('synced from the CLI');
    expect(readFileSync(join(out.worktree, 'live.txt'), 'utf8')).toBe('live-edit\n');
    // Again with nothing new: in sync, no commit.
    const again = JSON.parse((await berth(['ws', 'sync', 'live', '--repo', fx.repo, '--json'], env)).stdout) as { committed: boolean; sha: string };
    expect(again).toMatchObject({ committed: false, sha: out.sha });
    const help = await berth(['ws', 'sync', '--help'], env);
    expect(help.stdout).toContain('Example:');
  }, 180_000);
});

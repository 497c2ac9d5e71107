// Attack: an agent in its session container leaves a setuid/setgid-root binary in the host
// worktree (`cp /bin/sh ./sh && chmod u+s ./sh`). Docker bind mounts can't carry nosuid, so with
// a root session user that file is a root shell on the host. berth must run sessions as an
// unprivileged user when it is root, so no file the agent can touch is both set-id and root-owned,
// and keep its data dir private (0700).
import { lstatSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Runner } from '../../runner/session/index.js';
import { describeDocker } from '../helpers/docker.js';
import { busyboxSpec, makeFixture, type Fixture } from '../runner/helpers.js';

/** Every entry under `dir` that is setuid or setgid AND owned by root (lstat: symlinks not followed). */
function rootSetIdEntries(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, rel))) {
    const r = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(dir, r));
    if ((st.mode & 0o6000) !== 0 && st.uid === 0) out.push(`${r} (mode ${(st.mode & 0o7777).toString(8)}, uid ${st.uid}, gid ${st.gid})`);
    if (st.isDirectory() && name !== '.git') out.push(...rootSetIdEntries(dir, r));
  }
  return out;
}

describeDocker('security: setuid-root files planted in the host worktree', () => {
  let fx: Fixture;
  let runner: Runner | undefined;

  beforeAll(() => {
    fx = makeFixture('berth-setuid-');
  });

  afterAll(async () => {
    await runner?.close().catch(() => undefined);
    await fx?.cleanup();
  });

  it('the agent cannot leave a setuid or setgid root file in the worktree; the data dir is 0700', async () => {
    // A trusted setup command (root) leaves a root-owned copy of the shell in the workdir: the
    // agent must not be able to make that one setuid either.
    runner = await Runner.create({
      repo: fx.repo,
      dataDir: fx.dataDir,
      labels: fx.labels,
      reconcile: false,
      spec: busyboxSpec({ setup: ['cp /bin/busybox /workspace/rootsh && chmod 0755 /workspace/rootsh'] }),
    });
    const s = await runner.open('evil');
    const attack = [
      'cp /bin/busybox ./sh; chmod u+s ./sh',
      'cp /bin/busybox ./gsh; chmod g+s ./gsh',
      'cp /bin/busybox ./both; chmod 6755 ./both; chown 0:0 ./both',
      'mkdir -p sub/dir; cp /bin/busybox sub/dir/sh; chmod 4755 sub/dir/sh; chmod g+s sub',
      'chmod u+s rootsh; chmod g+s rootsh; chmod 6755 src/app.txt',
      'ls -ln . sub/dir',
    ].join('; ');
    const r = await s.exec(attack, { timeoutMs: 30_000 });
    expect(r.exitCode, r.stderr).not.toBeNull();
    // The agent did get its own set-id files; they just aren't root's.
    const own = lstatSync(join(s.workspace.worktree, 'sh'));
    expect(own.isFile()).toBe(true);

    const found = rootSetIdEntries(s.workspace.worktree);
    expect(found, `setuid/setgid root files in ${s.workspace.worktree}:\n${found.join('\n')}\n${r.stdout}`).toEqual([]);
    expect(statSync(fx.dataDir).mode & 0o777).toBe(0o700);
    // The top of the worktree is not reachable by other host users either.
    expect(statSync(s.workspace.worktree).mode & 0o007).toBe(0);
  });
});

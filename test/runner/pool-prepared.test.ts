// Warm pool slots with a worktree checked out ahead of time, on real containers and real git:
// a warm open must be indistinguishable from a cold one (git, notes, files, ownership, `ws show
// --json`, container hardening); a moved HEAD is re-prepared in the background; concurrent
// claims get distinct slots; a claim killed (SIGKILL) between the rename and the branch leaves a
// slot that the next open and gc repair.
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Runner, type Session } from '../../runner/session/index.js';
import { Dockerode, describeDocker } from '../helpers/docker.js';
import { busyboxSpec, makeFixture, sleep, type Fixture } from './helpers.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'berth.js');
const CHILD = join(import.meta.dirname, 'child-runner.ts');

describeDocker('warm pool with prepared worktrees', () => {
  let fx: Fixture;
  const runners: Runner[] = [];
  const docker = new Dockerode();
  const spec = () => busyboxSpec({ pool: { size: 1 } });

  async function runner(pool: { size?: number; autoRefill?: boolean }): Promise<Runner> {
    const r = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, spec: spec(), pool: { autoRefill: false, ...pool } });
    runners.push(r);
    return r;
  }

  function showJson(name: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, 'ws', 'show', name, '--json'], { cwd: fx.repo, env: { ...process.env, BERTH_DATA_DIR: fx.dataDir } });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as Record<string, unknown>) : reject(new Error(`ws show exited ${code}`))));
    });
  }

  /** What an agent and a user can observe of a session, with per-workspace names and ids normalised. */
  async function observe(s: Session): Promise<Record<string, unknown>> {
    const ws = s.workspace;
    const wt = ws.worktree;
    const norm = (x: string) => x.split(wt).join('<wt>').split(ws.rootSha).join('<root>').split(ws.name).join('<name>').split(s.containerId).join('<id>');
    const files = readdirSync(wt, { recursive: true, encoding: 'utf8' })
      .sort()
      .map((f) => {
        const st = lstatSync(join(wt, f));
        return `${f} ${st.mode.toString(8)} ${st.uid}:${st.gid}`;
      });
    const top = lstatSync(wt);
    const info = await s.exec('id; ls -lnA /workspace /workspace/src | sed 1d; git -C /workspace status --porcelain 2>&1 | head -1; echo "$BERTH_WORKSPACE"');
    const hc = (await docker.getContainer(s.containerId).inspect()) as unknown as { HostConfig: Record<string, unknown>; Config: Record<string, unknown> };
    const h = hc.HostConfig;
    const hardening = Object.fromEntries(
      [
        'CapDrop',
        'CapAdd',
        'SecurityOpt',
        'ReadonlyRootfs',
        'Privileged',
        'NetworkMode',
        'PidsLimit',
        'Memory',
        'NanoCpus',
        'Init',
        'IpcMode',
        'UsernsMode',
        'Tmpfs',
        'Ulimits',
        'Devices',
      ].map((k) => [k, h[k]]),
    );
    const mounts = ((h.Mounts as { Type: string; Source: string; Target: string; ReadOnly?: boolean }[] | undefined) ?? []).map((m) => ({
      ...m,
      Source: norm(m.Source),
    }));
    const show = await showJson(ws.name);
    const sw = show.workspace as Record<string, unknown>;
    const note = JSON.parse(fx.git('notes', '--ref=berth', 'show', ws.rootSha)) as Record<string, unknown>;
    const entry = fx
      .git('worktree', 'list', '--porcelain')
      .split('\n\n')
      .find((b) => b.startsWith(`worktree ${wt}\n`));
    return {
      branch: norm(ws.branch),
      base: [ws.baseRef, ws.baseSha],
      rootParent: fx.git('rev-parse', `${ws.rootSha}^`).trim(),
      rootTree: fx.git('rev-parse', `${ws.rootSha}^{tree}`).trim(),
      dirty: ws.dirty,
      note: { ...note, name: '<name>', rootSha: '<root>', createdAt: '<t>', worktree: '<wt>', ownsWorktreeDir: '<owns>' },
      show: {
        ...show,
        workspace: {
          ...sw,
          name: '<name>',
          branch: norm(String(sw.branch)),
          rootSha: '<root>',
          head: '<root>',
          createdAt: '<t>',
          worktree: '<wt>',
          ownsWorktreeDir: '<owns>',
        },
      },
      worktreeEntry: entry ? norm(entry) : undefined,
      status: fx.git('-C', wt, 'status', '--porcelain', '--untracked-files=all'),
      index: fx.git('-C', wt, 'ls-files', '-s'),
      gitFile: readFileSync(join(wt, '.git'), 'utf8').replace(/worktrees\/[^\n]+/, '<admin>'),
      top: `${top.mode.toString(8)} ${top.uid}:${top.gid}`,
      files,
      // The .git file's size is the length of the admin dir's path (the worktree's location).
      inContainer: norm(info.stdout)
        .replace(/\w{3} [ \d]\d [\d:]{4,5}/g, '<date>')
        .replace(/\d+ <date> \.git$/m, '<size> <date> .git'),
      user: hc.Config.User,
      workdir: hc.Config.WorkingDir,
      env: (hc.Config.Env as string[]).map(norm).sort(),
      hardening,
      mounts,
    };
  }

  beforeAll(() => {
    fx = makeFixture('berth-pool-prep-');
  });

  afterAll(async () => {
    for (const r of runners) await r.close().catch(() => undefined);
    await fx?.cleanup();
  });

  it('a warm open (prepared slot) is indistinguishable from a cold open', async () => {
    const cold = await runner({ size: 0 });
    const warm = await runner({});
    await warm.warmPool();
    const slot = (await warm.poolStatus()).containers[0]!.slot;
    // Warm-up checked HEAD out in the slot, detached, before any workspace was asked for.
    expect(await warm.workspaces.preparedAt(join(warm.pool.dir(), slot))).toBe(fx.git('rev-parse', 'HEAD').trim());
    const w = await warm.open('same-warm');
    const c = await cold.open('same-cold');
    expect(w.created.fromPool).toBe(true);
    expect(c.created.fromPool).toBe(false);
    const [ow, oc] = [await observe(w), await observe(c)];
    expect(ow).toEqual(oc);
    // The only differences: where the worktree lives (the slot the pool container mounts), as for
    // any pooled workspace before prepared slots existed.
    expect(w.workspace.worktree).toBe(join(warm.pool.dir(), slot));
    expect(w.workspace.ownsWorktreeDir).toBe(false);
    // Both keep working the same way: checkpoint, delete.
    for (const [r, s] of [
      [warm, w],
      [cold, c],
    ] as const) {
      await s.exec('echo change > src/app.txt');
      expect((await r.workspaces.checkpoint(s.workspace.name, 'edit')).filesChanged).toBe(1);
      await r.delete(s.workspace.name);
    }
    expect(fx.git('worktree', 'list', '--porcelain').match(/^worktree /gm)).toHaveLength(1);
  });

  it('HEAD moved: the claim checks the new base out, and refill re-prepares the other slots in the background', async () => {
    const r = await runner({ size: 2 });
    await r.warmPool();
    fx.write('moved.txt', 'moved\n');
    fx.commitAll('move HEAD');
    const head = fx.git('rev-parse', 'HEAD').trim();
    const s = await r.open('moved-1');
    expect(s.created.fromPool).toBe(true);
    expect(s.workspace.baseSha).toBe(head);
    expect((await s.exec('cat moved.txt')).stdout).toBe('moved\n');
    expect((await r.workspaces.get('moved-1')).dirty).toBe(false);
    const [other] = (await r.poolStatus()).containers;
    expect(await r.workspaces.preparedAt(join(r.pool.dir(), other!.slot))).not.toBe(head);
    await r.warmPool(); // what the background refill runs
    expect(await r.workspaces.preparedAt(join(r.pool.dir(), other!.slot))).toBe(head);
    const s2 = await r.open('moved-2');
    expect((await s2.exec('cat moved.txt')).stdout).toBe('moved\n');
    await r.delete('moved-1');
    await r.delete('moved-2');
  });

  it('concurrent claims on one runner get distinct prepared slots', async () => {
    const r = await runner({ size: 2 });
    await r.warmPool({ size: 2 });
    const [a, b] = await Promise.all([r.open('conc-a'), r.open('conc-b')]);
    expect(a.created.fromPool && b.created.fromPool).toBe(true);
    expect(a.workspace.worktree).not.toBe(b.workspace.worktree);
    expect(a.containerId).not.toBe(b.containerId);
    expect(fx.git('-C', a.workspace.worktree, 'branch', '--show-current').trim()).toBe('berth/conc-a');
    expect(fx.git('-C', b.workspace.worktree, 'branch', '--show-current').trim()).toBe('berth/conc-b');
    await r.delete('conc-a');
    await r.delete('conc-b');
  });

  it("an agent in a claimed container can't reach another slot's prepared worktree or its git records", async () => {
    const r = await runner({ size: 2 });
    await r.warmPool({ size: 2 });
    const a = await r.open('reach-a');
    const [other] = (await r.poolStatus()).containers;
    const slotB = join(r.pool.dir(), other!.slot);
    const head = fx.git('rev-parse', 'HEAD').trim();
    expect(await r.workspaces.preparedAt(slotB)).toBe(head);
    const common = fx.git('rev-parse', '--path-format=absolute', '--git-common-dir').trim();
    const admin = join(common, 'worktrees', other!.slot);
    const attack = await a.exec(
      `ls ${slotB} 2>&1; echo x > ${slotB}/README.md 2>&1; echo 0000000000000000000000000000000000000000 > ${admin}/HEAD 2>&1; rm -rf ${admin} 2>&1; echo done`,
    );
    expect(attack.stdout).toContain('done');
    // Nothing changed on the host: the other slot is still prepared at HEAD with its files.
    expect(await r.workspaces.preparedAt(slotB)).toBe(head);
    expect(readFileSync(join(slotB, 'README.md'), 'utf8')).toBe('# fixture\n');
    const b = await r.open('reach-b');
    expect(b.workspace.worktree).toBe(slotB);
    expect((await b.exec('cat README.md')).stdout).toBe('# fixture\n');
    await r.delete('reach-a');
    await r.delete('reach-b');
  });

  it('a claim SIGKILLed between the rename and the branch leaves a slot that the next open and gc repair', async () => {
    const r = await runner({});
    await r.gc();
    await r.warmPool({ size: 1 });
    const [slot] = (await r.poolStatus()).containers;
    const slotDir = join(r.pool.dir(), slot!.slot);
    const name = `berth-ws-${r.repo.id}-crashy`;
    // Hold the repository lock: the child claims (renames) the container, then blocks in
    // Workspaces.create waiting for the lock, exactly mid-claim. There it is killed.
    let killed = false;
    await r.workspaces.withLock(async () => {
      const cfg = { repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, spec: { ...spec(), pool: { size: 1 } }, workspace: 'crashy', commands: [] };
      const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] });
      try {
        for (
          let i = 0;
          i < 120 &&
          !(await docker
            .getContainer(name)
            .inspect()
            .catch(() => undefined));
          i++
        )
          await sleep(250);
        expect(
          await docker
            .getContainer(name)
            .inspect()
            .catch(() => undefined),
        ).toBeDefined();
        child.kill('SIGKILL');
        await new Promise((res) => child.once('close', res));
        killed = true;
      } finally {
        if (!killed) child.kill('SIGKILL');
      }
    });
    // The crash left: the renamed container, the prepared worktree in its slot, no branch.
    expect(await r.workspaces.preparedAt(slotDir)).toBeDefined();
    expect(fx.git('for-each-ref', 'refs/heads/berth/crashy')).toBe('');
    // The next open of that workspace removes the orphaned container and opens cleanly...
    const s = await r.open('crashy');
    expect(s.containerId).not.toBe(slot!.id);
    expect((await s.exec('cat src/app.txt')).stdout).toBe('hello from the fixture\n');
    // ...and gc discards the prepared worktree no container mounts any more.
    await r.gc();
    expect(existsSync(slotDir)).toBe(false);
    expect(fx.git('worktree', 'list', '--porcelain')).not.toContain(slotDir);
    await r.delete('crashy');
  });
});

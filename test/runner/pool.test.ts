// The warm pool on real containers: warm, claim (worktree created in the slot the container already
// mounts), racing claimants (exactly one wins a container), refill, stale-spec reaping, deletion.
import { existsSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Dockerode } from '../helpers/docker.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LABEL } from '../../docker/labels.js';
import { isBerthError } from '../../src/errors.js';
import { Runner } from '../../runner/session/index.js';
import { describeDocker } from '../helpers/docker.js';
import { busyboxSpec, containerState, makeFixture, sleep, type Fixture } from './helpers.js';

describeDocker('warm pool', () => {
  let fx: Fixture;
  const runners: Runner[] = [];
  const docker = new Dockerode();
  const poolSpec = () => busyboxSpec({ setup: ['echo warmed > /pool-setup'], install: ['pwd > .installed'], pool: { size: 2 } });

  async function runner(spec = poolSpec(), opts: { autoRefill?: boolean; reconcile?: boolean } = {}): Promise<Runner> {
    const r = await Runner.create({
      repo: fx.repo,
      dataDir: fx.dataDir,
      labels: fx.labels,
      spec,
      pool: { autoRefill: opts.autoRefill ?? false },
      ...(opts.reconcile === undefined ? {} : { reconcile: opts.reconcile }),
    });
    runners.push(r);
    return r;
  }

  beforeAll(() => {
    fx = makeFixture('berth-pool-');
  });

  afterAll(async () => {
    for (const r of runners) await r.close().catch(() => undefined);
    await fx?.cleanup();
  });

  it('warms to the target, and a new workspace takes a warm container with its worktree in the slot', async () => {
    const r = await runner();
    const created = await r.warmPool();
    expect(created).toHaveLength(2);
    const st = await r.poolStatus();
    expect(st).toMatchObject({ target: 2, ready: 2, unsupported: null });
    expect(await r.warmPool()).toEqual([]); // already full

    const s = await r.open('p1');
    expect(s.created).toEqual({ workspace: true, container: true, fromPool: true, resumed: false });
    // Setup ran in the pool; only install ran at claim.
    expect(s.setup.steps.map((x) => x.phase)).toEqual(['install']);
    expect(s.containerName).toBe(`berth-ws-${r.repo.id}-p1`);
    expect(s.workspace.worktree.startsWith(join(fx.dataDir, 'pool', r.repo.id))).toBe(true);
    const out = await s.exec('cat /pool-setup src/app.txt .installed');
    expect(out.stdout).toBe('warmed\nhello from the fixture\n/workspace\n');
    // The pool container was created before it knew its workspace; the shell still names it.
    expect((await s.exec('echo "$BERTH_WORKSPACE"')).stdout).toBe('p1\n');
    expect((await s.exec('echo "$BERTH_WORKSPACE"', { fresh: true })).stdout).toBe('p1\n');
    const labels = (await docker.getContainer(s.containerId).inspect()).Config.Labels;
    expect(labels[LABEL.role]).toBe('pool');
    expect(labels[LABEL.mountSource]).toBe(s.workspace.worktree);
    expect((await r.poolStatus()).ready).toBe(1);
    expect((await r.list()).map((x) => x.name)).toEqual(['p1']);

    // Reopening resumes the (claimed) container by name; it is not rebuilt.
    await s.close();
    const again = await r.open('p1');
    expect(again.containerId).toBe(s.containerId);
    expect(again.created.resumed).toBe(true);
    expect((await again.exec('cat .installed')).stdout).toBe('/workspace\n');
  });

  it('racing claimants across runners: each container goes to exactly one workspace', async () => {
    const a = await runner();
    const b = await runner();
    expect((await a.poolStatus()).ready).toBe(1);
    const [sa, sb] = await Promise.all([a.open('race-a'), b.open('race-b')]);
    expect([sa.created.fromPool, sb.created.fromPool].filter(Boolean)).toHaveLength(1);
    expect(sa.containerId).not.toBe(sb.containerId);
    expect((await sa.exec('cat src/app.txt')).stdout).toBe('hello from the fixture\n');
    expect((await sb.exec('cat src/app.txt')).stdout).toBe('hello from the fixture\n');
    expect((await a.poolStatus()).ready).toBe(0);
    // Two claimants for one warm container: one rename wins.
    await a.warmPool({ size: 1 });
    const resolved = await a.resolve();
    const [ca, cb] = await Promise.all([a.pool.claim('x-one', resolved), b.pool.claim('x-two', resolved)]);
    expect([ca, cb].filter(Boolean)).toHaveLength(1);
    await a.pool.discard((ca ?? cb)!);
  });

  it('refills in the background after a claim', async () => {
    const r = await runner(poolSpec(), { autoRefill: true });
    await r.warmPool();
    await r.open('refill');
    for (let i = 0; i < 60 && (await r.poolStatus()).ready < 2; i++) await sleep(500);
    expect((await r.poolStatus()).ready).toBe(2);
  });

  it('delete of a pooled workspace removes its container and slot; gc reaps stale-spec pool containers', async () => {
    const r = await runner();
    const s = await r.open('p1');
    const slot = s.workspace.worktree;
    await r.delete('p1');
    expect(await containerState(s.containerId)).toBeUndefined();
    expect(existsSync(slot)).toBe(false);

    const before = (await r.poolStatus()).containers.map((c) => c.name);
    expect(before.length).toBeGreaterThan(0);
    // A changed setup changes the spec hash: the warm containers are now stale.
    const changed = await runner(busyboxSpec({ setup: ['echo v2 > /pool-setup'], pool: { size: 0 } }), { reconcile: false });
    const report = await changed.gc();
    expect([...report.removedContainers].sort()).toEqual(before.sort());
    expect((await changed.poolStatus()).containers).toEqual([]);
    const slots = readdirSync(join(fx.dataDir, 'pool', r.repo.id));
    // Only slots that are worktrees of live pooled workspaces remain.
    for (const d of slots) expect(readdirSync(join(fx.dataDir, 'pool', r.repo.id, d)).length).toBeGreaterThan(0);
  });

  it('refuses specs with per-workspace volumes, and berth pool status works from the CLI', async () => {
    const r = await runner(busyboxSpec({ volumes: { data: '/data' }, pool: { size: 1 } }));
    expect((await r.poolStatus()).unsupported).toMatch(/volumes/);
    await expect(r.warmPool()).rejects.toSatisfy((e: unknown) => isBerthError(e, 'POOL_ERROR'));
    const cli = spawnSync(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'berth.js'), 'pool', 'status', '--json'], {
      cwd: fx.repo,
      env: { ...process.env, BERTH_DATA_DIR: fx.dataDir },
      encoding: 'utf8',
    });
    expect(cli.status).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ target: 0, unsupported: null });
  });

  it('without install commands a claim runs nothing: warm-up made the state dirs, ran setup and recorded done', async () => {
    // Its own setup line: another spec hash than the other tests' pools.
    const r = await runner(busyboxSpec({ setup: ['echo no-install >> /pool-setup'], pool: { size: 1 } }));
    expect(await r.warmPool()).toHaveLength(1);
    const [warm] = (await r.poolStatus()).containers;
    // The daemon's event log tells which execs were created in the container, and when.
    const execsIn = async (since: number, until: number): Promise<string[]> => {
      const stream = await docker.getEvents({
        // Fractional seconds: the API takes "1700000000.123" (serialized from the number).
        since: Number((since / 1000).toFixed(3)),
        until: Number((until / 1000).toFixed(3)),
        filters: { container: [warm!.id], event: ['exec_create'] },
      });
      let text = '';
      for await (const chunk of stream as AsyncIterable<Buffer>) text += String(chunk);
      return text
        .split('\n')
        .filter(Boolean)
        .map((l) => String((JSON.parse(l) as { Action: string }).Action));
    };
    const t0 = Date.now();
    expect((await execsIn(t0 - 60_000, t0)).length).toBeGreaterThan(0); // warm-up did exec
    const s = await r.open('noinst');
    const t1 = Date.now();
    expect(s.containerId).toBe(warm!.id);
    expect(s.created).toEqual({ workspace: true, container: true, fromPool: true, resumed: false });
    expect(s.setup).toEqual({ ran: false, ok: true, steps: [] });
    expect(await execsIn(t0, t1 + 1)).toEqual([]);
    // The state dirs the shell and the setup log live in exist, setup ran exactly once, in the
    // pool, and the marker already says done, so a reopen will not run anything either.
    expect((await s.exec('cat /pool-setup /var/lib/berth/setup/status', { fresh: true })).stdout).toBe('no-install\ndone\n');
    expect((await s.exec('cat src/app.txt')).stdout).toBe('hello from the fixture\n');
    await s.close();
    const again = await r.open('noinst');
    expect(again.containerId).toBe(s.containerId);
    expect(again.setup).toEqual({ ran: false, ok: true, steps: [] });
    expect((await again.exec('cat /pool-setup')).stdout).toBe('no-install\n');
    await r.delete('noinst');
    expect(await containerState(s.containerId)).toBeUndefined();
  });

  it('a claim tries the containers its runner warmed without listing, and one another runner claimed meanwhile is never taken', async () => {
    const spec = busyboxSpec({ setup: ['echo hinted > /pool-setup'], pool: { size: 2 } });
    const a = await runner(spec);
    const b = await runner(spec);
    const hash = (await a.resolve()).hash;
    await a.warmPool();
    const warm = (await a.poolStatus()).containers.filter((c) => c.specHash === hash && c.state === 'running');
    expect(warm).toHaveLength(2);
    // a remembers both (its fill listed them); b, which never listed, takes both by listing.
    const [b1, b2] = [await b.open('hint-b1'), await b.open('hint-b2')];
    expect([b1.created.fromPool, b2.created.fromPool]).toEqual([true, true]);
    expect(new Set([b1.containerId, b2.containerId])).toEqual(new Set(warm.map((c) => c.id)));
    // a's memory is now stale: its claim must see the containers are b's, list again, find
    // none ready, and make a container of its own, leaving b's sessions alone.
    const s = await a.open('hint-a');
    expect(s.created.fromPool).toBe(false);
    expect(warm.map((c) => c.id)).not.toContain(s.containerId);
    for (const [sess, name] of [
      [b1, 'hint-b1'],
      [b2, 'hint-b2'],
    ] as const) {
      expect((await docker.getContainer(sess.containerId).inspect()).Name).toBe(`/berth-ws-${b.repo.id}-${name}`);
      expect((await sess.exec('echo "$BERTH_WORKSPACE"', { fresh: true })).stdout).toBe(`${name}\n`);
    }
    // Warm again through a: the next claim takes a container a itself just warmed.
    await a.warmPool({ size: 1 });
    const ready = (await a.poolStatus()).containers.filter((c) => c.state === 'running' && c.specHash === hash);
    expect(ready).toHaveLength(1);
    const again = await a.open('hint-a2');
    expect(again.created.fromPool).toBe(true);
    expect(again.containerId).toBe(ready[0]!.id);
    for (const n of ['hint-a', 'hint-a2']) await a.delete(n);
    for (const n of ['hint-b1', 'hint-b2']) await b.delete(n);
  });
});

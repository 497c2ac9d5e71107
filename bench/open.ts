/**
 * Group 2: opening a session for a NEW workspace (branch + worktree + a running, prepared
 * container), measured from runner.open() to the returned Session:
 *   warm  a container taken from the warm pool (filled outside the timing before each open)
 *   cold  pool size 0: create + start + prepare the container
 *   raw   dockerode create + start of the same image with the same keep-alive (the baseline;
 *         no workspace, no hardening, no state dir: the floor any open sits on)
 *   git   Workspaces.create alone, cold (branch + worktree checkout + state note): the git part
 *         of a cold open
 *   gitp  Workspaces.create claiming a prepared worktree (checked out detached ahead of time, as
 *         a warm pool slot holds one; src/workspace/prepared.ts): the git part of a warm open
 * Both git rows create the way Runner.open does: without the status of the user's checkout
 * (warnUncommitted: false; an open does not report create's warnings).
 * Each opened workspace is deleted again outside the timing, so every open starts from the same
 * state.
 */
import { mkdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { KEEPALIVE_CMD } from '../docker/index.js';
import { Runner, type RunnerOptions, type Session } from '../runner/session/index.js';
import { IMAGES } from '../src/images.js';
import type { GroupContext } from './config.js';
import { benchSpec } from './fixture.js';
import type { Row } from './report.js';
import { summarize } from './stats.js';
import { measureInterleaved, timeOnce, type Method } from './timing.js';

const GROUP_LABEL = 'dev.berth.bench-group';

function share(part: number[] | undefined, whole: number[] | undefined): string {
  if (!part?.length || !whole?.length) return '';
  return `${((summarize(part).p50 / summarize(whole).p50) * 100).toFixed(0)}% of the warm open's p50`;
}

export async function openGroup(ctx: GroupContext): Promise<Row[]> {
  const { fx, cfg } = ctx;
  const base: RunnerOptions = { repo: fx.repo, dataDir: fx.dataDir, labels: { ...fx.labels, [GROUP_LABEL]: 'open' }, spec: benchSpec() };
  // Pool size 0 makes open() skip the pool entirely; the warm runner refills only when told to,
  // outside the timing, so each warm open finds exactly one ready container.
  const cold = await Runner.create({ ...base, pool: { size: 0 } });
  const warm = await Runner.create({ ...base, pool: { size: 1, autoRefill: false } });
  let seq = 0;
  try {
    const openNew = async (runner: Runner, prefix: string, expectPool: boolean): Promise<number> => {
      const name = `${prefix}-${seq++}`;
      let s: Session | undefined;
      const ms = await timeOnce(async () => {
        s = await runner.open(name);
      });
      const from = (s as Session | undefined)?.created;
      if (!from?.workspace || !from.container || from.fromPool !== expectPool) {
        throw new Error(`open ${name}: expected a new workspace and a ${expectPool ? 'pooled' : 'new'} container, got ${JSON.stringify(from)}`);
      }
      await runner.delete(name);
      return ms;
    };
    const methods: Method[] = [
      { key: 'cold', run: () => openNew(cold, 'cold', false) },
      {
        key: 'raw',
        run: async () => {
          let id = '';
          const ms = await timeOnce(async () => {
            const c = await fx.docker.createContainer({
              Image: IMAGES.busybox,
              Entrypoint: [...KEEPALIVE_CMD],
              Cmd: [],
              Labels: { ...fx.labels, [GROUP_LABEL]: 'open' },
              HostConfig: { NetworkMode: 'none', Init: true },
            });
            id = c.id;
            await c.start();
          });
          await fx.docker.getContainer(id).remove({ force: true, v: true });
          return ms;
        },
      },
      {
        key: 'git',
        run: async () => {
          const name = `git-${seq++}`;
          const ms = await timeOnce(async () => {
            await cold.workspaces.create(name, { warnUncommitted: false });
          });
          await cold.workspaces.delete(name);
          return ms;
        },
      },
      {
        key: 'gitp',
        run: async () => {
          const name = `gitp-${seq++}`;
          const dir = join(fx.dataDir, 'bench-slots', name);
          await mkdir(dir, { recursive: true });
          await cold.workspaces.prepare(dir);
          const ms = await timeOnce(async () => {
            await cold.workspaces.create(name, { worktreeDir: dir, prepared: true, warnUncommitted: false });
          });
          await cold.workspaces.delete(name);
          await rmdir(dir);
          return ms;
        },
      },
      {
        key: 'warm',
        run: async () => {
          await warm.warmPool({ size: 1, signal: fx.signal });
          return openNew(warm, 'warm', true);
        },
      },
    ];
    ctx.log(`open: ${methods.map((m) => m.key).join(', ')} x ${cfg.opens} (after ${cfg.slowWarmup} warm-up) ...`);
    const samples = await measureInterleaved(methods, { warmup: cfg.slowWarmup, iterations: cfg.opens, block: 1, signal: fx.signal });
    const row = (key: string, id: string, label: string, baseline?: string): Row => ({
      id,
      group: 'open',
      label,
      ms: summarize(samples.get(key) as number[]),
      ...(baseline ? { baseline } : {}),
    });
    return [
      row('warm', 'open.warm', 'open new workspace: warm pool', 'open.cold'),
      row('cold', 'open.cold', 'open new workspace: cold (pool size 0)', 'open.raw'),
      row('raw', 'open.raw', 'open: raw dockerode create+start'),
      row('git', 'open.git', 'open: of which git workspace create, cold (Workspaces.create)'),
      { ...row('gitp', 'open.git.prepared', 'open: of which git, claiming a prepared slot'), note: share(samples.get('gitp'), samples.get('warm')) },
    ];
  } finally {
    await Promise.allSettled([cold.close(), warm.close()]);
  }
}

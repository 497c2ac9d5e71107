/**
 * Group 6: the RSS a runner process needs for K idle sessions (each with its persistent shell
 * attached), measured in a child process holding only a Runner (bench/workers/idle.ts), run from
 * the compiled dist/ as bin/berth.js runs it (built first when stale).
 */
import { ensureCompiled, runWorker } from './child.js';
import type { GroupContext } from './config.js';
import { benchSpec, removeTagged } from './fixture.js';
import type { Row } from './report.js';
import type { IdleInput, IdleResult } from './workers/idle.js';

const GROUP_LABEL = 'dev.berth.bench-group';

export async function idleGroup(ctx: GroupContext): Promise<Row[]> {
  const { fx, cfg } = ctx;
  ctx.log(`idle: opening ${cfg.idleSessions} sessions in a runner child process ...`);
  const input: IdleInput = {
    repo: fx.repo,
    dataDir: fx.dataDir,
    labels: { ...fx.labels, [GROUP_LABEL]: 'idle' },
    spec: benchSpec(),
    sessions: cfg.idleSessions,
  };
  await ensureCompiled(ctx.log);
  let res: IdleResult;
  try {
    res = await runWorker<IdleResult>(fx, 'idle', { ...input }, 8 * 60_000);
  } finally {
    await removeTagged(fx, GROUP_LABEL, 'idle');
  }
  const delta = res.rssAfterMb - res.rssBeforeMb;
  const per = delta / res.sessions;
  return [
    {
      id: 'idle.before',
      group: 'idle',
      label: 'runner RSS before (after one warm-up session; compiled, as `berth` runs)',
      value: { n: res.rssBeforeMb, unit: 'MiB', text: `${res.rssBeforeMb.toFixed(0)} MiB` },
      extra: { rssMiB: res.rssBeforeMb, heapUsedMiB: res.heapBeforeMb },
    },
    {
      id: 'idle.after',
      group: 'idle',
      label: `runner RSS with ${res.sessions} idle sessions (compiled, as \`berth\` runs)`,
      value: { n: res.rssAfterMb, unit: 'MiB', text: `${res.rssAfterMb.toFixed(0)} MiB (+${delta.toFixed(1)} MiB, ${per.toFixed(2)} MiB/session)` },
      baseline: 'idle.before',
      extra: {
        sessions: res.sessions,
        rssMiB: res.rssAfterMb,
        deltaMiB: delta,
        perSessionMiB: per,
        heapUsedMiB: res.heapAfterMb,
        heapDeltaMiB: res.heapAfterMb - res.heapBeforeMb,
        openAllMs: res.openMs,
      },
    },
  ];
}

/**
 * Group 4: N sessions each running M commands back to back, all sessions at once, in one runner
 * process: a child running the compiled runner with berth's node flags (bench/workers/concurrency.ts,
 * where the checks are described). R timed rounds after one untimed one (none in --quick); the
 * percentiles are over every timed command.
 */
import { ensureCompiled, runWorker } from './child.js';
import type { GroupContext } from './config.js';
import { benchSpec, removeTagged } from './fixture.js';
import type { Row } from './report.js';
import type { ConcurrencyInput, ConcurrencyResult } from './workers/concurrency.js';

const GROUP_LABEL = 'dev.berth.bench-group';

export async function concurrencyGroup(ctx: GroupContext): Promise<Row[]> {
  const { fx, cfg } = ctx;
  const n = cfg.sessions;
  const m = cfg.commands;
  const rounds = cfg.rounds;
  const warmups = cfg.slowWarmup;
  const input: ConcurrencyInput = {
    repo: fx.repo,
    dataDir: fx.dataDir,
    labels: { ...fx.labels, [GROUP_LABEL]: 'concurrency' },
    spec: benchSpec(),
    sessions: n,
    commands: m,
    rounds,
    warmups,
  };
  await ensureCompiled(ctx.log);
  ctx.log(
    `concurrency: ${n} sessions x ${m} commands${rounds > 1 ? `, ${rounds} rounds` : ''}${warmups ? ` after ${warmups} untimed` : ''}, in a runner child process ...`,
  );
  let res: ConcurrencyResult;
  try {
    res = await runWorker<ConcurrencyResult>(fx, 'concurrency', { ...input }, 10 * 60_000);
  } finally {
    await removeTagged(fx, GROUP_LABEL, 'concurrency');
  }
  for (const f of res.failures) ctx.log(`concurrency: ${f}`);
  return rows(res, input);
}

function rows(res: ConcurrencyResult, input: ConcurrencyInput): Row[] {
  const { sessions: n, commands: m, rounds, warmups } = input;
  const ms = (xs: readonly number[]) => xs.map((x) => x.toFixed(1)).join('/');
  const shellText = res.shellCpuMsPerCmd === undefined ? '' : `, containers ${res.shellCpuMsPerCmd.toFixed(3)}`;
  const warmText = res.warmupP99.length ? `; untimed warmup round p99 ${ms(res.warmupP99)} ms` : '';
  const roundsText = `${rounds > 1 ? `; p99 per round ${ms(res.roundP99)} ms` : ''}${warmText}`;
  const what = `${n} sessions x ${m} cmds${rounds > 1 ? ` x ${rounds} rounds` : ''}`;
  const throughput = (res.count / res.wallMs) * 1000;
  return [
    {
      id: 'concurrency.latency',
      group: 'concurrency',
      label: `${what}: per-command latency (runner child, as \`berth\` runs)`,
      ...(res.latency ? { ms: res.latency } : {}),
      value: {
        n: throughput,
        unit: 'cmd/s',
        text: `${throughput.toFixed(0)} cmd/s (${res.count} in ${(res.wallMs / 1000).toFixed(2)} s${roundsText}; CPU ms/cmd: runner ${res.runnerCpuMsPerCmd.toFixed(3)}${shellText})`,
      },
      baseline: 'exec.echo.shell',
      extra: {
        sessions: n,
        commandsPerSession: m,
        rounds,
        warmupRounds: warmups,
        roundP99: ms(res.roundP99),
        warmupP99: ms(res.warmupP99),
        wallMs: res.wallMs,
        throughputPerS: throughput,
        runnerCpuMsPerCmd: res.runnerCpuMsPerCmd,
        ...(res.shellCpuMsPerCmd === undefined ? {} : { shellCpuMsPerCmd: res.shellCpuMsPerCmd }),
      },
    },
    {
      id: 'concurrency.lost',
      group: 'concurrency',
      label: `${what}: lost or misattributed outputs`,
      value: {
        n: res.lost + res.misattributed,
        unit: 'outputs',
        text: `${res.lost} lost, ${res.misattributed} misattributed of ${res.total}${warmups ? ' (the warmup rounds too)' : ''}`,
      },
      extra: { lost: res.lost, misattributed: res.misattributed, total: res.total, firstFailures: res.failures.join(' | ') },
    },
  ];
}

/**
 * Group 4: N sessions each running M commands back to back, all sessions at once, in one runner
 * process. Every command echoes a token unique to (session, command); its result must carry that
 * token and no other. A command whose own token is missing (or that failed) is lost; one whose
 * output holds another command's token is misattributed. Both must be zero.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Runner, type Session } from '../runner/session/index.js';
import type { GroupContext } from './config.js';
import { benchSpec, removeTagged } from './fixture.js';
import type { Row } from './report.js';
import { summarize } from './stats.js';
import { checkAborted, mapLimit } from './timing.js';

const GROUP_LABEL = 'dev.berth.bench-group';
const OPEN_PARALLEL = 4;

export async function concurrencyGroup(ctx: GroupContext): Promise<Row[]> {
  const { fx, cfg } = ctx;
  const n = cfg.sessions;
  const m = cfg.commands;
  const runner = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, labels: { ...fx.labels, [GROUP_LABEL]: 'concurrency' }, spec: benchSpec() });
  try {
    ctx.log(`concurrency: opening ${n} sessions ...`);
    const sessions = await mapLimit(
      Array.from({ length: n }, (_, i) => i),
      OPEN_PARALLEL,
      async (i) => {
        checkAborted(fx.signal);
        const s = await runner.open(`conc-${i}`);
        // Attach the shell before the clock starts: this group measures commands, not opens.
        await s.exec('true');
        return s;
      },
    );

    const salt = randomBytes(4).toString('hex');
    let round = 0;
    const tokenOf = (i: number, j: number) => `tok${salt}r${round}s${i}c${j}e`;
    const anyToken = new RegExp(`tok${salt}r\\d+s\\d+c\\d+e`, 'g');
    const latencies: number[] = [];
    let lost = 0;
    let misattributed = 0;
    const failures: string[] = [];

    const rounds = cfg.rounds;
    // Untimed first (as the open and pipeline groups do): the first round after opening 50 sessions
    // ran ~40% slower at p50 than later ones (the opening's garbage still being collected, the
    // runner's code for this pattern still warming); its p99 is printed, not counted.
    const warmups = cfg.slowWarmup;
    ctx.log(`concurrency: ${n} sessions x ${m} commands${rounds > 1 ? `, ${rounds} rounds` : ''}${warmups ? ` after ${warmups} untimed` : ''} ...`);
    const run = async (s: Session, i: number) => {
      for (let j = 0; j < m; j++) {
        checkAborted(fx.signal);
        const token = tokenOf(i, j);
        const t0 = performance.now();
        try {
          const r = await s.exec(`echo ${token}`);
          latencies.push(performance.now() - t0);
          const seen = [...`${r.stdout}${r.stderr}`.matchAll(anyToken)].map((x) => x[0]);
          if (seen.some((t) => t !== token)) {
            misattributed++;
            if (failures.length < 5) failures.push(`session ${i} command ${j}: output holds ${seen.filter((t) => t !== token).join(', ')}`);
          } else if (r.exitCode !== 0 || r.stdout !== `${token}\n`) {
            lost++;
            if (failures.length < 5) failures.push(`session ${i} command ${j}: exit ${r.exitCode}, stdout ${JSON.stringify(r.stdout.slice(0, 100))}`);
          }
        } catch (err) {
          lost++;
          if (failures.length < 5) failures.push(`session ${i} command ${j}: ${(err as Error).message}`);
        }
      }
    };
    const warmupP99: number[] = [];
    for (round = 0; round < warmups; round++) {
      await Promise.all(sessions.map((s, i) => run(s, i)));
      if (latencies.length) warmupP99.push(summarize(latencies).p99);
      latencies.length = 0;
    }
    const shells0 = containersCpuMs(sessions);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const roundP99: number[] = [];
    for (; round < warmups + rounds; round++) {
      const from = latencies.length;
      await Promise.all(sessions.map((s, i) => run(s, i)));
      const these = latencies.slice(from);
      if (these.length) roundP99.push(summarize(these).p99);
    }
    const wallMs = performance.now() - t0;
    // The runner's own share of the per-command CPU (the rest is the shells and the kernel; with
    // the FIFO transport dockerd and the shims are off the path: see runner/session/shell-transport.ts).
    const cpu = process.cpuUsage(cpu0);
    const runnerCpuMsPerCmd = latencies.length ? (cpu.user + cpu.system) / 1000 / latencies.length : 0;
    // The containers' side (shell, relays, their syscalls), from their cgroups: unlike wall time,
    // not inflated by other work on a shared machine.
    const shells1 = containersCpuMs(sessions);
    const shellCpuMsPerCmd = shells0 !== undefined && shells1 !== undefined && latencies.length ? (shells1 - shells0) / latencies.length : undefined;
    const shellText = shellCpuMsPerCmd === undefined ? '' : `, containers ${shellCpuMsPerCmd.toFixed(3)}`;
    checkAborted(fx.signal);
    for (const f of failures) ctx.log(`concurrency: ${f}`);
    const total = n * m * (warmups + rounds);
    const perRound = roundP99.map((x) => x.toFixed(1)).join('/');
    const warmText = warmupP99.length ? `; untimed warmup round p99 ${warmupP99.map((x) => x.toFixed(1)).join('/')} ms` : '';
    const roundsText = `${rounds > 1 ? `; p99 per round ${perRound} ms` : ''}${warmText}`;
    const what = `${n} sessions x ${m} cmds${rounds > 1 ? ` x ${rounds} rounds` : ''}`;
    const throughput = (latencies.length / wallMs) * 1000;
    return [
      {
        id: 'concurrency.latency',
        group: 'concurrency',
        label: `${what}: per-command latency`,
        ...(latencies.length ? { ms: summarize(latencies) } : {}),
        value: {
          n: throughput,
          unit: 'cmd/s',
          text: `${throughput.toFixed(0)} cmd/s (${latencies.length} in ${(wallMs / 1000).toFixed(2)} s${roundsText}; CPU ms/cmd: runner ${runnerCpuMsPerCmd.toFixed(3)}${shellText})`,
        },
        baseline: 'exec.echo.shell',
        extra: {
          sessions: n,
          commandsPerSession: m,
          rounds,
          warmupRounds: warmups,
          roundP99: perRound,
          warmupP99: warmupP99.join('/'),
          wallMs,
          throughputPerS: throughput,
          runnerCpuMsPerCmd,
          ...(shellCpuMsPerCmd === undefined ? {} : { shellCpuMsPerCmd }),
        },
      },
      {
        id: 'concurrency.lost',
        group: 'concurrency',
        label: `${what}: lost or misattributed outputs`,
        value: {
          n: lost + misattributed,
          unit: 'outputs',
          text: `${lost} lost, ${misattributed} misattributed of ${total}${warmups ? ' (the warmup rounds too)' : ''}`,
        },
        extra: { lost, misattributed, total, firstFailures: failures.join(' | ') },
      },
    ];
  } finally {
    // Detach instead of stopping 20-50 containers one by one; the group's containers go at once.
    await runner.close({ stop: false });
    await removeTagged(fx, GROUP_LABEL, 'concurrency');
  }
}

/** CPU time used so far by the sessions' containers (cgroup v1 cpuacct or v2 cpu.stat), in ms; undefined if unreadable. */
function containersCpuMs(sessions: readonly Session[]): number | undefined {
  let total = 0;
  for (const s of sessions) {
    const id = s.containerId;
    const v1 = readNumber(`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`);
    if (v1 !== undefined) {
      total += v1 / 1e6;
      continue;
    }
    const v2 = [`/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`, `/sys/fs/cgroup/docker/${id}/cpu.stat`]
      .map(readUsageUsec)
      .find((x) => x !== undefined);
    if (v2 === undefined) return undefined;
    total += v2 / 1000;
  }
  return total;
}

function readNumber(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

function readUsageUsec(path: string): number | undefined {
  try {
    const m = /^usage_usec (\d+)$/m.exec(readFileSync(path, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Concurrency worker (group 4): a runner process, compiled and started with bin/berth.js's node
 * flags as `berth` runs, that opens N sessions and has each run M commands back to back, all
 * sessions at once, for an untimed warmup round and R timed rounds. Every command echoes a token
 * unique to (round, session, command); its result must carry that token and no other. A command
 * whose own token is missing (or that failed) is lost; one whose output holds another command's
 * token is misattributed. Both must be zero.
 *
 * A worker and not the bench process: by this group the bench has run thousands of execs, MCP
 * clients and dockerode calls, and runs under node's default young generation; a runner serving
 * fifty agents carries none of that and runs with berth's own flags.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Runner, type Session } from '../../runner/session/index.js';
import type { SpecInput } from '../../src/project/index.js';
import { runWorkerMain, workerDone, workerInput, type WorkerInput } from '../child.js';
import { summarize, type Summary } from '../stats.js';
import { mapLimit } from '../timing.js';

export interface ConcurrencyInput extends WorkerInput {
  readonly spec: SpecInput;
  readonly sessions: number;
  readonly commands: number;
  readonly rounds: number;
  readonly warmups: number;
}

export interface ConcurrencyResult {
  readonly latency: Summary | undefined;
  readonly count: number;
  readonly roundP99: readonly number[];
  readonly warmupP99: readonly number[];
  readonly wallMs: number;
  readonly runnerCpuMsPerCmd: number;
  readonly shellCpuMsPerCmd: number | undefined;
  readonly lost: number;
  readonly misattributed: number;
  readonly total: number;
  readonly failures: readonly string[];
}

const OPEN_PARALLEL = 4;

async function main(): Promise<void> {
  const input = workerInput<ConcurrencyInput>();
  const runner = await Runner.create({ repo: input.repo, dataDir: input.dataDir, labels: input.labels, spec: input.spec, reconcile: false });
  try {
    const sessions = await mapLimit(
      Array.from({ length: input.sessions }, (_, i) => i),
      OPEN_PARALLEL,
      async (i) => {
        const s = await runner.open(`conc-${i}`);
        // Attach the shell before the clock starts: this group measures commands, not opens.
        await s.exec('true');
        return s;
      },
    );
    process.stderr.write(`concurrency: ${sessions.length} sessions open\n`);
    workerDone(await measure(sessions, input));
  } finally {
    // Detach instead of stopping 20-50 containers one by one; the bench removes the group's containers.
    await runner.close({ stop: false });
  }
}

async function measure(sessions: readonly Session[], input: ConcurrencyInput): Promise<ConcurrencyResult> {
  const salt = randomBytes(4).toString('hex');
  const anyToken = new RegExp(`tok${salt}r\\d+s\\d+c\\d+e`, 'g');
  const latencies: number[] = [];
  const failures: string[] = [];
  let lost = 0;
  let misattributed = 0;
  const fail = (what: string) => failures.length < 5 && failures.push(what);
  const run = async (s: Session, i: number, round: number) => {
    for (let j = 0; j < input.commands; j++) {
      const token = `tok${salt}r${round}s${i}c${j}e`;
      const t0 = performance.now();
      try {
        const r = await s.exec(`echo ${token}`);
        latencies.push(performance.now() - t0);
        const other = [...`${r.stdout}${r.stderr}`.matchAll(anyToken)].map((x) => x[0]).filter((t) => t !== token);
        if (other.length) {
          misattributed++;
          fail(`session ${i} command ${j}: output holds ${other.join(', ')}`);
        } else if (r.exitCode !== 0 || r.stdout !== `${token}\n`) {
          lost++;
          fail(`session ${i} command ${j}: exit ${r.exitCode}, stdout ${JSON.stringify(r.stdout.slice(0, 100))}`);
        }
      } catch (err) {
        lost++;
        fail(`session ${i} command ${j}: ${(err as Error).message}`);
      }
    }
  };
  const round = async (r: number): Promise<number | undefined> => {
    const from = latencies.length;
    await Promise.all(sessions.map((s, i) => run(s, i, r)));
    const these = latencies.slice(from);
    return these.length ? summarize(these).p99 : undefined;
  };
  // Untimed first (as the open and pipeline groups do): the first round after opening 50 sessions
  // ran ~40% slower at p50 than later ones (the opening's garbage still being collected, the
  // runner's code for this pattern still warming); its p99 is reported, not counted.
  const warmupP99: number[] = [];
  for (let r = 0; r < input.warmups; r++) {
    const p99 = await round(r);
    if (p99 !== undefined) warmupP99.push(p99);
    latencies.length = 0;
  }
  const shells0 = containersCpuMs(sessions);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const roundP99: number[] = [];
  for (let r = input.warmups; r < input.warmups + input.rounds; r++) {
    const p99 = await round(r);
    if (p99 !== undefined) roundP99.push(p99);
  }
  const wallMs = performance.now() - t0;
  // The runner's own share of the per-command CPU (the rest is the shells and the kernel; with
  // the FIFO transport dockerd and the shims are off the path: see runner/session/shell-transport.ts).
  const cpu = process.cpuUsage(cpu0);
  const n = latencies.length;
  // The containers' side (shell, their syscalls), from their cgroups: unlike wall time, not
  // inflated by other work on a shared machine.
  const shells1 = containersCpuMs(sessions);
  return {
    latency: n ? summarize(latencies) : undefined,
    count: n,
    roundP99,
    warmupP99,
    wallMs,
    runnerCpuMsPerCmd: n ? (cpu.user + cpu.system) / 1000 / n : 0,
    shellCpuMsPerCmd: shells0 !== undefined && shells1 !== undefined && n ? (shells1 - shells0) / n : undefined,
    lost,
    misattributed,
    total: sessions.length * input.commands * (input.warmups + input.rounds),
    failures,
  };
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

runWorkerMain(main);

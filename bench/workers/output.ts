/**
 * Output worker (group 5): a runner process that streams a large stdout through Session.exec, or
 * (for comparison, in a worker of its own) through a plain dockerode exec of the same command in
 * the session's container, recording the time and this process's RSS before and at its peak for
 * each run. One method per process: memory one method leaves behind (freed heap the allocator
 * keeps) must not inflate the other's "before" and hide its growth.
 *
 * Peak RSS is the kernel's high-water mark (VmHWM, reset through /proc/self/clear_refs before each
 * run), so a spike between two samples is not missed; where /proc can't do that, RSS sampled every
 * 5 ms stands in.
 */
import { performance } from 'node:perf_hooks';
import { docker } from '../../docker/index.js';
import { Runner } from '../../runner/session/index.js';
import type { SpecInput } from '../../src/project/index.js';
import { dockerodeExec } from '../baselines.js';
import { peakRssMb, resetPeakRss, rssMb, settle, runWorkerMain, workerDone, workerInput, type WorkerInput } from '../child.js';

export interface OutputInput extends WorkerInput {
  readonly spec: SpecInput;
  readonly method: 'berth' | 'dockerode';
  readonly bytes: number;
  readonly runs: number;
}

export interface OutputRun {
  readonly ms: number;
  readonly bytes: number;
  readonly rssBeforeMb: number;
  readonly peakRssMb: number;
}

export interface OutputResult {
  readonly runs: OutputRun[];
  /** True when peaks are the kernel's VmHWM; false when they were sampled. */
  readonly kernelPeak: boolean;
}

const KEEP = 1024 * 1024;

async function measure(bytes: number, op: () => Promise<number>): Promise<OutputRun & { kernel: boolean }> {
  await settle();
  const kernel = resetPeakRss();
  const before = rssMb();
  let sampled = before;
  const timer = setInterval(() => (sampled = Math.max(sampled, rssMb())), 5);
  const t0 = performance.now();
  let got: number;
  try {
    got = await op();
  } finally {
    clearInterval(timer);
  }
  const ms = performance.now() - t0;
  sampled = Math.max(sampled, rssMb());
  const hwm = kernel ? peakRssMb() : undefined;
  if (got !== bytes) throw new Error(`expected ${bytes} bytes of stdout, got ${got}`);
  return { ms, bytes: got, rssBeforeMb: before, peakRssMb: Math.max(hwm ?? 0, sampled), kernel: hwm !== undefined };
}

async function main(): Promise<void> {
  const input = workerInput<OutputInput>();
  const runner = await Runner.create({ repo: input.repo, dataDir: input.dataDir, labels: input.labels, spec: input.spec, reconcile: false });
  try {
    const s = await runner.open('bench-output');
    const line = (n: number) => `head -c ${n} /dev/zero | tr '\\0' a`;
    const viaBerth = async (n: number) => {
      const r = await s.exec(line(n));
      if (r.exitCode !== 0 || !r.stdout.startsWith('aaaa'))
        throw new Error(`Session.exec: exit ${r.exitCode}, stdout starts ${JSON.stringify(r.stdout.slice(0, 20))}`);
      return r.stdoutBytes;
    };
    const viaDockerode = async (n: number) => {
      const r = await dockerodeExec(docker(), s.containerId, ['/bin/sh', '-c', line(n)], { user: s.user, keepBytes: KEEP });
      if (r.exitCode !== 0 || !r.stdout.startsWith('aaaa'))
        throw new Error(`dockerode exec: exit ${r.exitCode}, stdout starts ${JSON.stringify(r.stdout.slice(0, 20))}`);
      return r.stdoutBytes;
    };
    const op = input.method === 'berth' ? viaBerth : viaDockerode;
    // Warm-up: attach the shell (the session is the same for both methods), load the code paths.
    await viaBerth(1024 * 1024);
    await op(1024 * 1024);
    const runs: OutputRun[] = [];
    let kernelPeak = true;
    for (let i = 0; i < input.runs; i++) {
      const r = await measure(input.bytes, () => op(input.bytes));
      kernelPeak &&= r.kernel;
      runs.push({ ms: r.ms, bytes: r.bytes, rssBeforeMb: r.rssBeforeMb, peakRssMb: r.peakRssMb });
      process.stderr.write(`output ${input.method} run ${i + 1}/${input.runs}: ${r.ms.toFixed(0)} ms, peak RSS ${r.peakRssMb.toFixed(0)} MiB\n`);
    }
    const result: OutputResult = { runs, kernelPeak };
    workerDone(result);
  } finally {
    // The bench removes this run's containers by label; stopping them here would only add time.
    await runner.close({ stop: false });
  }
}

runWorkerMain(main);

/**
 * Idle worker (group 6): a runner process that opens K sessions, runs one command in each (so its
 * persistent shell is attached, as for an agent that has started working), and reports its RSS
 * before and after, both read after garbage collection has settled. "Before" is taken after one
 * warm-up session was opened and detached.
 */
import { performance } from 'node:perf_hooks';
import { Runner } from '../../runner/session/index.js';
import type { SpecInput } from '../../src/project/index.js';
import { rssMb, settle, runWorkerMain, workerDone, workerInput, type WorkerInput } from '../child.js';
import { mapLimit } from '../timing.js';

export interface IdleInput extends WorkerInput {
  readonly spec: SpecInput;
  readonly sessions: number;
}

export interface IdleResult {
  readonly sessions: number;
  readonly rssBeforeMb: number;
  readonly rssAfterMb: number;
  readonly heapBeforeMb: number;
  readonly heapAfterMb: number;
  readonly openMs: number;
}

const MB = 1024 * 1024;

async function main(): Promise<void> {
  const input = workerInput<IdleInput>();
  const runner = await Runner.create({ repo: input.repo, dataDir: input.dataDir, labels: input.labels, spec: input.spec, reconcile: false });
  try {
    // One session first, detached again: the code paths an open loads (modules, JIT) are then in
    // the baseline, so the delta is what the sessions themselves hold.
    const first = await runner.open('idle-warmup');
    await first.exec('true');
    await first.detach();
    await settle(500);
    const rssBeforeMb = rssMb();
    const heapBeforeMb = process.memoryUsage().heapUsed / MB;
    const t0 = performance.now();
    await mapLimit(
      Array.from({ length: input.sessions }, (_, i) => i),
      4,
      async (i) => {
        const s = await runner.open(`idle-${i}`);
        const r = await s.exec('true');
        if (r.exitCode !== 0) throw new Error(`session idle-${i}: \`true\` exited ${r.exitCode}`);
      },
    );
    const openMs = performance.now() - t0;
    process.stderr.write(`idle: ${input.sessions} sessions open in ${(openMs / 1000).toFixed(1)} s\n`);
    await settle(1000);
    const result: IdleResult = {
      sessions: input.sessions,
      rssBeforeMb,
      rssAfterMb: rssMb(),
      heapBeforeMb,
      heapAfterMb: process.memoryUsage().heapUsed / MB,
      openMs,
    };
    workerDone(result);
  } finally {
    await runner.close({ stop: false });
  }
}

runWorkerMain(main);

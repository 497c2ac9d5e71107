/**
 * The measurement loop shared by the groups. Methods that are compared are measured interleaved,
 * in small blocks round-robin, so a burst of load from elsewhere on the machine (other test
 * suites, Docker housekeeping) lands on every method alike instead of skewing one of them.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

export interface Method {
  readonly key: string;
  /**
   * One operation; throws when its result is wrong (a wrong answer is never timed as a success).
   * It may return the milliseconds to record when only part of it is the measured operation
   * (e.g. an open whose cleanup must not count); otherwise its wall time is recorded.
   */
  run(): Promise<number | void>;
  /** Timed runs of this method (default: LoopOptions.iterations). */
  readonly iterations?: number;
}

export interface LoopOptions {
  readonly warmup: number;
  readonly iterations: number;
  /** Operations per round of the method with the most iterations (default 10). */
  readonly block?: number;
  readonly signal?: AbortSignal;
  /** Called after each round (its number, and the number of rounds): progress on stderr. */
  readonly onRound?: (done: number, total: number) => void;
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
}

export async function timeOnce(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/**
 * Warm every method up, then time its runs interleaved: `iterations` each (or the method's own
 * count), spread evenly over the same rounds so all methods finish together. Milliseconds per key.
 */
export async function measureInterleaved(methods: readonly Method[], opts: LoopOptions): Promise<Map<string, number[]>> {
  const samples = new Map<string, number[]>(methods.map((m) => [m.key, []]));
  for (const m of methods) {
    for (let i = 0; i < opts.warmup; i++) {
      checkAborted(opts.signal);
      await m.run();
    }
  }
  const want = (m: Method) => m.iterations ?? opts.iterations;
  const most = Math.max(...methods.map(want));
  const rounds = Math.ceil(most / Math.max(1, opts.block ?? 10));
  for (let round = 1; round <= rounds; round++) {
    for (const m of methods) {
      const list = samples.get(m.key) as number[];
      // Cumulative target after this round, so rounding never drifts from the method's count.
      const target = Math.round((want(m) * round) / rounds);
      while (list.length < target) {
        checkAborted(opts.signal);
        const t0 = performance.now();
        const own = await m.run();
        list.push(typeof own === 'number' ? own : performance.now() - t0);
      }
    }
    opts.onRound?.(round, rounds);
  }
  return samples;
}

/** Run `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/** Error text for an "n/a" cell: the first line, without this machine's paths. */
export function reasonOf(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return (msg.split('\n')[0] ?? '').replace(/(\/[\w.@+-]+){2,}/g, '<path>').slice(0, 160);
}

/** Machine-wide busy and total CPU ticks so far (/proc/stat), or undefined off Linux. */
function cpuTicks(): { busy: number; total: number } | undefined {
  try {
    const f = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    // idle + iowait
    return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
  } catch {
    return undefined;
  }
}

/**
 * Wait until the machine is mostly idle (under `maxBusy` of its CPU over a 250 ms window), at most
 * `timeoutMs`. Used before timing steady-state round trips, so work a group itself started in the
 * background (a server's warm-pool refill after its first workspace, Docker's cleanup of the
 * previous group) is not timed as per-call cost. Returns the last window's busy share.
 */
export async function settleMachine(opts: { maxBusy?: number; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<number | undefined> {
  const maxBusy = opts.maxBusy ?? 0.2;
  const deadline = performance.now() + (opts.timeoutMs ?? 15_000);
  let prev = cpuTicks();
  if (!prev) return undefined;
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    checkAborted(opts.signal);
    const now = cpuTicks();
    if (!now) return undefined;
    const share = now.total > prev.total ? (now.busy - prev.busy) / (now.total - prev.total) : 0;
    if (share <= maxBusy || performance.now() > deadline) return share;
    prev = now;
  }
}

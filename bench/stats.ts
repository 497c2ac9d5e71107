/**
 * The bench's arithmetic, kept pure so test/bench/stats.test.ts can pin it down: percentiles of a
 * sample, time ratios against a baseline and the formatting the table uses.
 */

export interface Summary {
  readonly n: number;
  readonly min: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/**
 * The p-th percentile (0..100) of an ascending sample, linearly interpolated between the two
 * nearest ranks (rank = p/100 * (n-1), numpy's default). Interpolation keeps p99 of a few hundred
 * samples meaningful instead of snapping to the maximum.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError('percentile of an empty sample');
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} is outside 0..100`);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (rank - lo);
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new RangeError('summary of an empty sample');
  for (const s of samples) if (!Number.isFinite(s)) throw new RangeError(`sample ${s} is not a finite number`);
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((acc, x) => acc + x, 0);
  return {
    n: sorted.length,
    min: sorted[0] as number,
    mean: sum / sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] as number,
  };
}

/**
 * value / baseline: for times, below 1 means faster than the baseline. undefined when either side
 * is missing or the baseline is not a positive number (a ratio against 0 says nothing).
 */
export function ratio(value: number | undefined, baseline: number | undefined): number | undefined {
  if (value === undefined || baseline === undefined) return undefined;
  if (!Number.isFinite(value) || !Number.isFinite(baseline) || baseline <= 0 || value < 0) return undefined;
  return value / baseline;
}

/** How many times faster `value` is than `baseline` (baseline / value); undefined like ratio(). */
export function speedup(value: number | undefined, baseline: number | undefined): number | undefined {
  const r = ratio(value, baseline);
  return r === undefined || r === 0 ? undefined : 1 / r;
}

/** Significant-digit formatting for table cells: 0.0123, 1.23, 12.3, 123, 1234. */
export function fmtNum(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  if (a === 0) return '0';
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a >= 0.01) return x.toFixed(3);
  return x.toPrecision(2);
}

/** A time ratio for the table: "0.011x (91x faster)", "1.62x (1.62x slower)", "1.00x". */
export function fmtRatio(r: number | undefined): string {
  if (r === undefined) return '—';
  if (r < 0.995) return `${fmtNum(r)}x (${fmtNum(1 / r)}x faster)`;
  if (r > 1.005) return `${fmtNum(r)}x (${fmtNum(r)}x slower)`;
  return '1.00x';
}

// The bench's arithmetic (bench/stats.ts, bench/report.ts): percentiles, ratios and how goals are
// judged from rows. Pure: no Docker, no timing.
import { describe, expect, it } from 'vitest';
import { evaluateGoals, rowRatio, type Row } from '../../bench/report.js';
import { fmtNum, fmtRatio, percentile, ratio, speedup, summarize } from '../../bench/stats.js';

describe('percentile', () => {
  const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it('interpolates linearly between the nearest ranks', () => {
    expect(percentile(oneToHundred, 50)).toBeCloseTo(50.5, 10);
    expect(percentile(oneToHundred, 90)).toBeCloseTo(90.1, 10);
    expect(percentile(oneToHundred, 99)).toBeCloseTo(99.01, 10);
    expect(percentile([10, 20], 25)).toBeCloseTo(12.5, 10);
  });

  it('hits the ends exactly and handles a single sample', () => {
    expect(percentile(oneToHundred, 0)).toBe(1);
    expect(percentile(oneToHundred, 100)).toBe(100);
    expect(percentile([7], 0)).toBe(7);
    expect(percentile([7], 99)).toBe(7);
  });

  it('rejects an empty sample and a p outside 0..100', () => {
    expect(() => percentile([], 50)).toThrow(RangeError);
    expect(() => percentile([1], -1)).toThrow(RangeError);
    expect(() => percentile([1], 100.5)).toThrow(RangeError);
    expect(() => percentile([1], Number.NaN)).toThrow(RangeError);
  });
});

describe('summarize', () => {
  it('sorts a copy and reports n, min, mean, percentiles and max', () => {
    const input = [5, 1, 4, 2, 3];
    const s = summarize(input);
    expect(input).toEqual([5, 1, 4, 2, 3]);
    expect(s).toEqual({ n: 5, min: 1, mean: 3, p50: 3, p90: 4.6, p99: expect.closeTo(4.96, 10) as number, max: 5 });
  });

  it('puts one slow outlier in p99 but not in p50', () => {
    const s = summarize([...Array.from({ length: 199 }, () => 1), 1000]);
    expect(s.p50).toBe(1);
    expect(s.p90).toBe(1);
    expect(s.p99).toBe(1);
    expect(s.max).toBe(1000);
    const t = summarize([...Array.from({ length: 98 }, () => 1), 1000, 1000]);
    expect(t.p99).toBeCloseTo(1000, 6);
  });

  it('rejects empty samples and non-finite values', () => {
    expect(() => summarize([])).toThrow(RangeError);
    expect(() => summarize([1, Number.POSITIVE_INFINITY])).toThrow(RangeError);
    expect(() => summarize([Number.NaN])).toThrow(RangeError);
  });
});

describe('ratio and speedup', () => {
  it('is value over baseline; speedup is its inverse', () => {
    expect(ratio(1, 50)).toBeCloseTo(0.02, 12);
    expect(speedup(1, 50)).toBeCloseTo(50, 12);
    expect(ratio(130, 100)).toBeCloseTo(1.3, 12);
    expect(speedup(200, 100)).toBeCloseTo(0.5, 12);
  });

  it('says nothing when a side is missing, the baseline is not positive or a value is not finite', () => {
    expect(ratio(undefined, 1)).toBeUndefined();
    expect(ratio(1, undefined)).toBeUndefined();
    expect(ratio(1, 0)).toBeUndefined();
    expect(ratio(1, -2)).toBeUndefined();
    expect(ratio(Number.NaN, 1)).toBeUndefined();
    expect(speedup(0, 5)).toBeUndefined();
  });

  it('formats for the table', () => {
    expect(fmtRatio(0.02)).toBe('0.020x (50.0x faster)');
    expect(fmtRatio(1.5)).toBe('1.50x (1.50x slower)');
    expect(fmtRatio(1.001)).toBe('1.00x');
    expect(fmtRatio(undefined)).toBe('—');
    expect(fmtNum(1234.5)).toBe('1235');
    expect(fmtNum(0.5)).toBe('0.500');
    expect(fmtNum(0.001234)).toBe('0.0012');
  });
});

describe('goals from rows', () => {
  const ms = (p50: number) => summarize([p50]);
  const rows = (over: Partial<Record<string, Row>> = {}): Row[] => {
    const base: Row[] = [
      { id: 'exec.true.shell', group: 'exec', label: 'shell', ms: ms(1), baseline: 'exec.true.dockerode' },
      { id: 'exec.true.dockerode', group: 'exec', label: 'dockerode', ms: ms(60) },
      { id: 'exec.true.mcp', group: 'exec', label: 'mcp', ms: ms(1.9), baseline: 'exec.true.dockerode' },
      { id: 'open.warm', group: 'open', label: 'warm', ms: ms(40), baseline: 'open.cold' },
      { id: 'open.cold', group: 'open', label: 'cold', ms: ms(200) },
      { id: 'pipeline.berth', group: 'pipeline', label: 'berth', ms: ms(650), baseline: 'pipeline.dockerode' },
      { id: 'pipeline.dockerode', group: 'pipeline', label: 'run', ms: ms(500) },
      { id: 'concurrency.lost', group: 'concurrency', label: 'lost', value: { n: 0, unit: 'outputs' } },
    ];
    return base.map((r) => over[r.id] ?? r);
  };
  const goal = (rs: Row[], id: string, text?: RegExp) => evaluateGoals(rs).find((g) => g.rowId === id && (!text || text.test(g.text)));

  it("judges each goal on this run's rows", () => {
    const rs = rows();
    expect(goal(rs, 'exec.true.shell')?.met).toBe(true); // 60x
    expect(goal(rs, 'exec.true.mcp')?.met).toBe(true); // 1.9 ms (goal: p50 <= 2 ms, default mode)
    expect(goal(rs, 'open.warm')?.met).toBe(true); // 40 ms, 5x
    expect(goal(rs, 'pipeline.berth')?.met).toBe(true); // 1.3x exactly
    expect(goal(rs, 'concurrency.lost')?.met).toBe(true);
    expect(rowRatio(rs[0] as Row, rs)).toBeCloseTo(1 / 60, 12);
  });

  it("misses at the thresholds' far side", () => {
    const rs = rows({
      'exec.true.shell': { id: 'exec.true.shell', group: 'exec', label: 'shell', ms: ms(1.25), baseline: 'exec.true.dockerode' }, // 48x
      'exec.true.mcp': { id: 'exec.true.mcp', group: 'exec', label: 'mcp', ms: ms(2.01) },
      'open.warm': { id: 'open.warm', group: 'open', label: 'warm', ms: ms(51), baseline: 'open.cold' },
      'pipeline.berth': { id: 'pipeline.berth', group: 'pipeline', label: 'berth', ms: ms(651), baseline: 'pipeline.dockerode' },
      'concurrency.lost': { id: 'concurrency.lost', group: 'concurrency', label: 'lost', value: { n: 1, unit: 'outputs' } },
    });
    expect(goal(rs, 'exec.true.shell')).toMatchObject({ met: false, actual: '48.0x' });
    expect(goal(rs, 'exec.true.mcp')?.met).toBe(false);
    expect(goal(rs, 'open.warm')?.met).toBe(false);
    expect(goal(rs, 'pipeline.berth')?.met).toBe(false);
    expect(goal(rs, 'concurrency.lost')?.met).toBe(false);
  });

  it('warm open must also be 4x faster than cold, not only under 50 ms', () => {
    const rs = rows({ 'open.cold': { id: 'open.cold', group: 'open', label: 'cold', ms: ms(120) } }); // 40 ms, 3x
    expect(goal(rs, 'open.warm')?.met).toBe(false);
  });

  it('judges idle RSS against 120 MB (114.4 MiB), not 120 MiB, and only with 50 sessions', () => {
    const idle = (mib: number, sessions = 50): Row[] => [
      { id: 'idle.after', group: 'idle', label: 'idle', value: { n: mib, unit: 'MiB' }, extra: { sessions } },
    ];
    expect(goal(idle(114), 'idle.after')?.met).toBe(true);
    expect(goal(idle(115), 'idle.after')).toMatchObject({ met: false, actual: '115 MiB = 121 MB with 50 sessions' }); // 120.6 MB
    expect(goal(idle(119), 'idle.after')?.met).toBe(false); // under 120 MiB, over 120 MB
    expect(goal(idle(100, 10), 'idle.after')?.met).toBe(false);
    expect(goal(idle(100), 'idle.after')?.text).toMatch(/120 MB \(114 MiB\)/);
  });

  it('leaves a goal unjudged when a row it needs is not available', () => {
    const rs = rows({ 'open.warm': { id: 'open.warm', group: 'open', label: 'warm', unavailable: 'pool not landed', baseline: 'open.cold' } });
    expect(goal(rs, 'open.warm')).toMatchObject({ met: undefined, actual: 'n/a' });
    expect(rowRatio(rs.find((r) => r.id === 'open.warm') as Row, rs)).toBeUndefined();
    // No echo rows at all: those goals are unjudged too, not met.
    expect(
      evaluateGoals(rs)
        .filter((g) => g.rowId.startsWith('exec.echo'))
        .every((g) => g.met === undefined),
    ).toBe(true);
  });
});

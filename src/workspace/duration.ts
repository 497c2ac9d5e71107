/** Durations as people type them: "90s", "30m", "12h", "7d", "2w" (also combined: "1d12h"). */
import { BerthError } from '../errors.js';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export function parseDuration(text: string): number {
  const s = text.trim().toLowerCase();
  const re = /(\d+)([smhdw])/g;
  let total = 0;
  let consumed = 0;
  for (const m of s.matchAll(re)) {
    if (m.index !== consumed) break;
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
    consumed += m[0].length;
  }
  if (s.length === 0 || consumed !== s.length || !Number.isSafeInteger(total)) {
    throw new BerthError('BAD_INPUT', `duration ${JSON.stringify(text)} is not valid: use a number and a unit s, m, h, d or w, e.g. 30m, 12h, 7d`);
  }
  return total;
}

/** "3d", "5h", "12m", "40s": the largest unit, rounded down; for human tables. */
export function formatAge(ms: number): string {
  const abs = Math.max(0, ms);
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const) {
    if (abs >= size) return `${Math.floor(abs / size)}${unit}`;
  }
  return `${Math.floor(abs / 1000)}s`;
}

/** Output-schema pieces and formatting shared by several tools. */
import { z } from 'zod';
import type { ProcessInfo } from '../../session/index.js';

export const processShape = z.object({
  name: z.string(),
  command: z.string(),
  pid: z.number().nullable(),
  running: z.boolean(),
  exitCode: z.number().nullable(),
  startedAt: z.string().nullable(),
  cwd: z.string().nullable(),
});

export function processOut(p: ProcessInfo): z.output<typeof processShape> {
  return { name: p.name, command: p.command, pid: p.pid, running: p.running, exitCode: p.exitCode, startedAt: p.startedAt, cwd: p.cwd };
}

export function processLine(p: ProcessInfo): string {
  const state = p.running ? `running (pid ${p.pid ?? '?'})` : `exited ${p.exitCode ?? '?'}`;
  return `${p.name}: ${state} — ${p.command}`;
}

/** Upper bound for seconds-valued arguments: a day, like pipeline timeouts. */
export const MAX_SECONDS = 24 * 60 * 60;

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Cut `text` to `max` characters, keeping the head and tail, and say so. */
export function clip(text: string, max: number): { text: string; truncated: boolean } {
  if (text.length <= max) return { text, truncated: false };
  const head = Math.floor(max * 0.6);
  const tail = max - head;
  return { text: `${text.slice(0, head)}\n… [${text.length - max} characters omitted] …\n${text.slice(-tail)}`, truncated: true };
}

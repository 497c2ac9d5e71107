/**
 * The per-workspace command log: one JSON line per command a session ran (when, which shell, the
 * command, how it ended, how much it printed). It lives in the data dir, not the worktree, so it
 * never shows up in the workspace's diff, and travels with exports as the session log.
 *
 *   <dataDir>/logs/<repoId>/<workspace>.jsonl
 *
 * Bounded: when the file grows past maxBytes it is rewritten (temp file + rename) keeping the
 * newest lines that fit in half of it. Appends from one process are serialised and batched (see
 * append); appends from two processes at once are single O_APPEND writes of whole lines, so lines
 * never interleave, but a line appended while another process rotates can be dropped (a log, not a
 * ledger).
 */
import { appendFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { assertValidName } from '../../src/workspace/index.js';
import { namePart, type RepoRef } from '../../docker/index.js';
import type { Logger } from '../../src/log.js';
import type { ExecResult } from './types.js';

export const DEFAULT_COMMAND_LOG_MAX_BYTES = 2 * 1024 * 1024;
/** Longer commands are cut in the log (the command itself ran in full). */
export const MAX_LOGGED_COMMAND_CHARS = 8 * 1024;

export const CommandLogEntrySchema = z.object({
  ts: z.iso.datetime(),
  /** The persistent shell, or null for a fresh (one-shot) exec. */
  shell: z.string().nullable(),
  command: z.string(),
  exitCode: z.number().int().nullable(),
  durationMs: z.number().nonnegative(),
  stdoutBytes: z.number().int().nonnegative(),
  stderrBytes: z.number().int().nonnegative(),
  truncated: z.boolean(),
  timedOut: z.boolean(),
  aborted: z.boolean().optional(),
});
export type CommandLogEntry = z.infer<typeof CommandLogEntrySchema>;

export function commandLogPath(dataDir: string, repo: Pick<RepoRef, 'id'>, workspace: string): string {
  assertValidName(workspace);
  return join(dataDir, 'logs', namePart(repo.id), `${workspace}.jsonl`);
}

export function entryFor(command: string, r: ExecResult, now = new Date()): CommandLogEntry {
  const cut = command.length > MAX_LOGGED_COMMAND_CHARS;
  return {
    ts: new Date(now.getTime() - Math.max(0, r.durationMs)).toISOString(),
    shell: r.shell,
    command: cut ? `${command.slice(0, MAX_LOGGED_COMMAND_CHARS)}… [${command.length - MAX_LOGGED_COMMAND_CHARS} more characters]` : command,
    exitCode: r.exitCode,
    durationMs: Math.round(r.durationMs),
    stdoutBytes: r.stdoutBytes,
    stderrBytes: r.stderrBytes,
    truncated: r.truncated,
    timedOut: r.timedOut,
    ...(r.aborted ? { aborted: true } : {}),
  };
}

const queues = new Map<string, Promise<void>>();
/** Entries waiting for the next write of each file, that write, and how to start it now. */
const batches = new Map<string, { text: string; written: Promise<void>; now: () => void }>();
/**
 * How long a batch collects entries. Long enough that a busy session (tens of commands a second)
 * or fifty sessions at once cost a few appends a second, not one per command (open + write +
 * close each); short enough that `berth ws log` lags by a fraction of a second. Runner.close()
 * writes what is pending (commandLogsWritten), so an orderly exit loses nothing.
 */
const FLUSH_DELAY_MS = 250;

/** Appends between two stat() calls when the size this process counted stays under the budget. */
const STAT_EVERY_APPENDS = 256;

export class CommandLog {
  readonly path: string;
  readonly maxBytes: number;
  /**
   * The file's size as of the last stat plus what this process appended since; undefined until
   * the first append. Keeps mkdir and stat off every command (they were most of an exec's host
   * cost); another process's appends are caught up by the periodic stat.
   */
  #size: number | undefined;
  #sinceStat = 0;

  constructor(path: string, opts: { maxBytes?: number } = {}) {
    this.path = path;
    this.maxBytes = Math.max(4096, opts.maxBytes ?? DEFAULT_COMMAND_LOG_MAX_BYTES);
  }

  /**
   * Append one entry (serialised per file within this process). Entries are written in batches,
   * FLUSH_DELAY_MS after the first one of a batch: an agent running commands back to back costs
   * one append per batch instead of one per command. Resolves once the entry is written.
   */
  append(entry: CommandLogEntry): Promise<void> {
    const line = `${JSON.stringify(entry)}\n`;
    const open = batches.get(this.path);
    if (open) {
      open.text += line;
      return open.written;
    }
    let now = () => {};
    const due = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, FLUSH_DELAY_MS);
      now = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    const batch = { text: line, written: Promise.resolve(), now };
    batches.set(this.path, batch);
    const prev = queues.get(this.path) ?? Promise.resolve();
    batch.written = prev
      .then(() => due)
      .then(() => {
        // Entries arriving from here on go into the next batch.
        if (batches.get(this.path) === batch) batches.delete(this.path);
        return this.#append(batch.text);
      });
    const settled = batch.written.catch(() => undefined);
    queues.set(this.path, settled);
    void settled.then(() => {
      if (queues.get(this.path) === settled) queues.delete(this.path);
    });
    return batch.written;
  }

  async #append(line: string): Promise<void> {
    if (this.#size === undefined) await mkdir(dirname(this.path), { recursive: true });
    try {
      await appendFile(this.path, line, { mode: 0o600 });
    } catch (err) {
      // The directory went away (a workspace delete removes logs): make it again once.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await mkdir(dirname(this.path), { recursive: true });
      await appendFile(this.path, line, { mode: 0o600 });
      this.#size = undefined;
    }
    this.#sinceStat++;
    const counted = this.#size === undefined ? undefined : this.#size + Buffer.byteLength(line);
    if (counted === undefined || counted > this.maxBytes || this.#sinceStat >= STAT_EVERY_APPENDS) {
      this.#size = (await stat(this.path)).size;
      this.#sinceStat = 0;
    } else {
      this.#size = counted;
    }
    if (this.#size > this.maxBytes) {
      await this.#rotate();
      this.#size = undefined;
    }
  }

  /** Keep the newest whole lines that fit in half the budget. */
  async #rotate(): Promise<void> {
    const text = await readFile(this.path, 'utf8');
    const lines = text.split('\n').filter((l) => l !== '');
    const budget = Math.floor(this.maxBytes / 2);
    const kept: string[] = [];
    let size = 0;
    for (let i = lines.length - 1; i >= 0; i--) {
      const n = Buffer.byteLength(lines[i] as string) + 1;
      if (size + n > budget) break;
      kept.push(lines[i] as string);
      size += n;
    }
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(
      tmp,
      kept
        .reverse()
        .map((l) => `${l}\n`)
        .join(''),
      { mode: 0o600 },
    );
    await rename(tmp, this.path);
  }
}

/**
 * The newest `limit` entries (default all), oldest first. Lines that are not valid entries
 * (a torn write, a hand edit) are skipped. A missing log is an empty one.
 */
export async function readCommandLog(path: string, opts: { limit?: number } = {}): Promise<CommandLogEntry[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: CommandLogEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const r = CommandLogEntrySchema.safeParse(JSON.parse(line));
      if (r.success) out.push(r.data);
    } catch {
      continue;
    }
  }
  return opts.limit !== undefined ? out.slice(-Math.max(0, opts.limit)) : out;
}

/**
 * Writes the pending batches now and resolves when every append queued in this process so far
 * has been written (tests, shutdown).
 */
export async function commandLogsWritten(): Promise<void> {
  for (const b of batches.values()) b.now();
  await Promise.all([...queues.values()]);
}

export async function removeCommandLog(path: string): Promise<void> {
  // A batch still pending would recreate the file after the removal: write it first.
  batches.get(path)?.now();
  await queues.get(path);
  await rm(path, { force: true });
}

/**
 * Session.exec's onExecDone hook for workspace `workspace`: appends in the background; a failed
 * append is logged, never thrown into the command's caller.
 */
export function commandLogHook(
  dataDir: string,
  repo: Pick<RepoRef, 'id'>,
  workspace: string,
  logger: Logger,
  opts: { maxBytes?: number } = {},
): (command: string, result: ExecResult) => void {
  const log = new CommandLog(commandLogPath(dataDir, repo, workspace), opts);
  return (command, result) => {
    void log
      .append(entryFor(command, result))
      .catch((err: unknown) => logger.warn('could not append to the command log', { workspace, path: log.path, error: String(err) }));
  };
}

/**
 * Long commands over MCP. Clients cap a request (the TS SDK at 60 s by default, and some ignore a
 * larger timeout), so `exec` waits only a bounded budget (`yieldMs`) and then answers
 * `running: true` with a handle; `exec_wait`, `exec_output` and `exec_kill` continue from there.
 *
 * One registry per server (`jobsFor(deps)`), shared by every connection of an HTTP server: handles
 * are 128-bit random and bound to their workspace, so one agent can't read another's output.
 * A job keeps the tail of its combined output (bounded), its line count and, once finished, its
 * result; finished jobs stay readable for `KEEP_FINISHED_MS`, so reading a finished handle is not an
 * error. No timers are left behind: expiry is swept on registry calls (at most once a second).
 *
 * Most commands end within exec's own wait and are answered in full, without a handle: `release`
 * drops those at once. Keeping them (as before) made the registry grow by one job per exec for
 * 15 minutes, each holding a copy of its output, and every call swept the whole map: the cost of
 * an exec grew with the number of commands run before it.
 */
import { BerthError } from '../../src/errors.js';
import { randomHex, type ExecResult, type StreamName } from '../session/index.js';

/** The longest wait any one request makes: under the 60 s default of MCP clients. */
export const MAX_YIELD_MS = 55_000;
export const DEFAULT_YIELD_MS = 30_000;
/** How long a finished job's result and output stay readable. */
export const KEEP_FINISHED_MS = 15 * 60_000;
/** Combined output kept per job (the tail); older bytes are dropped and `dropped` says how many. */
const MAX_KEPT_OUTPUT_CHARS = 2 * 1024 * 1024;
/** Jobs alive at once per server; a new one beyond it is refused. */
const MAX_JOBS = 256;
/** Expired jobs are looked for at most this often (a sweep walks every kept job). */
const SWEEP_INTERVAL_MS = 1000;

export interface Job {
  readonly handle: string;
  readonly workspace: string;
  readonly command: string;
  readonly mode: 'shell' | 'fresh';
  readonly timeoutSeconds: number | undefined;
  readonly startedAt: number;
  /** Settles when the command ends (never rejects: failures are kept in `error`). */
  readonly done: Promise<void>;
  result: ExecResult | undefined;
  error: unknown;
  finishedAt: number | undefined;
  lines: number;
  /** Characters of output before `output` starts (they were dropped to bound memory). */
  dropped: number;
  output: string;
  readonly controller: AbortController;
}

export interface JobSpec {
  readonly workspace: string;
  readonly command: string;
  readonly mode: 'shell' | 'fresh';
  readonly timeoutSeconds?: number | undefined;
}

export type JobRunner = (signal: AbortSignal, onOutput: (stream: StreamName, chunk: string) => void) => Promise<ExecResult>;

export class CommandJobs {
  readonly #jobs = new Map<string, Job>();
  #running = 0;
  #lastSweep = 0;

  start(spec: JobSpec, run: JobRunner, parentSignal: AbortSignal): Job {
    this.#sweep();
    if (this.#running >= MAX_JOBS) {
      throw new BerthError('BAD_INPUT', `${MAX_JOBS} commands are already running on this server: wait for some (exec_wait) or stop them (exec_kill)`);
    }
    const controller = new AbortController();
    const onParentAbort = () => controller.abort(parentSignal.reason);
    parentSignal.addEventListener('abort', onParentAbort, { once: true });
    const job: Job = {
      handle: `cmd_${randomHex(16)}`,
      workspace: spec.workspace,
      command: spec.command,
      mode: spec.mode,
      timeoutSeconds: spec.timeoutSeconds,
      startedAt: Date.now(),
      done: Promise.resolve(),
      result: undefined,
      error: undefined,
      finishedAt: undefined,
      lines: 0,
      dropped: 0,
      output: '',
      controller,
    };
    const done = run(controller.signal, (_stream, chunk) => append(job, chunk)).then(
      (res) => void (job.result = res),
      (err: unknown) => void (job.error = err),
    );
    (job as { done: Promise<void> }).done = done.finally(() => {
      job.finishedAt = Date.now();
      this.#running--;
      parentSignal.removeEventListener('abort', onParentAbort);
    });
    this.#running++;
    this.#jobs.set(job.handle, job);
    return job;
  }

  /**
   * Forget a finished job whose handle was never given out (exec answered with its full result):
   * nobody can ask for it again, so neither it nor its output is kept.
   */
  release(job: Job): void {
    if (job.finishedAt !== undefined && this.#jobs.get(job.handle) === job) this.#jobs.delete(job.handle);
  }

  /** Jobs kept (running, or finished and still readable); for tests. */
  get size(): number {
    return this.#jobs.size;
  }

  /** The job of `handle`, which must belong to `workspace`. */
  get(handle: string, workspace: string): Job {
    this.#sweep();
    const job = this.#jobs.get(handle);
    if (!job || job.workspace !== workspace) {
      throw new BerthError(
        'NOT_FOUND',
        `no command with handle ${JSON.stringify(handle.slice(0, 80))} in workspace ${JSON.stringify(workspace)}: handles expire ${KEEP_FINISHED_MS / 60_000} minutes after the command ends; run the command again with exec`,
      );
    }
    return job;
  }

  /** Wait until the job ends or `yieldMs` passes (or `signal` aborts); true when it has ended. */
  async wait(job: Job, yieldMs: number, signal: AbortSignal, onTick?: (job: Job) => void): Promise<boolean> {
    if (job.finishedAt !== undefined) return true;
    let timer: NodeJS.Timeout | undefined;
    let ticker: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const budget = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.min(yieldMs, MAX_YIELD_MS));
      onAbort = () => resolve(false);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    if (onTick) ticker = setInterval(() => onTick(job), 5_000);
    try {
      return await Promise.race([job.done.then(() => true as const), budget]);
    } finally {
      clearTimeout(timer);
      clearInterval(ticker);
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  /** Stop every running job (server shutdown). */
  abortAll(reason: string): void {
    for (const job of this.#jobs.values()) if (job.finishedAt === undefined) job.controller.abort(new Error(reason));
  }

  #sweep(now = Date.now()): void {
    if (now - this.#lastSweep < SWEEP_INTERVAL_MS) return;
    this.#lastSweep = now;
    for (const [handle, job] of this.#jobs) {
      if (job.finishedAt !== undefined && now - job.finishedAt > KEEP_FINISHED_MS) this.#jobs.delete(handle);
    }
  }
}

function append(job: Job, chunk: string): void {
  for (let i = chunk.indexOf('\n'); i !== -1; i = chunk.indexOf('\n', i + 1)) job.lines++;
  job.output += chunk;
  const over = job.output.length - MAX_KEPT_OUTPUT_CHARS;
  if (over > 0) {
    job.output = job.output.slice(over);
    job.dropped += over;
  }
}

/** Output from character `offset` (counted from the command's start), bounded to `maxChars`. */
export function outputFrom(job: Job, offset: number, maxChars: number): { text: string; offset: number; nextOffset: number; skipped: number } {
  const start = Math.max(offset, job.dropped);
  const text = job.output.slice(start - job.dropped, start - job.dropped + maxChars);
  return { text, offset: start, nextOffset: start + text.length, skipped: start - offset };
}

const registries = new WeakMap<object, CommandJobs>();

/** The registry of one server (keyed by its deps object, so in-process servers don't share one). */
export function jobsFor(deps: object): CommandJobs {
  let jobs = registries.get(deps);
  if (!jobs) {
    jobs = new CommandJobs();
    registries.set(deps, jobs);
  }
  return jobs;
}

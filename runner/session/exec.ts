/**
 * `fresh: true`: a one-shot `docker exec` with the same result shape as a shell command, but no
 * shell state (cwd defaults to the workdir, env is the container's plus `env`).
 */
import { randomBytes } from 'node:crypto';
import { BerthError } from '../../src/errors.js';
import { signalTargets } from './kill.js';
import { DEFAULT_MAX_OUTPUT_BYTES, OutputCollector, RecordScanner } from './output.js';
import { token } from './protocol.js';
import { KILL_GRACE_MS, type ShellHost } from './shell.js';
import type { ExecOptions, ExecResult } from './types.js';

/**
 * $1 tag, $2 cwd, $3 command, $4 nonce. Reports its pid (= the exec's session id, since Docker
 * starts every exec in a new session) on stderr inside a nonce-framed record, then runs the
 * command with bash when present.
 */
const FRESH_WRAPPER = [
  'printf "__berth_%s__P%s__berth_%s__" "$4" "$$" "$4" >&2',
  'export __BERTH_JOB="$1"',
  'cd "$2" 2>/dev/null || { echo "berth: cannot cd to $2" >&2; exit 125; }',
  'if command -v bash >/dev/null 2>&1; then exec bash -c "$3"; fi',
  'exec /bin/sh -c "$3"',
].join('\n');

/** What a fresh exec needs from its session: the part of a shell's host without the recovery hooks. */
export type FreshHost = Pick<ShellHost, 'containers' | 'containerId' | 'user' | 'workdir' | 'env' | 'logger' | 'defaultTimeoutMs' | 'containerProblem'>;

export async function runFresh(host: FreshHost, command: string, opts: ExecOptions = {}): Promise<ExecResult> {
  if (typeof command !== 'string') throw new BerthError('BAD_INPUT', 'command must be a string');
  if (command.includes('\0')) throw new BerthError('BAD_INPUT', 'command contains a NUL byte, which no shell can pass on: remove it');
  return new FreshRun(host, opts).run(command);
}

/** One fresh exec: its output, the pid its wrapper reports, and the timeout/abort escalation. */
class FreshRun {
  readonly #h: FreshHost;
  readonly #opts: ExecOptions;
  readonly #started = Date.now();
  readonly #out: OutputCollector;
  readonly #err: OutputCollector;
  readonly #nonce = randomBytes(16).toString('hex');
  readonly #tag = randomBytes(8).toString('hex');
  readonly #errScan: RecordScanner;
  readonly #user: string;
  readonly #detach = new AbortController();
  #pid = 0;
  #interrupting: 'timeout' | 'abort' | undefined;
  #finished = false;
  #wake: (() => void) | undefined;

  constructor(host: FreshHost, opts: ExecOptions) {
    this.#h = host;
    this.#opts = opts;
    const max = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const onOutput = opts.onOutput;
    this.#out = new OutputCollector(max, onOutput ? (s) => onOutput('stdout', s) : undefined);
    this.#err = new OutputCollector(max, onOutput ? (s) => onOutput('stderr', s) : undefined);
    this.#errScan = new RecordScanner(token(this.#nonce));
    this.#user = opts.user ?? host.user;
  }

  async run(command: string): Promise<ExecResult> {
    const { signal } = this.#opts;
    if (signal?.aborted) this.#interrupting = 'abort';
    const timer = setTimeout(() => void this.#interrupt('timeout'), this.#opts.timeoutMs ?? this.#h.defaultTimeoutMs);
    const onAbort = () => void this.#interrupt('abort');
    signal?.addEventListener('abort', onAbort, { once: true });
    let exitCode: number | null = null;
    try {
      if (this.#interrupting !== 'abort') exitCode = await this.#exec(command);
    } catch (e) {
      const problem = await this.#h.containerProblem().catch(() => undefined);
      throw problem ?? e;
    } finally {
      this.#finished = true;
      this.#wake?.();
      this.#errScan.flush((b) => this.#err.push(b));
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      this.#out.endLive();
      this.#err.endLive();
    }
    return this.#result(exitCode);
  }

  async #exec(command: string): Promise<number | null> {
    const r = await this.#h.containers.run(this.#h.containerId, {
      cmd: ['/bin/sh', '-c', FRESH_WRAPPER, 'berth-fresh', this.#tag, this.#opts.cwd ?? this.#h.workdir, command, this.#nonce],
      user: this.#user,
      env: { ...this.#h.env, ...this.#opts.env },
      signal: this.#detach.signal,
      onStdout: (b) => this.#out.push(b),
      onStderr: (b) =>
        this.#errScan.push(
          b,
          (payload) => this.#err.push(payload),
          (body) => {
            if (body[0] === 'P') this.#pid = Number(body.slice(1)) || 0;
            return true;
          },
        ),
    });
    return r.exitCode;
  }

  async #interrupt(why: 'timeout' | 'abort'): Promise<void> {
    if (this.#interrupting || this.#finished) return;
    this.#interrupting = why;
    const req = { user: this.#user, tag: this.#tag, sessionId: this.#pid, startTick: 0, shellPid: 0, stateDir: '/tmp', keep: [] as number[] };
    try {
      await signalTargets(this.#h.containers, this.#h.containerId, { ...req, mode: 'term' });
      if (await this.#waitFinished(KILL_GRACE_MS.term)) return;
      await signalTargets(this.#h.containers, this.#h.containerId, { ...req, mode: 'kill' });
      if (await this.#waitFinished(KILL_GRACE_MS.kill)) return;
    } catch (e) {
      this.#h.logger.warn('could not kill a fresh exec', { error: String(e) });
    }
    // Still attached after KILL: give up on the stream rather than hang the caller.
    this.#detach.abort();
  }

  #waitFinished(ms: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      if (this.#finished) return resolve(true);
      const t = setTimeout(() => resolve(this.#finished), ms);
      this.#wake = () => {
        clearTimeout(t);
        resolve(true);
      };
    });
  }

  #result(exitCode: number | null): ExecResult {
    const out = this.#out;
    const err = this.#err;
    return {
      stdout: out.text(),
      stderr: err.text(),
      exitCode,
      durationMs: Date.now() - this.#started,
      truncated: out.truncated || err.truncated,
      stdoutBytes: out.totalBytes,
      stderrBytes: err.totalBytes,
      timedOut: this.#interrupting === 'timeout',
      aborted: this.#interrupting === 'abort',
      shellRestarted: false,
      shellEnded: false,
      cwd: null,
      shell: null,
      oomKilled: false,
      containerRestarted: false,
    };
  }
}

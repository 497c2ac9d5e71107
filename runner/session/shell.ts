/**
 * A persistent shell: one long-lived `docker exec` whose stdin carries commands (protocol.ts).
 * Once attached, running a command is one socket write and reading until the end records:
 * no Docker API call on that path. Commands on one shell run strictly one after another.
 */
import type { Containers } from '../../docker/index.js';
import { BerthError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { signalTargets, type KillMode } from './kill.js';
import { DEFAULT_MAX_OUTPUT_BYTES } from './output.js';
import { assertStateName, commandLine, PERSIST_LINE, SHELLS_DIR, STATE_NAME_PATTERN } from './protocol.js';
import { type FifoIo, hostUptime } from './shell-transport.js';
import { attachShell, detachShell, execExitCode } from './shell-attach.js';
import type { ExecOptions, ExecResult, ShellInfo } from './types.js';

/** What a shell needs from its session. */
export interface ShellHost {
  readonly containers: Containers;
  readonly containerId: string;
  /** User the shell (and its kill helpers) run as. */
  readonly user: string;
  readonly workdir: string;
  /**
   * Per-session variables (BERTH_WORKSPACE ...) given to every exec. They can't be container env:
   * a warm-pool container is created before it knows which workspace will claim it.
   */
  readonly env: Readonly<Record<string, string>>;
  readonly logger: Logger;
  readonly defaultTimeoutMs: number;
  /**
   * Called when the shell's exec ended unexpectedly or a helper could not run. Returns the error to
   * report when the container itself is gone or stopped (the command then fails with it).
   */
  containerProblem(): Promise<BerthError | undefined>;
  /** OOM-kill counter of the container's memory cgroup (one helper exec; -1 when unknown). */
  oomKills(): Promise<number>;
  /** True when the container's pids cgroup is at its limit (or no helper can even start). */
  pidsExhausted(): Promise<boolean>;
  /** Restart the container (kill + start) to recover from an exhausted process limit. */
  restartContainer(reason: string): Promise<void>;
  /** How many recovery restarts happened so far (a change during a command is reported on it). */
  restartCount(): number;
}

/** Valid shell names (the rule shells share with process names, protocol.ts STATE_NAME_PATTERN). */
export const SHELL_NAME_PATTERN = STATE_NAME_PATTERN;

/** Timings of the escalation after a timeout/abort (exported for tests and docs). */
export const KILL_GRACE_MS = { term: 2000, kill: 2000, idle: 300, shellExit: 1000 } as const;

import { type Attached, mayBeOom, type Outcome, Pending, send, setupFailed, suspicious } from './shell-pending.js';
import { PersistSchedule } from './shell-persist.js';

export class Shell {
  readonly name: string;
  readonly stateDir: string;
  readonly #host: ShellHost;
  #attached: Attached | undefined;
  #attaching: Promise<Attached> | undefined;
  #pending: Pending | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  /** A previous shell of this object ended: the next attach reports shellRestarted. */
  #lost = false;
  #closed = false;
  #lastOom = -1;
  /** A recovery restart happened while attaching; reported on the next result. */
  #restartedContainer = false;
  /** When the env goes to the state dir (shell-persist.ts). */
  readonly #persist = new PersistSchedule(() => this.#persistIdle());

  constructor(name: string, host: ShellHost) {
    assertStateName('shell', name);
    this.name = name;
    this.stateDir = `${SHELLS_DIR}/${name}`;
    this.#host = host;
  }

  info(): ShellInfo {
    const a = this.#attached;
    return { name: this.name, attached: Boolean(a && !a.ended), busy: Boolean(this.#pending), pid: a?.pid ?? null, bash: a?.bash ?? null };
  }

  /** Queue `command`; resolves when it (and everything queued before it) has run. */
  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    if (typeof command !== 'string') return Promise.reject(new BerthError('BAD_INPUT', 'command must be a string'));
    if (command.includes('\0')) {
      return Promise.reject(new BerthError('BAD_INPUT', 'command contains a NUL byte, which no shell can pass on: remove it'));
    }
    const run = () => this.#run(command, opts);
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  /** Detach: the shell sees EOF after its current command, retires its relays and exits. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#persist.stop();
    const a = this.#attached;
    this.#attached = undefined;
    if (!a) return;
    if (this.#pending && !this.#pending.outcome) this.#pending.finish({ kind: 'died' });
    await this.#detach(a, KILL_GRACE_MS.shellExit);
  }

  async #detach(a: Attached, graceMs: number): Promise<void> {
    await detachShell(a, graceMs);
  }

  async #ensureAttached(): Promise<Attached> {
    if (this.#attached && !this.#attached.ended) return this.#attached;
    this.#attaching ??= this.#attach()
      .catch(async (err: unknown) => {
        // A shell that can't even start in a live container: the process limit may be exhausted.
        if (err instanceof BerthError && (err.code === 'CONTAINER_DIED' || err.code === 'CONTAINER_GONE')) throw err;
        if (!(await this.#recoverIfExhausted('a shell could not start'))) throw err;
        this.#restartedContainer = true;
        return this.#attach();
      })
      .finally(() => (this.#attaching = undefined));
    return this.#attaching;
  }

  /** If the container's process limit is exhausted, restart it (see ShellHost.restartContainer). */
  async #recoverIfExhausted(why: string): Promise<boolean> {
    if (this.#closed || !(await this.#host.pidsExhausted().catch(() => true))) return false;
    await this.#host.restartContainer(`the container reached its process limit (${why})`);
    return true;
  }

  async #attach(): Promise<Attached> {
    const h = this.#host;
    const att = await attachShell(h, this.name, this.stateDir, {
      onData: (a, stream, b) => {
        // Output between commands (a retired relay's last bytes) has no owner and is dropped.
        if (a !== this.#attached) return;
        // With the FIFO transport the command's bytes come from its own FIFOs (#openCommandFifos).
        if (a.fifo) this.#pending?.feedControl(stream, b);
        else this.#pending?.feed(stream, b);
      },
      onEnd: (a) => this.#onEnd(a),
    });
    // Baseline for oomKilled; read here (attach already costs Docker calls), never per command.
    this.#lastOom = await h.oomKills().catch(() => -1);
    this.#attached = att;
    this.#persist.reset();
    h.logger.debug('shell attached', { shell: this.name, pid: att.pid, bash: att.bash, restored: att.restoredState, fifo: Boolean(att.fifo) });
    return att;
  }

  #onEnd(att: Attached): void {
    if (att !== this.#attached) return;
    this.#attached = undefined;
    this.#lost = !this.#closed;
    this.#pending?.finish({ kind: 'died' });
  }

  async #run(command: string, opts: ExecOptions): Promise<ExecResult> {
    if (this.#closed) throw new BerthError('SESSION_CLOSED', `shell "${this.name}" is closed: open the session again`);
    const started = Date.now();
    const maxBytes = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const p = new Pending(maxBytes, opts.onOutput);
    if (opts.signal?.aborted) return this.#result(p, started, { kind: 'killed' }, { aborted: true, shellRestarted: false, exitCode: null });

    p.restartsBefore = this.#host.restartCount();
    const restarted = !this.#attached && this.#lost;
    const live = this.#attached;
    const att = live && !live.ended ? live : await this.#ensureAttached();
    this.#lost = false;
    const r = await this.#runOn(att, p, command, opts, started, restarted);
    // The shell could not even set up the command (fork failed: process limit) and berth restarted
    // the container: the command never ran, so run it once on the fresh shell.
    if (r.containerRestarted && setupFailed(p.begin) && !p.interrupting) {
      const again = new Pending(maxBytes, opts.onOutput);
      again.restartsBefore = this.#host.restartCount();
      const att2 = await this.#ensureAttached();
      this.#lost = false;
      const r2 = await this.#runOn(att2, again, command, opts, started, true);
      return { ...r2, containerRestarted: true };
    }
    return r;
  }

  async #runOn(att: Attached, p: Pending, command: string, opts: ExecOptions, started: number, restarted: boolean): Promise<ExecResult> {
    this.#pending = p;
    const timeoutMs = opts.timeoutMs ?? this.#host.defaultTimeoutMs;
    const timer = setTimeout(() => void this.#interrupt(p, att, 'timeout'), timeoutMs);
    const onAbort = () => void this.#interrupt(p, att, 'abort');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const up = att.fifo ? hostUptime() : undefined;
    const persist = this.#persist.due();
    if (att.fifo) this.#startDirect(att, att.fifo, p);
    try {
      send(att, commandLine(p.nonce, p.tag, command, up, persist));
      const outcome = await p.done;
      const r = this.#settle(p, att, outcome, started, restarted);
      return r instanceof Promise ? await r : r;
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (this.#pending === p) this.#pending = undefined;
      this.#persist.ended(persist);
    }
  }

  /**
   * Have an idle shell write its env to the state dir (at EOF it does so itself). Never while a
   * command runs: the line would reach a shell reading its go (protocol.ts __b_mkd).
   */
  #persistIdle(): boolean {
    const a = this.#attached;
    if (this.#closed || this.#pending || !a || a.ended) return false;
    send(a, PERSIST_LINE);
    return true;
  }

  #settle(p: Pending, att: Attached, outcome: Outcome, started: number, restarted: boolean): ExecResult | Promise<ExecResult> {
    // The common case, settled without a turn of the event loop: the command ran to its end
    // record and none of the hints #settleSlow acts on is there (the same three functions).
    if (outcome.kind === 'complete' && !this.#restartSeen(p) && !suspicious(p, outcome) && !mayBeOom(outcome)) {
      const f = { exitCode: outcome.exitCode, shellRestarted: restarted, timedOut: p.interrupting === 'timeout', aborted: p.interrupting === 'abort' };
      return this.#result(p, started, outcome, f);
    }
    return this.#settleSlow(p, att, outcome, started, restarted);
  }

  async #settleSlow(p: Pending, att: Attached, outcome: Outcome, started: number, restarted: boolean): Promise<ExecResult> {
    const h = this.#host;
    let exitCode: number | null = null;
    let shellEnded = false;
    if (outcome.kind === 'complete') exitCode = outcome.exitCode;
    else if (outcome.kind === 'exited') {
      exitCode = outcome.exitCode;
      shellEnded = true;
      this.#forget(att);
      // The shell is exiting; its relays may still serve background jobs: hand them to drainers.
      void this.#retire(att, p).catch((e: unknown) => h.logger.warn('retiring an exited shell failed', { shell: this.name, error: String(e) }));
    } else {
      shellEnded = true;
      this.#forget(att);
      if (outcome.kind === 'died' && !this.#closed) {
        const problem = await h.containerProblem().catch(() => undefined);
        if (problem) throw problem;
        exitCode = await execExitCode(att);
      }
    }
    let containerRestarted = this.#restartSeen(p);
    this.#restartedContainer = false;
    if (!containerRestarted && suspicious(p, outcome) && (await this.#recoverIfExhausted('fork bomb?'))) {
      this.#forget(att);
      void this.#detach(att, 0);
      shellEnded = true;
      containerRestarted = true;
    }
    let oomKilled = false;
    if (mayBeOom(outcome)) {
      const n = await h.oomKills().catch(() => -1);
      if (n >= 0 && this.#lastOom >= 0 && n > this.#lastOom) oomKilled = true;
      if (n >= 0) this.#lastOom = n;
    }
    return this.#result(p, started, outcome, {
      exitCode,
      shellEnded,
      shellRestarted: restarted,
      timedOut: p.interrupting === 'timeout',
      aborted: p.interrupting === 'abort',
      oomKilled,
      containerRestarted,
    });
  }

  /** The container was restarted while the command was queued or ran (by berth's recovery). */
  #restartSeen(p: Pending): boolean {
    return p.restartedContainer || this.#restartedContainer || this.#host.restartCount() !== p.restartsBefore;
  }

  #result(
    p: Pending,
    started: number,
    outcome: Outcome,
    f: {
      exitCode: number | null;
      shellRestarted: boolean;
      shellEnded?: boolean;
      timedOut?: boolean;
      aborted?: boolean;
      oomKilled?: boolean;
      containerRestarted?: boolean;
    },
  ): ExecResult {
    return {
      stdout: p.out.stdout.text(),
      stderr: p.out.stderr.text(),
      exitCode: f.exitCode,
      durationMs: Date.now() - started,
      truncated: p.out.stdout.truncated || p.out.stderr.truncated,
      stdoutBytes: p.out.stdout.totalBytes,
      stderrBytes: p.out.stderr.totalBytes,
      timedOut: f.timedOut ?? false,
      aborted: f.aborted ?? false,
      shellRestarted: f.shellRestarted,
      shellEnded: f.shellEnded ?? false,
      cwd: outcome.kind === 'complete' || outcome.kind === 'exited' ? outcome.cwd : null,
      shell: this.name,
      oomKilled: f.oomKilled ?? false,
      containerRestarted: f.containerRestarted ?? false,
    };
  }

  /**
   * The shell made a command's FIFOs (protocol.ts direct mode): read them from now on, dropping
   * the previous pair (its drainers have it), and tell the shell whether it may go on.
   */
  #openCommandFifos(att: Attached): void {
    const ok = att.fifo?.openCommandFifos((stream, b) => {
      if (att === this.#attached) this.#pending?.feed(stream, b);
    });
    send(att, ok ? 'go\n' : 'no\n');
  }

  /**
   * Direct mode (protocol.ts): drop what the stderr FIFO still holds (a finished background job's
   * last bytes, never this command's: the stderr FIFO has no begin record to cut them off), and
   * let the pending read the rest of it at the stdout end record.
   */
  #startDirect(att: Attached, fifo: FifoIo, p: Pending): void {
    p.onMake = () => this.#openCommandFifos(att);
    fifo.takeCommandOutput('stderr', ignore);
    p.startDirect(() => fifo.takeCommandOutput('stderr', (b) => p.feed('stderr', b)));
  }

  /** Stop routing to `att`; the next command attaches a new shell and reports shellRestarted. */
  #forget(att: Attached): void {
    if (this.#attached === att) {
      this.#attached = undefined;
      this.#lost = !this.#closed;
    }
  }

  async #retire(att: Attached, p: Pending): Promise<void> {
    if (p.begin && (p.begin.direct || p.begin.relays.length)) {
      await this.#helper('shell', p, att).catch(() => undefined);
    }
    await this.#detach(att, KILL_GRACE_MS.shellExit);
  }

  /**
   * Timeout/abort: TERM the command's processes, then freeze-and-KILL them, then, if the shell
   * itself is stuck (a builtin loop), kill the shell; each step waits a bounded time for the end
   * record. A kill helper that cannot even start (pids limit exhausted) escalates straight on.
   */
  async #interrupt(p: Pending, att: Attached, why: 'timeout' | 'abort'): Promise<void> {
    if (p.outcome || p.interrupting) return;
    p.interrupting = why;
    const log = this.#host.logger;
    log.info(`shell command ${why === 'timeout' ? 'timed out' : 'aborted'}; killing it`, { shell: this.name });
    try {
      // A helper that fails (typically: cannot fork, the process limit is exhausted) ends the
      // escalation: a container restart is then the only way to stop the command.
      const step = async (mode: KillMode): Promise<number | undefined> =>
        this.#helper(mode, p, att).catch(async (e: unknown) => {
          log.warn(`kill helper (${mode}) failed`, { error: String(e) });
          if (!p.outcome && (await this.#recoverIfExhausted('its command could not be killed'))) p.restartedContainer = true;
          return undefined;
        });
      if (p.begin) {
        // No target at all means the shell itself is busy (a builtin loop): escalate quickly.
        const termed = await step('term');
        if (termed === undefined || (await p.settledWithin(termed > 0 ? KILL_GRACE_MS.term : KILL_GRACE_MS.idle))) return;
        const killed = await step('kill');
        if (killed === undefined || (await p.settledWithin(killed > 0 ? KILL_GRACE_MS.kill : KILL_GRACE_MS.idle))) return;
      }
      log.warn('shell is stuck after killing its command; killing the shell', { shell: this.name });
      // A job still holding the command's FIFOs gets the helper's drainers as its only reader.
      att.fifo?.dropCommandFifos();
      await step('shell');
    } finally {
      if (!p.outcome) {
        p.finish({ kind: 'killed' });
        this.#forget(att);
        void this.#detach(att, 0);
      }
    }
  }

  async #helper(mode: KillMode, p: Pending, att: Attached): Promise<number> {
    const b = p.begin;
    return signalTargets(this.#host.containers, this.#host.containerId, {
      mode,
      user: this.#host.user,
      tag: p.tag,
      sessionId: b?.sid ?? att.sid,
      startTick: b?.startTick ?? 0,
      shellPid: b?.pid ?? att.pid,
      stateDir: this.stateDir,
      keep: mode === 'shell' ? (b?.relays ?? []) : [...(b?.relays ?? []), ...(b?.drainers ?? []), b?.pid ?? att.pid],
    });
  }
}

function ignore(): void {}

/**
 * A Session is the live container of one workspace, as handed out by Runner.open(). It owns the
 * named shells (attached lazily), fresh execs, background processes and the idle timer. close()
 * stops the container and keeps it, so the next open() resumes it with its writable layer.
 */
import type { ResolvedSpec } from '../../src/project/index.js';
import type { WorkspaceInfo } from '../../src/workspace/index.js';
import type { Containers } from '../../docker/index.js';
import { BerthError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { oomKills, pidsExhausted } from './cgroup-probes.js';
import { runFresh } from './exec.js';
import { Processes } from './processes.js';
import { assertStateName, SHELLS_DIR, tmpEnvPath } from './protocol.js';
import { readSetupLog } from './setup.js';
import { Shell, type ShellHost } from './shell.js';
import type { ExecOptions, ExecResult, ProcessInfo, ProcessLog, SessionCreated, SessionInfo, SetupReport, ShellInfo, StartProcessOptions } from './types.js';

export type { SessionCreated, SessionInfo } from './types.js';

export const DEFAULT_SHELL = 'main';

export interface SessionInit {
  readonly name: string;
  readonly containers: Containers;
  readonly containerId: string;
  readonly containerName: string;
  readonly workspace: WorkspaceInfo;
  readonly spec: ResolvedSpec;
  readonly specHash: string;
  readonly user: string;
  readonly logger: Logger;
  readonly execTimeoutMs: number;
  readonly setup: SetupReport;
  readonly created: SessionCreated;
  readonly warnings: readonly string[];
  /** Stops the container (under the workspace lock); called by close(). */
  readonly stop: () => Promise<void>;
  /** Records activity where other runner processes see it (idle stop in gc); throttled here. */
  readonly touch?: () => Promise<void>;
  /** Called after every exec that produced a result (the per-workspace command log); must not throw. */
  readonly onExecDone?: (command: string, result: ExecResult) => void;
  readonly onClosed: (s: Session) => void;
  /** Said once, on the next exec result: the session was reopened after its container died. */
  readonly notice?: string;
  /** The container run the session starts in (StartedAt, Docker's OOMKilled flag then). */
  readonly run?: { readonly startedAt: string; readonly oomKilled: boolean };
}

export class Session implements AsyncDisposable {
  readonly name: string;
  readonly containerId: string;
  readonly containerName: string;
  readonly workspace: WorkspaceInfo;
  readonly spec: ResolvedSpec;
  readonly specHash: string;
  readonly user: string;
  readonly setup: SetupReport;
  readonly created: SessionCreated;
  /** Non-fatal notes from open (e.g. the container was built from an older spec). */
  readonly warnings: readonly string[];
  readonly #init: SessionInit;
  readonly #shells = new Map<string, Shell>();
  readonly #processes: Processes;
  readonly #host: ShellHost;
  #closed = false;
  #closing: Promise<void> | undefined;
  #problem: BerthError | undefined;
  #busy = 0;
  #lastActivity = Date.now();
  #lastTouch = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  #restarting: Promise<void> | undefined;
  #restarts = 0;
  #notice: string | undefined;
  /**
   * The container run this session knows (StartedAt) and whether an OOM kill in it was already
   * reported (on a command's result, or the flag was up when the run began). Docker sets
   * State.OOMKilled at exit when ANY process of the run was OOM-killed, so without this a later
   * `docker kill` would be blamed on an OOM kill a command reported long before.
   */
  #oomKnown: { startedAt: string; oomKilled: boolean } | undefined;

  constructor(init: SessionInit) {
    this.#init = init;
    this.name = init.name;
    this.containerId = init.containerId;
    this.containerName = init.containerName;
    this.workspace = init.workspace;
    this.spec = init.spec;
    this.specHash = init.specHash;
    this.user = init.user;
    this.setup = init.setup;
    this.created = init.created;
    this.warnings = init.warnings;
    const logger = init.logger.child({ workspace: init.name, container: init.containerId.slice(0, 12) });
    this.#host = {
      containers: init.containers,
      containerId: init.containerId,
      user: init.user,
      workdir: init.spec.workdir,
      env: { BERTH_WORKSPACE: init.name },
      logger,
      defaultTimeoutMs: init.execTimeoutMs,
      containerProblem: () => this.#checkContainer(),
      oomKills: () => oomKills(init.containers, init.containerId, init.user),
      pidsExhausted: () => pidsExhausted(init.containers, init.containerId, init.user),
      restartContainer: (reason) => this.#restartContainer(reason),
      restartCount: () => this.#restarts,
    };
    this.#processes = new Processes(this.#host);
    this.#notice = init.notice;
    this.#oomKnown = init.run;
    this.#armIdle();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Whether a fatal problem was found (info().problem without building the whole info). */
  get broken(): boolean {
    return this.#problem !== undefined;
  }

  /** Run a command in a persistent shell (default "main"), or a one-shot exec with `fresh`. */
  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    this.#assertUsable();
    this.#busy++;
    this.#active();
    try {
      let r = opts.fresh ? await runFresh(this.#host, command, opts) : await this.#shell(opts.shell ?? DEFAULT_SHELL).exec(command, opts);
      // An OOM kill this command already reported belongs to it, not to a later death of the run.
      if (r.oomKilled && this.#oomKnown) this.#oomKnown = { ...this.#oomKnown, oomKilled: true };
      if (r.containerRestarted) void this.#noteOomState();
      if (this.#notice) {
        r = { ...r, notice: this.#notice };
        this.#notice = undefined;
      }
      this.#init.onExecDone?.(command, r);
      return r;
    } finally {
      this.#busy--;
      this.#lastActivity = Date.now();
    }
  }

  shells(): ShellInfo[] {
    return [...this.#shells.values()].map((s) => s.info());
  }

  /** End a named shell; its saved cwd/env stay, so the next command on that name restores them. */
  async closeShell(name: string): Promise<void> {
    assertStateName('shell', name);
    const s = this.#shells.get(name);
    this.#shells.delete(name);
    await s?.close();
  }

  /** Remove a shell's saved state too (cwd/env/bg.log, the tmpfs env), so its next command starts from the workdir. */
  async resetShell(name: string): Promise<void> {
    this.#assertUsable();
    await this.closeShell(name);
    await this.#init.containers.runCapture(this.containerId, { cmd: ['rm', '-rf', `${SHELLS_DIR}/${name}`, tmpEnvPath(name)], user: this.user });
  }

  async startProcess(name: string, command: string, opts: StartProcessOptions = {}): Promise<ProcessInfo> {
    return this.#guard(() => this.#processes.start(name, command, opts));
  }

  async listProcesses(): Promise<ProcessInfo[]> {
    return this.#guard(() => this.#processes.list());
  }

  async processLog(name: string, opts: { tailBytes?: number } = {}): Promise<ProcessLog> {
    return this.#guard(() => this.#processes.log(name, opts));
  }

  async killProcess(name: string, opts: { graceMs?: number } = {}): Promise<ProcessInfo> {
    return this.#guard(() => this.#processes.kill(name, opts));
  }

  /** Output of the spec's setup/install commands (tail), kept in the container. */
  async setupLog(opts: { tailBytes?: number } = {}): Promise<string> {
    return this.#guard(() => readSetupLog(this.#host, opts.tailBytes));
  }

  /** Output of shell background jobs (`cmd &`) written after their command returned. */
  async backgroundLog(opts: { shell?: string; tailBytes?: number } = {}): Promise<string> {
    const shell = opts.shell ?? DEFAULT_SHELL;
    assertStateName('shell', shell);
    const n = Math.max(0, Math.min(Math.floor(opts.tailBytes ?? 64 * 1024), 16 * 1024 * 1024));
    return this.#guard(async () => {
      const r = await this.#init.containers.runCapture(this.containerId, {
        cmd: ['/bin/sh', '-c', `tail -c ${n} "$1" 2>/dev/null; exit 0`, 'berth', `${SHELLS_DIR}/${shell}/bg.log`],
        user: this.user,
        maxBytes: n,
      });
      return r.stdout;
    });
  }

  info(): SessionInfo {
    return {
      name: this.name,
      containerId: this.containerId,
      containerName: this.containerName,
      image: this.spec.image,
      specHash: this.specHash,
      workdir: this.spec.workdir,
      worktree: this.workspace.worktree,
      branch: this.workspace.branch,
      user: this.user,
      closed: this.#closed,
      problem: this.#problem?.message ?? null,
      shells: this.shells(),
      idleTimeoutMs: this.spec.idleTimeoutMs,
      lastActivity: new Date(this.#lastActivity).toISOString(),
    };
  }

  /** Detach shells and stop the container (kept for the next open). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Detach without stopping the container (runner shutdown that leaves sessions running). */
  async detach(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    await Promise.all([...this.#shells.values()].map((s) => s.close()));
    this.#shells.clear();
    this.#init.onClosed(this);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    await Promise.all([...this.#shells.values()].map((s) => s.close()));
    this.#shells.clear();
    try {
      await this.#init.stop();
    } finally {
      this.#init.onClosed(this);
    }
  }

  #assertUsable(): void {
    if (this.#closed) {
      throw new BerthError('SESSION_CLOSED', `session "${this.name}" is closed: open it again (berth session open ${this.name})`);
    }
    if (this.#problem) throw this.#problem;
  }

  async #guard<T>(fn: () => Promise<T>): Promise<T> {
    this.#assertUsable();
    this.#busy++;
    this.#active();
    try {
      return await fn();
    } catch (err) {
      if (err instanceof BerthError && (err.code === 'CONTAINER_DIED' || err.code === 'CONTAINER_GONE')) {
        throw (await this.#checkContainer()) ?? err;
      }
      throw err;
    } finally {
      this.#busy--;
      this.#lastActivity = Date.now();
    }
  }

  #active(): void {
    const now = Date.now();
    this.#lastActivity = now;
    // A host file's mtime, at most every 10 s: cheap enough for the hot path, and what lets a
    // later runner process (gc) stop this container once it has been idle.
    if (this.#init.touch && now - this.#lastTouch > 10_000) {
      this.#lastTouch = now;
      void this.#init.touch().catch(() => undefined);
    }
  }

  #shell(name: string): Shell {
    let s = this.#shells.get(name);
    if (!s) {
      s = new Shell(name, this.#host);
      this.#shells.set(name, s);
    }
    return s;
  }

  /** Inspect the container after something went wrong; remembers and returns a fatal problem. */
  async #checkContainer(): Promise<BerthError | undefined> {
    if (this.#problem) return this.#problem;
    // A recovery restart makes the container briefly "not running": that is not a death.
    if (this.#restarting) await this.#restarting.catch(() => undefined);
    // Engines: the engine itself is down. That is the session's problem too (the next open
    // reports ENGINE_UNAVAILABLE until the engine is back, then restarts or adopts the container).
    const st = await this.#init.containers.inspect(this.containerId).catch((err: unknown) => {
      if (err instanceof BerthError && err.code === 'ENGINE_UNAVAILABLE') return err;
      throw err;
    });
    let problem: BerthError | undefined;
    if (st instanceof BerthError) problem = st;
    else if (!st) {
      problem = new BerthError(
        'CONTAINER_GONE',
        `the container of session "${this.name}" (${this.containerName}) was removed: open the session again to recreate it (the worktree is intact; system packages installed in the container are lost)`,
      );
    } else if (!st.running) {
      const known = this.#oomKnown;
      const oomKilled = st.oomKilled && !(known && known.startedAt === st.startedAt && known.oomKilled);
      const why = oomKilled
        ? 'it ran out of memory (OOMKilled)'
        : `it exited with code ${st.exitCode}${st.exitCode === 137 ? ' (SIGKILL: docker kill, or the OOM killer)' : ''}`;
      problem = new BerthError(
        'CONTAINER_DIED',
        `the container of session "${this.name}" (${this.containerName}) stopped at ${st.finishedAt}: ${why}. Open the session again to restart it; the worktree and the container's files are kept${oomKilled ? `; raise resources.memoryMb (now ${this.spec.resources.memoryMb}) in berth.yaml if this repeats` : ''}.`,
        { details: { exitCode: st.exitCode, oomKilled, finishedAt: st.finishedAt } },
      );
    }
    if (problem) {
      this.#problem = problem;
      this.#init.logger.warn('session container is not running', { workspace: this.name, reason: problem.message });
      for (const s of this.#shells.values()) void s.close();
      this.#shells.clear();
    }
    return problem;
  }

  /** Start tracking a new container run (after a recovery restart). */
  async #noteOomState(): Promise<void> {
    const st = await this.#init.containers.inspect(this.containerId).catch(() => undefined);
    if (st?.running && st.startedAt !== this.#oomKnown?.startedAt) this.#oomKnown = { startedAt: st.startedAt, oomKilled: st.oomKilled };
  }

  /**
   * SIGKILL everything in the container and start it again: the one way out of a fork bomb, since
   * no helper can fork inside an exhausted pids cgroup. The writable layer (files, packages) and
   * saved shell state survive; shells reattach on their next command.
   */
  #restartContainer(reason: string): Promise<void> {
    this.#restarting ??= (async () => {
      this.#init.logger.warn('restarting the session container', { workspace: this.name, reason });
      this.#restarts++;
      await this.#init.containers.kill(this.containerId);
      for (let i = 0; i < 50 && (await this.#init.containers.inspect(this.containerId))?.running; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      await this.#init.containers.start(this.containerId);
    })().finally(() => (this.#restarting = undefined));
    return this.#restarting;
  }

  #armIdle(): void {
    const idle = this.spec.idleTimeoutMs;
    if (!(idle > 0) || !Number.isFinite(idle)) return;
    const tick = () => {
      if (this.#closed) return;
      const quiet = Date.now() - this.#lastActivity;
      if (this.#busy === 0 && quiet >= idle) {
        this.#init.logger.info('session idle; stopping its container', { workspace: this.name, idleMs: quiet });
        void this.close().catch((err: unknown) => this.#init.logger.warn('stopping an idle session failed', { workspace: this.name, error: String(err) }));
        return;
      }
      this.#idleTimer = setTimeout(tick, Math.max(50, Math.min(idle - (this.#busy ? 0 : quiet), 60_000)));
      this.#idleTimer.unref();
    };
    this.#idleTimer = setTimeout(tick, Math.min(idle, 60_000));
    this.#idleTimer.unref();
  }
}

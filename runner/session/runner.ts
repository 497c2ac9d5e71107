/**
 * The Runner: one per (process, repository). It opens sessions (workspace + container), adopts
 * containers left by earlier runner processes (Docker labels are the source of truth; nothing is
 * kept in memory that can't be rebuilt from them), and reaps containers whose workspace is gone.
 *
 * It composes narrow parts, each given only what it needs: ContainerFactory (how containers are
 * built; the Pool's host), open.ts (the steps of open), delete.ts (the one delete path), gc.ts,
 * checkpoints.ts (through PersistenceHost). A session whose container died or vanished is
 * replaced by the next open() (and by the MCP tools' next call), which says so in its result.
 */
import { resolveSpec } from '../../src/project/index.js';
import type { SpecInput } from '../../src/project/index.js';
import type { Resolved, ResolvedSpec } from '../../src/project/index.js';
import { dataDir as resolveDataDir, ensureDataDir } from '../../src/data-dir.js';
import { LocalSourceReader } from '../../src/source-reader.js';
import { assertValidName } from '../../src/workspace/index.js';
import { Workspaces } from '../../src/workspace/index.js';
import { EngineSet, isEngineDown, type Engine, type EngineStatus } from '../../docker/index.js';
import { Containers, type MountSpec } from '../../docker/index.js';
import { sessionContainerName, type Labels, type RepoRef } from '../../docker/index.js';
import { BerthError } from '../../src/errors.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { checkpointWorkspace, type CheckpointOptions, type CheckpointOutcome } from './checkpoints.js';
import { commandLogHook, commandLogsWritten } from './command-log.js';
import { ContainerFactory } from './container-factory.js';
import { deleteWorkspace, removeWorkspaceContainer, type Removed } from './delete.js';
import { EngineParts, EXTRA_ENGINE, mergeGcReports, type EnginePart } from './engine-select.js';
import { collectGarbage, touchActivity, type GcReport, type SessionRow } from './gc.js';
import { withLock } from './lock.js';
import { openContainer, type OpenOptions } from './open.js';
import { Pool, type PoolStatus } from './pool.js';
import { Session } from './session.js';
import { RemoteWorkspaceFiles, type WorkspaceFilesApi } from './files-remote.js';
import type { WorkspaceFilesOptions } from './files-types.js';
import { remoteFlag, remoteSettings, type RemoteConfig } from './remote.js';
import type { PersistenceHost } from './checkpoints.js';
import { DEFAULT_EXEC_TIMEOUT_MS, type RunnerOptions } from './runner-options.js';
import { listSessions, listSessionsOn, type ListHost } from './runner-list.js';

export { removeWorkspaceResources } from './delete.js';
export type { GcReport } from './gc.js';
export type { OpenOptions } from './open.js';
export { DEFAULT_EXEC_TIMEOUT_MS, type RunnerOptions } from './runner-options.js';

export type SessionSummary = SessionRow;

export class Runner implements AsyncDisposable {
  readonly repo: RepoRef;
  readonly dataDir: string;
  readonly workspaces: Workspaces;
  readonly containers: Containers;
  readonly logger: Logger;
  readonly labels: Labels;
  readonly execTimeoutMs: number;
  readonly pool: Pool;
  readonly factory: ContainerFactory;
  /** Engines and their per-engine parts; `containers`/`factory`/`pool` above are the primary's. */
  readonly engines: EngineSet;
  readonly #parts: EngineParts;
  /**
   * Set when some engine holds remote workspaces (volumes instead of bind-mounted worktrees).
   * Whether ONE workspace is remote is its engine's flag: ask forWorkspace / remoteFiles.
   */
  readonly remote: RemoteConfig | undefined;
  readonly #specOverrides: SpecInput | undefined;
  readonly #sessions = new Map<string, Session>();
  /** The engine part each open session lives on (remoteFiles needs it synchronously). */
  readonly #sessionParts = new Map<string, EnginePart>();
  readonly #opening = new Map<string, Promise<Session>>();
  #closed = false;
  readonly #sharedEngines: boolean;

  private constructor(opts: RunnerOptions, workspaces: Workspaces, engines: EngineSet) {
    this.#sharedEngines = opts.engines !== undefined;
    this.workspaces = workspaces;
    this.repo = { path: workspaces.repo, id: workspaces.repoId };
    this.dataDir = workspaces.dataDir;
    this.logger = opts.logger ?? silentLogger;
    this.engines = engines;
    this.containers = new Containers(engines.primary.docker);
    this.labels = { ...(opts.labels ?? {}) };
    this.execTimeoutMs = opts.execTimeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    this.#specOverrides = opts.spec;
    const settings = remoteSettings(opts.remote);
    this.remote = engines.engines.some((e) => e.remote) ? settings : undefined;
    // Local or remote per engine: a factory builds volume workspaces exactly on a remote engine.
    const makeFactory = (containers: Containers, engine: Engine) =>
      new ContainerFactory({
        remote: engine.remote ? settings : undefined,
        repo: this.repo,
        dataDir: this.dataDir,
        containers,
        logger: this.logger,
        labels: this.labels,
        gitInContainer: opts.gitInContainer ?? 'readonly',
      });
    this.factory = makeFactory(this.containers, engines.primary);
    this.pool = new Pool(this.factory, opts.pool ?? {}, workspaces);
    this.#parts = new EngineParts(engines, { containers: this.containers, factory: this.factory, pool: this.pool }, makeFactory);
  }

  static async create(opts: RunnerOptions): Promise<Runner> {
    const logger = opts.logger ?? silentLogger;
    const dataDir = await ensureDataDir(resolveDataDir(opts.dataDir));
    const flag = remoteFlag(opts.remote);
    const engines = opts.engines ?? (opts.docker ? EngineSet.single(opts.docker, flag) : EngineSet.resolve(process.env, flag));
    const workspaces = await Workspaces.open(opts.repo, { dataDir, logger });
    const runner = new Runner(opts, workspaces, engines);
    if (opts.reconcile !== false) {
      const report = await runner.gc();
      if (report.removedContainers.length) logger.info('reaped containers of deleted workspaces', { containers: report.removedContainers });
    }
    return runner;
  }

  /** The spec for this repository (resolved over its checkout on every call: berth.yaml may change). */
  async resolve(): Promise<Resolved> {
    return resolveSpec(new LocalSourceReader(this.repo.path), this.#specOverrides === undefined ? {} : { overrides: this.#specOverrides });
  }

  /** The user shells run as: spec.user, else this process's uid:gid (65532 or BERTH_SESSION_UID for root). */
  userFor(spec: ResolvedSpec): string {
    return this.factory.userFor(spec);
  }

  /** Mounts of a session container (see ContainerFactory.mountsFor). */
  mountsFor(name: string | undefined, spec: ResolvedSpec, source: string): Promise<MountSpec[]> {
    return this.factory.mountsFor(name, spec, source);
  }

  /**
   * The usable session open in this process, if any. One whose container died or vanished is not
   * returned: the next open() replaces it (restarting or recreating the container).
   */
  get(name: string): Session | undefined {
    const s = this.#sessions.get(name);
    return s && !s.closed && !s.broken ? s : undefined;
  }

  /** Open (create/resume) the session of workspace `name`; returns the open one if there is one. */
  async open(name: string, opts: OpenOptions = {}): Promise<Session> {
    this.#assertOpen();
    assertValidName(name);
    const live = this.get(name);
    if (live) return live;
    const inflight = this.#opening.get(name);
    if (inflight) return inflight;
    const p = this.#open(name, opts).finally(() => this.#opening.delete(name));
    this.#opening.set(name, p);
    return p;
  }

  async #open(name: string, opts: OpenOptions): Promise<Session> {
    const containerName = sessionContainerName(this.repo, name);
    return withLock(this.dataDir, containerName, { signal: opts.signal, logger: this.logger }, async () => {
      // A session whose container died under it: let it go; this open restarts (or recreates) it.
      const dead = this.#sessions.get(name);
      const why = dead?.info().problem ?? null;
      if (dead) await dead.detach();
      const at = await this.#parts.forOpen(this.workspaces, name);
      const part = at.part;
      const o = await openContainer(this.#openHost(part), name, opts).finally(() => at.release());
      const notice =
        why === null
          ? undefined
          : `berth reopened this session: ${why.replace(/ Open the session again.*$/, '')} The container was ${o.created.resumed ? 'restarted' : 'recreated'}; shells restored their saved cwd and environment; background processes and running commands were lost.`;
      const session = new Session({
        name,
        containers: part.containers,
        containerId: o.containerId,
        containerName,
        workspace: o.workspace,
        spec: o.resolved.spec,
        specHash: o.resolved.hash,
        user: o.user,
        logger: this.logger,
        execTimeoutMs: this.execTimeoutMs,
        setup: o.setup,
        created: o.created,
        warnings: notice ? [notice, ...o.warnings] : o.warnings,
        ...(notice ? { notice } : {}),
        run: o.run,
        stop: () => withLock(this.dataDir, containerName, { logger: this.logger }, () => part.containers.stop(o.containerId)),
        touch: () => touchActivity(this.dataDir, containerName),
        onExecDone: commandLogHook(this.dataDir, this.repo, name, this.logger),
        onClosed: (s) => {
          if (this.#sessions.get(name) !== s) return;
          this.#sessions.delete(name);
          this.#sessionParts.delete(name);
        },
      });
      this.#sessions.set(name, session);
      this.#sessionParts.set(name, part);
      await touchActivity(this.dataDir, containerName).catch(() => undefined);
      this.logger.info('session open', {
        workspace: name,
        container: o.containerId.slice(0, 12),
        engine: part.engine.id,
        createdContainer: o.created.container,
        fromPool: o.created.fromPool,
        resumed: o.created.resumed,
        createdWorkspace: o.created.workspace,
        reopened: why !== null,
      });
      return session;
    });
  }

  /** Close the session of `name` if open here (stops the container). False if it was not open. */
  async closeSession(name: string): Promise<boolean> {
    assertValidName(name);
    const s = this.#sessions.get(name);
    if (s) {
      await s.close();
      return true;
    }
    // Not open in this process: stop the container anyway, it may belong to a dead runner.
    const { containers } = await this.#parts.of(this.workspaces, name);
    const st = await containers.inspect(sessionContainerName(this.repo, name));
    if (!st || !st.running) return false;
    await withLock(this.dataDir, sessionContainerName(this.repo, name), { logger: this.logger }, () => containers.stop(st.id));
    return true;
  }

  /** Remove the container (and per-workspace volumes) of `name`, keeping the workspace. */
  async removeContainer(name: string): Promise<Removed> {
    assertValidName(name);
    return withLock(this.dataDir, sessionContainerName(this.repo, name), { logger: this.logger }, async () => {
      await this.#detach(name);
      return removeWorkspaceContainer({ repo: this.repo, containers: (await this.#parts.of(this.workspaces, name)).containers }, name);
    });
  }

  /** Commit the worktree (and, withContainer, snapshot the container); recorded in the workspace state. */
  async checkpoint(name: string, opts: CheckpointOptions): Promise<CheckpointOutcome> {
    return checkpointWorkspace(this, name, opts);
  }

  /**
   * The persistence host on workspace `name`'s engine: its containers, and the remote settings
   * exactly when that engine is remote (checkpoints.ts resolves every operation through this).
   */
  async forWorkspace(name: string): Promise<PersistenceHost> {
    const p = await this.#parts.of(this.workspaces, name);
    return { ...this.#persistenceBase(), containers: p.containers, remote: p.factory.remote, remoteUser: () => this.remoteUser() };
  }

  /** The container operations of the engine workspace `name` lives on (`berth shell`'s TTY exec). */
  async containersFor(name: string): Promise<Containers> {
    return (await this.#parts.of(this.workspaces, name)).containers;
  }

  /**
   * File tools of a remote workspace's open session (files-remote.ts: they exec in its container);
   * undefined for local workspaces, whose files the host opens directly (files.ts).
   */
  remoteFiles(name: string, opts: WorkspaceFilesOptions = {}): WorkspaceFilesApi | undefined {
    const s = this.get(name);
    const part = this.#sessionParts.get(name);
    if (!s || !part?.factory.remote) return undefined;
    return new RemoteWorkspaceFiles(part.containers, s.containerId, s.user, s.spec.workdir, opts);
  }

  /** The session user of remote workspaces: their volumes' files belong to it (remote.ts). */
  async remoteUser(): Promise<string> {
    return this.factory.userFor((await this.resolve()).spec);
  }

  /** Delete the workspace (branch, worktree, note) and everything the runner made for it (delete.ts). */
  async delete(name: string, opts: { keepVolumes?: boolean } = {}): Promise<Removed & { warnings: readonly string[] }> {
    const { containers } = await this.#parts.of(this.workspaces, name);
    return deleteWorkspace(
      { ...this.#resourceHost(), containers, workspaces: this.workspaces, detach: (n) => this.#detach(n), poolDir: () => this.pool.dir() },
      name,
      opts,
    );
  }

  /**
   * Sessions of this repository as each engine sees them (containers by label), open or not. A
   * workspace whose engine does not answer is listed with state "engine-unavailable".
   */
  async list(): Promise<SessionSummary[]> {
    return listSessions(this.#listHost());
  }

  /**
   * Remove containers and per-workspace volumes whose workspace is provably gone, keep (and report)
   * those of workspaces whose state can't be read, reap the pool, and stop idle containers (gc.ts).
   */
  async gc(): Promise<GcReport> {
    if (this.engines.engines.length === 1) return this.#gcOn(this.#parts.all()[0]!);
    // Each engine on its own: one that is down is skipped (its workspaces are kept), not fatal.
    const reports: GcReport[] = [];
    for (const p of this.#parts.all()) {
      try {
        reports.push(await this.#gcOn(p));
      } catch (err) {
        if (!isEngineDown(err)) throw err;
        this.logger.warn('gc skipped an engine that does not answer', { engine: p.engine.id, endpoint: p.engine.endpoint });
      }
    }
    return mergeGcReports(reports);
  }

  #gcOn(p: EnginePart): Promise<GcReport> {
    return collectGarbage({
      ...this.#resourceHost(),
      containers: p.containers,
      workspaces: this.workspaces,
      list: async () => listSessionsOn(this.#listHost(), p, new Set((await this.workspaces.list()).map((w) => w.name))),
      removeResources: async (name, containerId) => {
        await this.#detach(name);
        return removeWorkspaceContainer({ repo: this.repo, containers: p.containers }, name, { containerId });
      },
      poolGc: (resolved) => p.pool.gc(resolved),
      resolve: () => this.resolve(),
    });
  }

  /** Health, version, sessions and capacity of each engine (`berth engines`, the MCP tool). */
  engineStatus(): Promise<EngineStatus[]> {
    return this.engines.status();
  }

  /** Warm pool status for the current spec. */
  async poolStatus(): Promise<PoolStatus> {
    return this.pool.status(await this.resolve());
  }

  /** Fill the warm pool for the current spec up to `size` (default: its target); returns names created. */
  async warmPool(opts: { size?: number; signal?: AbortSignal } = {}): Promise<string[]> {
    this.#assertOpen();
    if (this.factory.remote) {
      throw new BerthError(
        'BAD_INPUT',
        `the warm pool is not available on engine "${this.engines.primary.id}": it is remote (its workspaces live in volumes, a pool container binds a host dir): unset BERTH_REMOTE, list a local engine first in engines:, or skip \`berth pool warm\``,
      );
    }
    return this.pool.fill(await this.resolve(), opts);
  }

  /**
   * Close every session opened here. `stop` (default true) stops their containers; false only
   * detaches, leaving them running for another runner process. Idempotent.
   */
  async close(opts: { stop?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.pool.close();
    const sessions = [...this.#sessions.values()];
    await Promise.allSettled(sessions.map((s) => (opts.stop === false ? s.detach() : s.close())));
    this.#sessions.clear();
    this.#sessionParts.clear();
    // The command log is written in batches: write the last one before the process may exit.
    await commandLogsWritten().catch(() => undefined);
    await this.workspaces.close();
    // A set the caller passed in may serve other runners: only one resolved here is closed.
    if (!this.#sharedEngines) this.engines.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** What open.ts needs, on one engine's part. */
  #listHost(): ListHost {
    return { repo: this.repo, workspaces: this.workspaces, engines: this.engines, parts: this.#parts, isOpen: (name) => Boolean(this.get(name)) };
  }

  #openHost(p: EnginePart) {
    return {
      repo: this.repo,
      workspaces: this.workspaces,
      containers: p.containers,
      logger: this.logger,
      factory: p.factory,
      pool: p.pool,
      resolve: () => this.resolve(),
      ...(this.engines.configured ? { createExtra: { [EXTRA_ENGINE]: p.engine.id } } : {}),
    };
  }

  #persistenceBase() {
    return { workspaces: this.workspaces, repo: this.repo, dataDir: this.dataDir, labels: this.labels, logger: this.logger, get: (n: string) => this.get(n) };
  }

  #resourceHost() {
    return { repo: this.repo, dataDir: this.dataDir, containers: this.containers, logger: this.logger };
  }

  async #detach(name: string): Promise<void> {
    await this.#sessions.get(name)?.detach();
  }

  #assertOpen(): void {
    if (this.#closed) throw new BerthError('SESSION_CLOSED', 'this runner is closed: create a new one');
  }
}

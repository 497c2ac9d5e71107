/**
 * The Runner: one per (process, repository). It opens sessions (workspace + container), adopts
 * containers left by earlier runner processes (Docker labels are the source of truth; nothing is
 * kept in memory that can't be rebuilt from them), and reaps containers whose workspace is gone.
 *
 * open(name):
 *   1. under the workspace's cross-process lock (lock.ts),
 *   2. find the workspace, or create it (opts.create, default true),
 *   3. resolve the spec over the repository checkout (call overrides > berth.yaml > detected),
 *   4. find the container by its deterministic name, or take one from the warm pool, or create it,
 *   5. start it (a stopped container keeps its writable layer: installed packages survive),
 *   6. prepare berth's state dir and run setup (root) + install (user) once per container.
 *   Anything this open created is removed again if a later step fails.
 */
import { mkdir, readFile, realpath, rmdir, stat, utimes, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import { dataDir as resolveDataDir } from '../../src/data-dir.js';
import { LocalSourceReader } from '../../src/source-reader.js';
import { resolveSpec } from '../../src/project/resolve.js';
import { ensureImageRef } from '../../docker/ensure.js';
import type { SpecInput } from '../../src/project/schema.js';
import type { Resolved, ResolvedSpec } from '../../src/project/types.js';
import { assertValidName } from '../../src/workspace/names.js';
import type { WorkspaceInfo } from '../../src/workspace/types.js';
import { Workspaces } from '../../src/workspace/workspaces.js';
import { docker as sharedDocker, type Docker } from '../../docker/client.js';
import { Containers, type MountSpec } from '../../docker/containers.js';
import {
  buildLabels,
  cacheVolumeName,
  LABEL,
  labelFilter,
  sessionContainerName,
  workspaceFromContainerName,
  workspaceVolumeName,
  type Labels,
  type RepoRef,
} from '../../docker/labels.js';
import { BerthError } from '../../src/errors.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { withLock } from './lock.js';
import { Pool, type Claimed, type PoolOptions, type PoolStatus } from './pool.js';
import type { StreamName } from './output.js';
import { HOME_DIR, initContainer, isRootUser, runSetup } from './setup.js';
import { Session, type SessionCreated } from './session.js';
import { checkpointWorkspace, containerImageFor, type CheckpointOptions, type CheckpointOutcome } from './checkpoints.js';
import { commandLogHook } from './command-log.js';
import { isVolumeKept, removePersistedState } from './workspace-resources.js';
import type { SetupReport } from './types.js';

export const DEFAULT_EXEC_TIMEOUT_MS = 10 * 60_000;

export interface RunnerOptions {
  /** Path inside the user's repository (its checkout is found from here). */
  readonly repo: string;
  /** berth's data dir (default: BERTH_DATA_DIR, then the XDG data dir). */
  readonly dataDir?: string;
  readonly logger?: Logger;
  readonly docker?: Docker;
  /** Call-level spec overrides (highest precedence, same shape as berth.yaml). */
  readonly spec?: SpecInput;
  /** Extra labels put on every container and volume this runner creates (tests tag theirs). */
  readonly labels?: Labels;
  /** Default timeout of one command (ExecOptions.timeoutMs), default 10 min. */
  readonly execTimeoutMs?: number;
  /** Reap containers of deleted workspaces at start (default true). */
  readonly reconcile?: boolean;
  /**
   * The repository's git directory inside session containers, at the same absolute path, so the
   * worktree's `.git` file resolves and `git status/diff/log` work there. 'readonly' (default):
   * writes (commit, branch) fail with "Read-only file system" — agents checkpoint through berth,
   * and can't rewrite your refs. 'none': no git in the container.
   */
  readonly gitInContainer?: 'readonly' | 'none';
  /** Warm pool settings; the target size defaults to the spec's pool.size. */
  readonly pool?: PoolOptions;
}

export interface OpenOptions {
  /** Create the workspace when it does not exist (default true); false makes a missing one an error. */
  readonly create?: boolean;
  /** Base ref for a new workspace (default HEAD). */
  readonly base?: string;
  /** Remove an existing container built from an older spec and create a fresh one. */
  readonly recreate?: boolean;
  /** Live output of setup/install commands. */
  readonly onOutput?: (stream: StreamName, chunk: string) => void;
  readonly signal?: AbortSignal;
}

export interface SessionSummary {
  readonly name: string;
  readonly containerId: string;
  readonly containerName: string;
  /** Docker state: running, exited, created ... */
  readonly state: string;
  readonly specHash: string | null;
  /** Open in this runner process. */
  readonly open: boolean;
  /** The workspace still exists (false: the container is an orphan gc will remove). */
  readonly workspaceExists: boolean;
}

export interface GcReport {
  readonly removedContainers: readonly string[];
  readonly removedVolumes: readonly string[];
  /** Running session containers stopped because they were idle longer than spec.idleTimeoutMs. */
  readonly stoppedIdle: readonly string[];
  /** Orphans left alone because another process holds their lock. */
  readonly skipped: readonly string[];
}

export class Runner implements AsyncDisposable {
  readonly repo: RepoRef;
  readonly dataDir: string;
  readonly workspaces: Workspaces;
  readonly containers: Containers;
  readonly logger: Logger;
  readonly labels: Labels;
  readonly execTimeoutMs: number;
  readonly pool: Pool;
  readonly #specOverrides: SpecInput | undefined;
  readonly #gitInContainer: 'readonly' | 'none';
  #gitDir: Promise<string | undefined> | undefined;
  readonly #sessions = new Map<string, Session>();
  readonly #opening = new Map<string, Promise<Session>>();
  #closed = false;

  private constructor(opts: RunnerOptions, workspaces: Workspaces, client: Docker) {
    this.workspaces = workspaces;
    this.repo = { path: workspaces.repo, id: workspaces.repoId };
    this.dataDir = workspaces.dataDir;
    this.logger = opts.logger ?? silentLogger;
    this.containers = new Containers(client);
    this.labels = { ...(opts.labels ?? {}) };
    this.execTimeoutMs = opts.execTimeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    this.#specOverrides = opts.spec;
    this.#gitInContainer = opts.gitInContainer ?? 'readonly';
    this.pool = new Pool(this, opts.pool ?? {});
  }

  static async create(opts: RunnerOptions): Promise<Runner> {
    const logger = opts.logger ?? silentLogger;
    const workspaces = await Workspaces.open(opts.repo, { dataDir: resolveDataDir(opts.dataDir), logger });
    const client = opts.docker ?? sharedDocker();
    const runner = new Runner(opts, workspaces, client);
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

  /** The user shells run as: spec.user, else this process's uid:gid. */
  userFor(spec: ResolvedSpec): string {
    if (spec.user !== undefined) return spec.user;
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    return `${uid}:${gid}`;
  }

  /** Session open in this process, if any. */
  get(name: string): Session | undefined {
    const s = this.#sessions.get(name);
    return s && !s.closed ? s : undefined;
  }

  /** Open (create/resume) the session of workspace `name`; returns the open one if there is one. */
  async open(name: string, opts: OpenOptions = {}): Promise<Session> {
    this.#assertOpen();
    assertValidName(name);
    const live = this.get(name);
    if (live && !live.info().problem) return live;
    const inflight = this.#opening.get(name);
    if (inflight) return inflight;
    const p = this.#open(name, opts).finally(() => this.#opening.delete(name));
    this.#opening.set(name, p);
    return p;
  }

  async #open(name: string, opts: OpenOptions): Promise<Session> {
    const containerName = sessionContainerName(this.repo, name);
    return withLock(this.dataDir, containerName, { signal: opts.signal, logger: this.logger }, async () => {
      const rollback: (() => Promise<unknown>)[] = [];
      try {
        let ws = await this.workspaces.find(name, { signal: opts.signal });
        let createdWs = false;
        const resolved = await this.resolve();
        const spec = resolved.spec;
        const user = this.userFor(spec);
        const warnings: string[] = [];
        let containerId: string | undefined;
        let created: Omit<SessionCreated, 'workspace'> = { container: false, fromPool: false, resumed: false };

        let existing = await this.containers.inspect(containerName);
        if (existing && existing.labels[LABEL.repoId] !== this.repo.id) {
          throw new BerthError(
            'DOCKER_ERROR',
            `container name ${containerName} is taken by a container that berth did not create for this repository: remove it (docker rm -f ${containerName}) and retry`,
          );
        }
        if (!ws) {
          if (opts.create === false) {
            throw new BerthError('NOT_FOUND', `workspace ${JSON.stringify(name)} does not exist: create it first (berth ws create ${name}) or open with create`);
          }
          if (existing) {
            // A container without a workspace is an orphan of a deleted workspace: it mounts a
            // directory that no longer exists, so it cannot serve the new one.
            await this.#removeContainer(existing.id);
            existing = undefined;
          }
          const claimed: Claimed | undefined = await this.pool.claim(name, resolved);
          if (claimed) {
            rollback.push(() => this.pool.discard(claimed));
            containerId = claimed.containerId;
            created = { container: true, fromPool: true, resumed: false };
          }
          ws = (
            await this.workspaces.create(name, {
              ...(opts.base ? { base: opts.base } : {}),
              ...(claimed ? { worktreeDir: claimed.slotDir } : {}),
              ...(opts.signal ? { signal: opts.signal } : {}),
            })
          ).workspace;
          rollback.push(() => this.workspaces.delete(name).catch(() => undefined));
          createdWs = true;
          this.pool.refillSoon(resolved);
        }

        if (!containerId && existing) {
          const stale = existing.labels[LABEL.specHash] !== resolved.hash || existing.labels[LABEL.mountSource] !== ws.worktree;
          if (stale && (opts.recreate || existing.labels[LABEL.mountSource] !== ws.worktree)) {
            await this.#removeContainer(existing.id);
          } else {
            if (stale) {
              warnings.push(
                `container ${containerName} was built from an older spec (hash ${existing.labels[LABEL.specHash] ?? '?'}, now ${resolved.hash}); it is reused as is. Open with recreate to rebuild it (installed system packages are lost).`,
              );
            }
            containerId = existing.id;
            if (!existing.running) {
              await this.containers.start(existing.id);
              created = { ...created, resumed: true };
              rollback.push(() => this.containers.stop(existing!.id));
            }
          }
        }

        if (!containerId) {
          containerId = await this.#createContainer(name, containerName, ws, resolved, user);
          created = { container: true, fromPool: false, resumed: false };
          rollback.push(() => this.#removeContainer(containerId!));
          await this.containers.start(containerId);
        }

        const setup = await this.#prepare(containerId, spec, user, opts, created.fromPool);
        const session = new Session({
          name,
          containers: this.containers,
          containerId,
          containerName,
          workspace: ws,
          spec,
          specHash: resolved.hash,
          user,
          logger: this.logger,
          execTimeoutMs: this.execTimeoutMs,
          setup,
          created: { ...created, workspace: createdWs },
          warnings,
          stop: () => withLock(this.dataDir, containerName, { logger: this.logger }, () => this.containers.stop(containerId!)),
          touch: () => this.#touch(containerName),
          onExecDone: commandLogHook(this.dataDir, this.repo, name, this.logger),
          onClosed: (s) => {
            if (this.#sessions.get(name) === s) this.#sessions.delete(name);
          },
        });
        this.#sessions.set(name, session);
        await this.#touch(containerName).catch(() => undefined);
        this.logger.info('session open', { workspace: name, container: containerId.slice(0, 12), createdContainer: created.container, fromPool: created.fromPool, resumed: created.resumed, createdWorkspace: createdWs });
        return session;
      } catch (err) {
        for (const undo of rollback.reverse()) {
          await undo().catch((e: unknown) => this.logger.warn('rollback step failed', { workspace: name, error: String(e) }));
        }
        throw err;
      }
    });
  }

  async #prepare(containerId: string, spec: ResolvedSpec, user: string, opts: OpenOptions, fromPool: boolean): Promise<SetupReport> {
    const host = { containers: this.containers, containerId, user, workdir: spec.workdir, logger: this.logger };
    // A container just claimed from the warm pool of this spec hash had its state dirs made and
    // its setup run during warm-up (the pool keeps only containers whose warm-up succeeded, and
    // nothing there depends on the workspace): each docker exec costs tens of ms, so at claim
    // only install is left, and nothing at all when the spec has no install commands. install is
    // not part of the spec hash, so it is decided by this spec, not by the pool's status marker.
    if (fromPool) {
      if (spec.install.length === 0) return { ran: false, ok: true, steps: [] };
      return runSetup(host, { setup: [], install: spec.install, timeoutMs: spec.stepTimeoutMs, signal: opts.signal, onOutput: opts.onOutput });
    }
    const status = await initContainer(host, this.chownPaths(spec));
    if (status === 'done') return { ran: false, ok: true, steps: [] };
    // A warm pool container already ran the image-level setup ("setup"): only install is left.
    const setup = status === 'setup' ? [] : spec.setup;
    return runSetup(host, {
      setup,
      install: spec.install,
      timeoutMs: spec.stepTimeoutMs,
      signal: opts.signal,
      onOutput: opts.onOutput,
    }).then((r) => ({ ...r, ran: setup.length + spec.install.length > 0 }));
  }

  /** Mountpoints handed to the session user at container init (volumes are created root-owned). */
  chownPaths(spec: ResolvedSpec): string[] {
    return spec.volumes.map((v) => v.path).concat(spec.caches.map((c) => c.path));
  }

  /** Environment every session container gets (the spec's env wins over these defaults). */
  containerEnv(_name: string | undefined, spec: ResolvedSpec, user: string): Record<string, string> {
    const env: Record<string, string> = {
      // Agents have no terminal: no pagers, no prompts.
      PAGER: 'cat',
      GIT_PAGER: 'cat',
      GIT_TERMINAL_PROMPT: '0',
      DEBIAN_FRONTEND: 'noninteractive',
    };
    // A uid with no passwd entry would get HOME=/, which tools can't write to.
    if (!isRootUser(user) && /^\d+(:\d+)?$/.test(user)) env.HOME = HOME_DIR;
    return { ...env, ...spec.env };
  }

  /**
   * The repository's common git dir (where a linked worktree's `.git` file points, via
   * .git/worktrees/<name>/commondir). Found by reading files: git itself runs only in src/workspace.
   */
  gitDir(): Promise<string | undefined> {
    this.#gitDir ??= (async () => {
      const dotgit = join(this.repo.path, '.git');
      const st = await stat(dotgit).catch(() => undefined);
      if (!st) return undefined;
      if (st.isDirectory()) return realpath(dotgit);
      // A `.git` file ("gitdir: PATH"): follow it, then its commondir.
      const m = /^gitdir:\s*(.+)$/m.exec(await readFile(dotgit, 'utf8'));
      if (!m?.[1]) return undefined;
      const gitdir = isAbsolute(m[1].trim()) ? m[1].trim() : resolvePath(this.repo.path, m[1].trim());
      const common = await readFile(join(gitdir, 'commondir'), 'utf8').then((c) => c.trim(), () => '.');
      return realpath(isAbsolute(common) ? common : resolvePath(gitdir, common)).catch(() => undefined);
    })();
    return this.#gitDir;
  }

  /**
   * Mounts of a session container: the worktree at the workdir, the repository's git dir read-only
   * at its own path (see gitInContainer), caches, per-workspace volumes.
   */
  async mountsFor(name: string | undefined, spec: ResolvedSpec, source: string): Promise<MountSpec[]> {
    const mounts: MountSpec[] = [{ type: 'bind', source, target: spec.workdir }];
    const gitDir = this.#gitInContainer === 'readonly' ? await this.gitDir() : undefined;
    // Only where it can't shadow the workdir or a top-level directory of the image.
    if (gitDir && gitDir.split('/').length > 2 && gitDir !== spec.workdir && !gitDir.startsWith(`${spec.workdir}/`) && !spec.workdir.startsWith(`${gitDir}/`)) {
      mounts.push({ type: 'bind', source: gitDir, target: gitDir, readOnly: true });
    }
    for (const c of spec.caches) {
      const vol = cacheVolumeName(this.repo, c.name);
      await this.containers.ensureVolume(vol, {
        ...buildLabels({ role: 'session', repo: this.repo, extra: this.labels }),
        [LABEL.volumeKind]: 'cache',
        [LABEL.volumeName]: c.name,
      });
      mounts.push({ type: 'volume', source: vol, target: c.path });
    }
    // Pool containers (no name yet) get no per-workspace volumes; pool.ts refuses such specs.
    for (const v of spec.volumes) {
      if (name === undefined) break;
      const vol = workspaceVolumeName(this.repo, name, v.name);
      await this.containers.ensureVolume(vol, {
        ...buildLabels({ role: 'session', repo: this.repo, workspace: name, extra: this.labels }),
        [LABEL.volumeKind]: 'workspace',
        [LABEL.volumeName]: v.name,
      });
      mounts.push({ type: 'volume', source: vol, target: v.path });
    }
    return mounts;
  }

  async #createContainer(name: string, containerName: string, ws: WorkspaceInfo, resolved: Resolved, user: string): Promise<string> {
    const spec = resolved.spec;
    await ensureImageRef(spec.image, { pull: spec.pull, build: spec.build && { spec: spec.build, root: this.repo.path }, onProgress: (line) => this.logger.warn(line) });
    try {
      return await this.containers.create({
        name: containerName,
        // A workspace checkpointed --with-container (or forked/restored from such a checkpoint)
        // starts from its snapshot, so what the agent installed survives a new container.
        image: await containerImageFor(this.containers.docker, ws, spec, this.logger),
        workdir: spec.workdir,
        user,
        env: this.containerEnv(name, spec, user),
        labels: buildLabels({
          role: 'session',
          repo: this.repo,
          workspace: name,
          specHash: resolved.hash,
          workdir: spec.workdir,
          user,
          mountSource: ws.worktree,
          extra: this.labels,
        }),
        mounts: await this.mountsFor(name, spec, ws.worktree),
        network: spec.network,
        cpus: spec.resources.cpus,
        memoryMb: spec.resources.memoryMb,
        pids: spec.resources.pids,
        hostname: hostnameFor(name),
      });
    } catch (err) {
      if (err instanceof BerthError && err.details?.statusCode === 409) {
        throw new BerthError(
          'DOCKER_ERROR',
          `container ${containerName} was created concurrently by a process that does not hold berth's lock: retry`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  async #removeContainer(id: string): Promise<void> {
    await this.containers.remove(id);
  }

  /** Remove the container and per-workspace volumes of `name` (not the workspace itself). */
  async #removeWorkspaceResources(name: string, containerIdOrName?: string, keepVolumes = false): Promise<{ containers: string[]; volumes: string[] }> {
    const removed = { containers: [] as string[], volumes: [] as string[] };
    const s = this.#sessions.get(name);
    if (s) await s.detach();
    const containerName = sessionContainerName(this.repo, name);
    if (await this.containers.remove(containerIdOrName ?? containerName)) removed.containers.push(containerName);
    const vols = keepVolumes ? [] : await this.containers.listVolumes(labelFilter({ repo: this.repo, workspace: name }));
    for (const v of vols) {
      if (v.labels[LABEL.volumeKind] !== 'workspace') continue;
      if (await this.containers.removeVolume(v.name)) removed.volumes.push(v.name);
    }
    return removed;
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
    const st = await this.containers.inspect(sessionContainerName(this.repo, name));
    if (!st || !st.running) return false;
    await withLock(this.dataDir, sessionContainerName(this.repo, name), { logger: this.logger }, () => this.containers.stop(st.id));
    return true;
  }

  /** Remove the container (and per-workspace volumes) of `name`, keeping the workspace. */
  async removeContainer(name: string): Promise<{ containers: string[]; volumes: string[] }> {
    assertValidName(name);
    return withLock(this.dataDir, sessionContainerName(this.repo, name), { logger: this.logger }, () => this.#removeWorkspaceResources(name));
  }

  /** Delete the workspace (branch, worktree, note) and everything the runner made for it. */
  /** Commit the worktree (and, withContainer, snapshot the container); recorded in the workspace state. */
  checkpoint(name: string, opts: CheckpointOptions): Promise<CheckpointOutcome> {
    return checkpointWorkspace(this, name, opts);
  }

  async delete(name: string, opts: { keepVolumes?: boolean } = {}): Promise<{ containers: string[]; volumes: string[]; warnings: readonly string[] }> {
    assertValidName(name);
    let removed = { containers: [] as string[], volumes: [] as string[] };
    let worktree: string | undefined;
    const res = await withLock(this.dataDir, sessionContainerName(this.repo, name), { logger: this.logger }, () =>
      this.workspaces.delete(name, {
        beforeRemove: async (info) => {
          worktree = info.worktree;
          removed = await this.#removeWorkspaceResources(name, undefined, opts.keepVolumes);
          await removePersistedState(info, { dataDir: this.dataDir, repo: this.repo, client: this.containers.docker, keepVolumes: opts.keepVolumes ?? false, logger: this.logger });
        },
      }),
    );
    // A pooled workspace's worktree was a pool slot: the library empties it but keeps the
    // directory (it did not create it); nothing mounts it any more, so drop it (only if empty).
    const poolDir = await realpath(this.pool.dir()).catch(() => this.pool.dir());
    if (worktree && worktree.startsWith(`${poolDir}/`)) await rmdir(worktree).catch(() => undefined);
    return { ...removed, warnings: res.warnings };
  }

  /** Sessions of this repository as Docker sees them (containers by label), open or not. */
  async list(): Promise<SessionSummary[]> {
    const [rows, workspaces] = await Promise.all([
      this.containers.list(labelFilter({ repo: this.repo })),
      this.workspaces.list(),
    ]);
    const names = new Set(workspaces.map((w) => w.name));
    const out: SessionSummary[] = [];
    for (const r of rows) {
      const ws = workspaceFromContainerName(this.repo, r.name);
      if (!ws) continue; // unclaimed pool containers
      out.push({
        name: ws,
        containerId: r.id,
        containerName: r.name,
        state: r.state,
        specHash: r.labels[LABEL.specHash] ?? null,
        open: Boolean(this.get(ws)),
        workspaceExists: names.has(ws),
      });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Remove containers and per-workspace volumes whose workspace no longer exists, and stop session
   * containers idle for longer than spec.idleTimeoutMs (activity is a file per container in the
   * data dir, touched by whichever runner process uses it). Each action takes the workspace's
   * lock without waiting, so a concurrent open (which holds it) is never raced.
   */
  async gc(): Promise<GcReport> {
    const removedContainers: string[] = [];
    const removedVolumes: string[] = [];
    const stoppedIdle: string[] = [];
    const skipped: string[] = [];
    const names = new Set((await this.workspaces.list()).map((w) => w.name));
    const sessions = await this.list();
    for (const s of sessions) {
      if (s.workspaceExists) continue;
      const r = await this.#tryLocked(s.containerName, () => this.#removeWorkspaceResources(s.name, s.containerId));
      if (r) removedContainers.push(...r.containers), removedVolumes.push(...r.volumes);
      else skipped.push(s.containerName);
    }
    const vols = await this.containers.listVolumes(labelFilter({ repo: this.repo }));
    for (const v of vols) {
      const ws = v.labels[LABEL.workspace];
      if (v.labels[LABEL.volumeKind] !== 'workspace' || !ws || names.has(ws) || (await isVolumeKept(this.dataDir, v.name))) continue;
      const r = await this.#tryLocked(sessionContainerName(this.repo, ws), () => this.containers.removeVolume(v.name));
      if (r) removedVolumes.push(v.name);
    }
    const resolvedForGc = await this.resolve().catch(() => undefined);
    const pooled = await this.pool.gc(resolvedForGc).catch((err: unknown) => {
      this.logger.warn('warm pool gc failed', { error: String(err) });
      return [] as string[];
    });
    removedContainers.push(...pooled);
    const idleMs = resolvedForGc?.spec.idleTimeoutMs;
    if (idleMs && idleMs > 0) {
      for (const s of sessions) {
        if (!s.workspaceExists || s.open || s.state !== 'running') continue;
        const since = await this.#lastActive(s.containerName, s.containerId);
        if (since === undefined || Date.now() - since < idleMs) continue;
        const r = await this.#tryLocked(s.containerName, async () => {
          await this.containers.stop(s.containerId);
          return true;
        });
        if (r) stoppedIdle.push(s.containerName);
      }
    }
    return { removedContainers, removedVolumes, stoppedIdle, skipped };
  }

  #activityPath(containerName: string): string {
    return join(this.dataDir, 'activity', containerName);
  }

  async #touch(containerName: string): Promise<void> {
    const p = this.#activityPath(containerName);
    const now = new Date();
    try {
      await utimes(p, now, now);
    } catch {
      await mkdir(join(this.dataDir, 'activity'), { recursive: true });
      await writeFile(p, '');
    }
  }

  /** Last activity: the activity file's mtime, or when the container was started. */
  async #lastActive(containerName: string, id: string): Promise<number | undefined> {
    const touched = await stat(this.#activityPath(containerName)).then((st) => st.mtimeMs, () => 0);
    const st = await this.containers.inspect(id);
    if (!st) return undefined;
    return Math.max(touched, Date.parse(st.startedAt) || 0);
  }

  async #tryLocked<T>(key: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await withLock(this.dataDir, key, { timeoutMs: 0, logger: this.logger }, fn);
    } catch (err) {
      if (err instanceof BerthError && err.code === 'LOCK_TIMEOUT') return undefined;
      throw err;
    }
  }

  /** Warm pool status for the current spec. */
  async poolStatus(): Promise<PoolStatus> {
    return this.pool.status(await this.resolve());
  }

  /** Fill the warm pool for the current spec up to `size` (default: its target); returns names created. */
  async warmPool(opts: { size?: number; signal?: AbortSignal } = {}): Promise<string[]> {
    this.#assertOpen();
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
    await this.workspaces.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new BerthError('SESSION_CLOSED', 'this runner is closed: create a new one');
  }

}

/** Workspace names allow '_' and '.', hostnames don't: map to a valid label (max 63). */
function hostnameFor(name: string): string {
  const h = name.replace(/[^a-z0-9-]/g, '-').replace(/^-+/, '').slice(0, 63).replace(/-+$/, '');
  return h || 'berth';
}

/**
 * Remove the containers and per-workspace volumes of a workspace, found by labels and name only
 * (no Runner needed): the `beforeRemove` hook of `berth ws delete`/`prune`, which already hold the
 * repository lock.
 */
export async function removeWorkspaceResources(
  info: Pick<WorkspaceInfo, 'name' | 'repo'>,
  client: Docker = sharedDocker(),
  opts: { keepVolumes?: boolean } = {},
): Promise<{ containers: string[]; volumes: string[] }> {
  const c = new Containers(client);
  const filter = { label: [`${LABEL.managed}=1`, `${LABEL.repo}=${info.repo}`] };
  const out = { containers: [] as string[], volumes: [] as string[] };
  for (const row of await c.list(filter)) {
    const id = row.labels[LABEL.repoId];
    if (!id || workspaceFromContainerName({ path: info.repo, id }, row.name) !== info.name) continue;
    if (await c.remove(row.id)) out.containers.push(row.name);
  }
  for (const v of opts.keepVolumes ? [] : await c.listVolumes({ label: [...filter.label, `${LABEL.workspace}=${info.name}`] })) {
    if (v.labels[LABEL.volumeKind] === 'workspace' && (await c.removeVolume(v.name))) out.volumes.push(v.name);
  }
  return out;
}

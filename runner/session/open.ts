/**
 * Runner.open, step by step, under the workspace's cross-process lock (lock.ts):
 *   1. find the workspace, or create it (taking a warm pool container when one is ready),
 *   2. reuse its container (starting a stopped one keeps its writable layer), or replace one that
 *      can't serve it (another worktree, another user, or --recreate on a stale spec),
 *   3. or create a new container,
 *   4. hand the worktree to the session user (identity.ts),
 *   5. prepare berth's state dir and run setup (root) + install (user) once per container.
 * Anything this open created is removed again if a later step fails.
 */
import { chmod, stat } from 'node:fs/promises';
import { withImageFallback, type Resolved } from '../../src/project/index.js';
import type { WorkspaceInfo } from '../../src/workspace/index.js';
import type { Workspaces } from '../../src/workspace/index.js';
import type { Containers } from '../../docker/index.js';
import { LABEL, sessionContainerName, type RepoRef } from '../../docker/index.js';
import { BerthError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import type { ContainerFactory } from './container-factory.js';
import { handWorktreeTo, hostIsRoot, numericOwner, type Owner } from './identity.js';
import type { Claimed } from './pool.js';
import type { StreamName } from './output.js';
import { runInitialize, runLifecycle } from './lifecycle.js';
import { initContainer, isRootUser, runSetup } from './setup.js';
import { finishDeps, readyDeps, type SessionDeps } from './deps.js';
import type { SessionCreated } from './session.js';
import type { SetupReport } from './types.js';
import { ensureRemoteTree } from './remote.js';
import { removeRemoteVolumes } from '../../docker/index.js';

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
  /** A devcontainer image that can't be pulled or built is an error instead of a fallback (--strict-image; default BERTH_STRICT_IMAGE). */
  readonly strictImage?: boolean;
  /** A failing devcontainer lifecycle command fails the open (--strict-lifecycle). */
  readonly strictLifecycle?: boolean;
  /** Run devcontainer.json's initializeCommand on the host (--allow-host-commands). */
  readonly allowHostCommands?: boolean;
}

/** What opening needs from its Runner. */
export interface OpenHost {
  readonly repo: RepoRef;
  readonly workspaces: Workspaces;
  readonly containers: Containers;
  readonly logger: Logger;
  readonly factory: ContainerFactory;
  readonly pool: {
    claim(name: string, resolved: Resolved): Promise<Claimed | undefined>;
    discard(claimed: Claimed): Promise<void>;
    refillSoon(resolved: Resolved): void;
  };
  resolve(): Promise<Resolved>;
  /** Engines: recorded in a workspace this open creates (its engine; engine-select.ts). */
  readonly createExtra?: Readonly<Record<string, unknown>>;
}

/** Everything a Session is built from. */
export interface Opened {
  readonly containerId: string;
  readonly containerName: string;
  readonly workspace: WorkspaceInfo;
  readonly resolved: Resolved;
  readonly user: string;
  readonly setup: SetupReport;
  readonly created: SessionCreated;
  readonly warnings: string[];
  /** The container run this open ends in: its StartedAt and Docker's OOMKilled flag at that time. */
  readonly run: { readonly startedAt: string; readonly oomKilled: boolean };
}

interface Ctx {
  readonly h: OpenHost;
  readonly name: string;
  readonly containerName: string;
  readonly opts: OpenOptions;
  readonly resolved: Resolved;
  readonly user: string;
  readonly rollback: (() => Promise<unknown>)[];
  readonly warnings: string[];
  ws: WorkspaceInfo | undefined;
  createdWs: boolean;
  containerId: string | undefined;
  created: Omit<SessionCreated, 'workspace'>;
  /** A claimed pool container's run, as inspected under its claim lock. */
  claimedRun?: Claimed['run'];
  /** Set when the install ran in a helper (or was a ready-deps hit) before the container was made. */
  deps?: SessionDeps | undefined;
}

/** Open workspace `name`'s container (the caller holds the workspace lock); rolls back on failure. */
export async function openContainer(h: OpenHost, name: string, opts: OpenOptions): Promise<Opened> {
  // Three independent reads (spec, git, Docker), side by side: each is ms on a warm open's path.
  const containerName = sessionContainerName(h.repo, name);
  const [raw, ws, own] = await Promise.all([h.resolve(), h.workspaces.find(name, { signal: opts.signal }), inspectOwn(h, containerName)]);
  // A devcontainer image that can't be had here falls back to the detected one (devcontainer-fallback.ts).
  const fallback = await withImageFallback(raw, (spec) => h.factory.ensureImage(spec), {
    strictImage: opts.strictImage,
    // The workspace's container already runs the fallback: don't wait for the registry again.
    usingFallback: async (fb) => !opts.recreate && own?.labels[LABEL.specHash] === fb.hash,
  });
  const resolved = fallback.resolved;
  const c: Ctx = {
    h,
    name,
    containerName,
    opts,
    resolved,
    user: h.factory.userFor(resolved.spec),
    rollback: [],
    warnings: [],
    ws,
    createdWs: false,
    containerId: undefined,
    created: { container: false, fromPool: false, resumed: false },
  };
  try {
    const existing = await ensureWorkspace(c, own);
    if (h.factory.remote) await ensureRemote(c);
    if (existing) await reuseExisting(c, existing);
    const newContainer = !c.containerId || c.created.fromPool;
    if (newContainer) await initialize(c);
    if (!c.containerId) await createContainer(c);
    // Said once, when the container they shape is made, not at every exec.
    if (newContainer) c.warnings.push(...(fallback.warning ? [fallback.warning] : []), ...(resolved.devcontainer?.warnings ?? []));
    await handOver(c);
    const setup = await lifecycle(c, await prepare(c));
    // A claimed pool container was inspected under its claim lock and nothing has run in it
    // since unless install or lifecycle commands did: then (only) it is inspected again.
    const ranSince = resolved.spec.install.length > 0 || (resolved.devcontainer?.lifecycle.length ?? 0) > 0;
    const st = c.claimedRun && !ranSince ? c.claimedRun : await h.containers.inspect(c.containerId!);
    const run = { startedAt: st?.startedAt ?? '', oomKilled: st?.oomKilled ?? false };
    return {
      containerId: c.containerId!,
      containerName: c.containerName,
      workspace: c.ws!,
      resolved,
      user: c.user,
      setup,
      created: { ...c.created, workspace: c.createdWs },
      warnings: c.warnings,
      run,
    };
  } catch (err) {
    for (const undo of c.rollback.reverse()) {
      await undo().catch((e: unknown) => h.logger.warn('rollback step failed', { workspace: name, error: String(e) }));
    }
    throw err;
  }
}

type Existing = NonNullable<Awaited<ReturnType<Containers['inspect']>>>;

/** The container under the workspace's name, refusing one that berth did not make for this repository. */
async function inspectOwn(h: OpenHost, containerName: string): Promise<Existing | undefined> {
  const existing = await h.containers.inspect(containerName);
  if (existing && existing.labels[LABEL.repoId] !== h.repo.id) {
    throw new BerthError(
      'DOCKER_ERROR',
      `container name ${containerName} is taken by a container that berth did not create for this repository: remove it (docker rm -f ${containerName}) and retry`,
    );
  }
  return existing;
}

/** Step 1: the workspace exists afterwards; returns the existing container still worth looking at. */
async function ensureWorkspace(c: Ctx, existing: Existing | undefined): Promise<Existing | undefined> {
  if (c.ws) return existing;
  if (c.opts.create === false) {
    throw new BerthError('NOT_FOUND', `workspace ${JSON.stringify(c.name)} does not exist: create it first (berth ws create ${c.name}) or open with create`);
  }
  // A container without a workspace is an orphan of a deleted workspace: it mounts a directory
  // that no longer exists, so it cannot serve the new one.
  if (existing) await c.h.containers.remove(existing.id);
  // Pool containers bind a host slot dir: a remote workspace never takes one (remote.ts). The
  // claim (Docker) runs side by side with the git reads and the root commit; create settles it
  // before it returns or throws, so the rollback below always knows what was claimed.
  const claiming = c.h.factory.remote ? Promise.resolve(undefined) : c.h.pool.claim(c.name, c.resolved);
  const slot = claiming.then((claimed) => {
    if (!claimed) return undefined;
    c.rollback.push(() => c.h.pool.discard(claimed));
    c.containerId = claimed.containerId;
    c.created = { container: true, fromPool: true, resumed: false };
    c.claimedRun = claimed.run;
    return { worktreeDir: claimed.slotDir, prepared: claimed.prepared };
  });
  const { signal, base } = c.opts;
  c.ws = (
    await c.h.workspaces.create(c.name, {
      ...(base ? { base } : {}),
      slot,
      // An open reports only the workspace, never create's warnings: the `git status` of the
      // user's whole checkout behind the "uncommitted changes" warning would only cost time.
      warnUncommitted: false,
      ...(signal ? { signal } : {}),
      ...(c.h.createExtra ? { extra: { ...c.h.createExtra } } : {}),
    })
  ).workspace;
  c.rollback.push(() => c.h.workspaces.delete(c.name).catch(() => undefined));
  c.createdWs = true;
  if (!c.h.factory.remote) c.h.pool.refillSoon(c.resolved);
  return undefined;
}

/** Step 1b, remote workspaces only: the volumes holding the tree, seeded from the branch if new. */
async function ensureRemote(c: Ctx): Promise<void> {
  const f = c.h.factory;
  const host = { repo: c.h.repo, containers: c.h.containers, workspaces: c.h.workspaces, labels: f.labels, logger: c.h.logger, remote: f.remote };
  if (await ensureRemoteTree(host, c.ws!, c.user, c.opts.signal)) {
    c.rollback.push(() => removeRemoteVolumes(c.h.containers.docker, c.h.repo, c.name));
  }
}

/** Step 2: reuse the workspace's container (starting it), or remove one that can't serve it. */
async function reuseExisting(c: Ctx, existing: Existing): Promise<void> {
  const specStale = existing.labels[LABEL.specHash] !== c.resolved.hash;
  // A container mounting another directory can't serve this worktree; one running as another
  // user (e.g. root, from before berth ran root sessions unprivileged) must not.
  const unusable = existing.labels[LABEL.mountSource] !== c.h.factory.mountSourceFor(c.ws!) || existing.labels[LABEL.user] !== c.user;
  if (unusable || (specStale && c.opts.recreate)) {
    if (existing.labels[LABEL.user] !== c.user)
      c.warnings.push(
        `container ${c.containerName} ran as ${existing.labels[LABEL.user] ?? '?'}, sessions now run as ${c.user}: it was replaced (installed system packages are lost)`,
      );
    await c.h.containers.remove(existing.id);
    return;
  }
  if (specStale) {
    c.warnings.push(
      `container ${c.containerName} was built from an older spec (hash ${existing.labels[LABEL.specHash] ?? '?'}, now ${c.resolved.hash}); it is reused as is. Open with recreate to rebuild it (installed system packages are lost).`,
    );
  }
  c.containerId = existing.id;
  if (!existing.running) {
    await c.h.containers.start(existing.id);
    c.created = { ...c.created, resumed: true };
    c.rollback.push(() => c.h.containers.stop(existing.id));
  }
}

/** Step 3: a new container for the workspace. */
async function createContainer(c: Ctx): Promise<void> {
  const { spec } = c.resolved;
  // The install runs first, in a helper on network.install; the container starts from its result.
  c.deps = await readyDeps(c.h.factory, c.ws!, spec, c.user, { timeoutMs: spec.stepTimeoutMs, signal: c.opts.signal, onOutput: c.opts.onOutput });
  for (const note of c.deps?.notes ?? []) c.h.logger.info(note, { workspace: c.name });
  const id = await c.h.factory.createSession(c.name, c.containerName, c.ws!, c.resolved, c.user, c.deps?.image);
  c.containerId = id;
  c.created = { container: true, fromPool: false, resumed: false };
  c.rollback.push(() => c.h.containers.remove(id));
  await c.h.containers.start(id);
}

/**
 * Step 4: the worktree belongs to the session user (identity.ts). The walk runs only when this
 * open started the container: no agent process can be running in it yet.
 */
async function handOver(c: Ctx): Promise<void> {
  // A remote workspace's tree was written as the session user by the seed (remote.ts).
  if (c.h.factory.remote) return;
  const worktree = c.ws!.worktree;
  if (!hostIsRoot() || isRootUser(c.user)) {
    // The session user is this process: the worktree only needs to be private.
    const st = await stat(worktree).catch(() => undefined);
    if (st && st.uid === process.getuid?.() && (st.mode & 0o777) !== 0o700) await chmod(worktree, 0o700);
    return;
  }
  // A container already running may have agent processes that could race the walk: it was
  // handed over when it was started.
  if (!c.created.container && !c.created.resumed) return;
  const owner = numericOwner(c.user) ?? (await ownerInContainer(c));
  const n = await handWorktreeTo(worktree, owner, c.h.logger);
  if (n > 0) c.h.logger.info('handed the worktree to the session user', { workspace: c.name, user: c.user, entries: n });
}

/** uid and gid of a named spec.user, as the image's passwd/group files define them. */
async function ownerInContainer(c: Ctx): Promise<Owner> {
  const r = await c.h.containers.runCapture(c.containerId!, {
    cmd: ['/bin/sh', '-c', 'id -u "$1" && id -g "$1"', 'berth-id', c.user.split(':')[0] ?? c.user],
    user: '0:0',
  });
  const [uid, gid] = r.stdout.trim().split(/\s+/).map(Number);
  if (r.exitCode !== 0 || !Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new BerthError(
      'SETUP_FAILED',
      `the session user ${JSON.stringify(c.user)} (spec.user) does not exist in image ${c.resolved.spec.image}: use a numeric "uid:gid" or a user the image defines`,
    );
  }
  const explicitGid = /^[^:]+:(\d+)$/.exec(c.user)?.[1];
  return { uid: uid!, gid: explicitGid !== undefined ? Number(explicitGid) : gid! };
}

/** devcontainer.json initializeCommand: on the host, before the container exists; only with consent. */
async function initialize(c: Ctx): Promise<void> {
  const dc = c.resolved.devcontainer;
  if (!dc?.initialize) return;
  const warning = await runInitialize(dc, {
    allow: c.opts.allowHostCommands ?? false,
    cwd: c.h.repo.path,
    timeoutMs: c.resolved.spec.stepTimeoutMs,
    signal: c.opts.signal,
    onOutput: c.opts.onOutput,
  });
  if (warning) c.warnings.push(warning);
}

/** Step 6: devcontainer.json lifecycle commands (lifecycle.ts); a failure is a warning unless strictLifecycle. */
async function lifecycle(c: Ctx, setup: SetupReport): Promise<SetupReport> {
  const dc = c.resolved.devcontainer;
  if (!dc || dc.lifecycle.length === 0) return setup;
  const { spec } = c.resolved;
  const host = { containers: c.h.containers, containerId: c.containerId!, user: c.user, workdir: spec.workdir, logger: c.h.logger };
  const r = await runLifecycle(host, {
    dc,
    network: spec.network,
    started: c.created.container || c.created.resumed,
    strict: c.opts.strictLifecycle ?? false,
    timeoutMs: spec.stepTimeoutMs,
    signal: c.opts.signal,
    onOutput: c.opts.onOutput,
  });
  c.warnings.push(...r.warnings);
  return r.records.length ? { ...setup, ran: true, lifecycle: r.records } : setup;
}

/** Step 5: state dirs, setup (root) and install (user), once per container. */
async function prepare(c: Ctx): Promise<SetupReport> {
  const { spec } = c.resolved;
  const host = { containers: c.h.containers, containerId: c.containerId!, user: c.user, workdir: spec.workdir, logger: c.h.logger };
  const run = { timeoutMs: spec.stepTimeoutMs, signal: c.opts.signal, onOutput: c.opts.onOutput };
  // A container just claimed from the warm pool of this spec hash had its state dirs made and
  // its setup run during warm-up (the pool keeps only containers whose warm-up succeeded, and
  // nothing there depends on the workspace): each docker exec costs tens of ms, so at claim
  // only install is left, and nothing at all when the spec has no install commands. install is
  // not part of the spec hash, so it is decided by this spec, not by the pool's status marker.
  if (c.created.fromPool) {
    if (spec.install.length === 0) return { ran: false, ok: true, steps: [] };
    return runSetup(host, { setup: [], install: spec.install, ...run });
  }
  if (c.deps) return finishDeps(host, c.deps, c.h.factory.chownPaths(spec));
  const status = await initContainer(host, c.h.factory.chownPaths(spec));
  if (status === 'done') return { ran: false, ok: true, steps: [] };
  // A warm pool container already ran the image-level setup ("setup"): only install is left.
  const setup = status === 'setup' ? [] : spec.setup;
  const r = await runSetup(host, { setup, install: spec.install, ...run });
  return { ...r, ran: setup.length + spec.install.length > 0 };
}

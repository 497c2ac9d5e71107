/**
 * Checkpoints with container state, forks and restores.
 *
 *  - checkpoint: commit the worktree (Workspaces.checkpoint) and, with `withContainer`, snapshot
 *    the container's filesystem with `docker commit` into a workspace-scoped tag
 *    (labels.ts checkpointImageRef). The snapshot becomes the workspace's `containerImage`: a
 *    NEW container of the workspace starts from it (containerImageFor, called by the runner when
 *    it creates a container), so packages the agent installed survive the container's removal.
 *  - fork: a new workspace whose branch starts at a checkpoint's commit and whose container starts
 *    from that checkpoint's snapshot, if it has one.
 *  - restore: reset the workspace's branch and worktree to a checkpoint. Nothing is lost: pending
 *    changes are committed first, the old head stays reachable under refs/berth/kept/<name>/…
 *    and is listed in the state's `restores`; the container is recreated from the checkpoint's
 *    snapshot when there is one.
 *
 * Each operation holds the workspace's container lock (lock.ts, as Runner.open does) and takes the
 * repository lock only around git mutations, in that order, the same as Runner.delete.
 */
import { EXTRA_ENGINE } from './engine-select.js';
import { BRANCH_REF_PREFIX, GitRepo } from '../../src/git/index.js';
import { assertValidName } from '../../src/workspace/index.js';
import type { ResolvedSpec } from '../../src/project/index.js';
import type { WorkspaceInfo } from '../../src/workspace/index.js';
import type { Docker } from '../../docker/index.js';
import type { Containers } from '../../docker/index.js';
import { buildLabels, checkpointImageRepo, LABEL, sessionContainerName, type Labels, type RepoRef } from '../../docker/index.js';
import { commitContainer, inspectImage, tagImage, removeImageTag } from '../../docker/index.js';
import { BerthError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import {
  EXTRA_CHECKPOINTS,
  EXTRA_CONTAINER_IMAGE,
  EXTRA_FORKED_FROM,
  EXTRA_RESTORES,
  MAX_RESTORE_RECORDS,
  firstLine,
  readCheckpoints,
  readContainerImage,
  readRestores,
  withCheckpoint,
  type CheckpointRecord,
  type ContainerImage,
  type ForkedFrom,
  type RestoreRecord,
} from './checkpoint-state.js';
import { withLock } from './lock.js';
import { KEPT_REF_PREFIX, resolveCheckpoint } from './checkpoint-refs.js';
import type { Session } from './session.js';
import type { Workspaces } from '../../src/workspace/index.js';
import { checkpointRemote, reseedRemote, type RemoteConfig } from './remote.js';

/** The parts of a Runner these operations use (a Runner satisfies it). */
export interface PersistenceHost {
  readonly workspaces: Workspaces;
  readonly containers: Containers;
  readonly repo: RepoRef;
  readonly dataDir: string;
  readonly labels: Labels;
  readonly logger: Logger;
  get(name: string): Session | undefined;
  /** Set for remote workspaces (remote.ts), with the session user their volumes belong to. */
  readonly remote?: RemoteConfig | undefined;
  remoteUser?(): Promise<string>;
  /** The host on workspace `name`'s own engine (its containers, local or remote): a Runner with several engines. */
  forWorkspace?(name: string): Promise<PersistenceHost>;
}

/** Engines: each operation runs against the engine the workspace lives on (engine-select.ts). */
async function onEngineOf(host: PersistenceHost, name: string): Promise<PersistenceHost> {
  return host.forWorkspace ? host.forWorkspace(name) : host;
}

// --- remote workspaces (remote.ts): the tree to commit lives in a volume, not the host worktree ---
async function commitTree(host: PersistenceHost, name: string, message: string, signal?: AbortSignal) {
  if (!host.remote) return host.workspaces.checkpoint(name, message, sig(signal));
  return checkpointRemote({ ...host, remote: host.remote }, name, message, await remoteUserOf(host), signal);
}

async function remoteUserOf(host: PersistenceHost): Promise<string> {
  if (!host.remoteUser) throw new BerthError('INTERNAL', 'a remote PersistenceHost must provide remoteUser()');
  return host.remoteUser();
}

export interface CheckpointOptions {
  readonly message: string;
  /** Also snapshot the container's filesystem (`docker commit`). Needs the workspace's container. */
  readonly withContainer?: boolean;
  readonly signal?: AbortSignal;
}

export interface CheckpointOutcome {
  readonly name: string;
  /** The new commit, or the unchanged head when there was nothing to commit. */
  readonly sha: string;
  readonly committed: boolean;
  readonly filesChanged: number;
  /** The container snapshot, with withContainer. */
  readonly image: { readonly ref: string; readonly id: string } | undefined;
  readonly record: CheckpointRecord;
}

function lockOpts(host: PersistenceHost, signal?: AbortSignal) {
  return { logger: host.logger, ...(signal ? { signal } : {}) };
}

function sig(signal?: AbortSignal): { signal?: AbortSignal } {
  return signal ? { signal } : {};
}

/** A tag under the workspace's checkpoint repository not used yet: `<sha12>`, else `<sha12>-2` … */
async function freeTag(client: Docker, repo: string, sha: string): Promise<string> {
  const base = sha.slice(0, 12);
  for (let i = 1; i < 1000; i++) {
    const tag = i === 1 ? base : `${base}-${i}`;
    if (!(await inspectImage(client, `${repo}:${tag}`))) return tag;
  }
  throw new BerthError('DOCKER_ERROR', `too many container snapshots of commit ${base} under ${repo}: remove old ones (docker rmi)`);
}

/** Commit the worktree and, with withContainer, snapshot the container. */
export async function checkpointWorkspace(host: PersistenceHost, name: string, opts: CheckpointOptions): Promise<CheckpointOutcome> {
  assertValidName(name);
  host = await onEngineOf(host, name);
  const containerName = sessionContainerName(host.repo, name);
  return withLock(host.dataDir, containerName, lockOpts(host, opts.signal), async () => {
    const info = await host.workspaces.get(name, sig(opts.signal));
    let st: Awaited<ReturnType<Containers['inspect']>>;
    if (opts.withContainer) {
      // Checked before committing, so a missing container leaves no half-made checkpoint.
      st = await host.containers.inspect(containerName);
      if (!st || st.labels[LABEL.repoId] !== host.repo.id) {
        throw new BerthError(
          'NOT_FOUND',
          `workspace ${JSON.stringify(name)} has no container to snapshot: open its session first (berth session open ${name}), or checkpoint without --with-container`,
          {
            details: { workspace: name },
          },
        );
      }
    }
    const res = await commitTree(host, name, opts.message, opts.signal);
    let image: { ref: string; id: string } | undefined;
    let record: CheckpointRecord = { sha: res.sha, message: firstLine(opts.message), at: new Date().toISOString() };
    const patch: Record<string, unknown> = {};
    if (st) {
      const client = host.containers.docker;
      const repo = checkpointImageRepo(host.repo, name);
      const tag = await freeTag(client, repo, res.sha);
      const labels: Labels = {
        ...buildLabels({ role: 'checkpoint', repo: host.repo, workspace: name, extra: host.labels }),
        [LABEL.checkpoint]: res.sha,
      };
      const id = await commitContainer(client, st.id, { repo, tag, labels, comment: `berth checkpoint ${res.sha.slice(0, 12)} of workspace ${name}` });
      image = { ref: `${repo}:${tag}`, id };
      // A container made from an earlier snapshot is still "based on" the spec image that
      // snapshot came from.
      const current = readContainerImage(info.extra);
      const baseImage = current && (st.image === current.ref || st.image === current.imageId) ? (current.baseImage ?? st.image) : st.image;
      record = { ...record, image: image.ref, imageId: id, baseImage };
      const ci: ContainerImage = { ref: image.ref, imageId: id, checkpoint: res.sha, baseImage };
      patch[EXTRA_CONTAINER_IMAGE] = ci;
    }
    patch[EXTRA_CHECKPOINTS] = withCheckpoint(readCheckpoints(info.extra), record);
    try {
      await host.workspaces.updateExtra(name, patch, sig(opts.signal));
    } catch (err) {
      if (image) await removeImageTag(host.containers.docker, image.ref).catch(() => undefined);
      throw err;
    }
    host.logger.info('checkpoint', { workspace: name, sha: res.sha.slice(0, 12), image: image?.ref });
    return { name, sha: res.sha, committed: res.committed, filesChanged: res.filesChanged, image, record };
  });
}

export interface ForkOptions {
  /** "latest" or a commit id prefix (see resolveCheckpoint). */
  readonly at: string;
  readonly signal?: AbortSignal;
}

export interface ForkOutcome {
  readonly workspace: WorkspaceInfo;
  readonly from: { readonly name: string; readonly sha: string };
  /** The snapshot the fork's container will start from, if the checkpoint had one. */
  readonly image: string | undefined;
  readonly warnings: readonly string[];
}

/** New workspace `target` starting at checkpoint `at` of `source` (its container too, if recorded). */
export async function forkWorkspace(host: PersistenceHost, source: string, target: string, opts: ForkOptions): Promise<ForkOutcome> {
  assertValidName(source);
  assertValidName(target);
  if (source === target) throw new BerthError('BAD_INPUT', `cannot fork ${JSON.stringify(source)} onto itself: pick a new name`);
  host = await onEngineOf(host, source); // the fork records the source's engine (its snapshot is there)
  return withLock(host.dataDir, sessionContainerName(host.repo, target), lockOpts(host, opts.signal), async () => {
    const src = await host.workspaces.get(source, sig(opts.signal));
    const cp = await resolveCheckpoint(host, src, opts.at, sig(opts.signal));
    const warnings: string[] = [];
    const client = host.containers.docker;
    let ci: ContainerImage | undefined;
    if (cp.record?.image) {
      const img = (cp.record.imageId && (await inspectImage(client, cp.record.imageId))) || (await inspectImage(client, cp.record.image));
      if (img) {
        const repo = checkpointImageRepo(host.repo, target);
        const tag = await freeTag(client, repo, cp.sha);
        await tagImage(client, img.id, repo, tag);
        ci = { ref: `${repo}:${tag}`, imageId: img.id, checkpoint: cp.sha, ...(cp.record.baseImage ? { baseImage: cp.record.baseImage } : {}) };
      } else {
        warnings.push(
          `the container snapshot ${cp.record.image} of checkpoint ${cp.sha.slice(0, 12)} is gone from Docker: the fork's container starts from the spec's image`,
        );
      }
    }
    const at = new Date().toISOString();
    const extra: Record<string, unknown> = { [EXTRA_FORKED_FROM]: { name: source, checkpoint: cp.sha, at } satisfies ForkedFrom };
    // Engines: a fork lives on its source's engine, where the snapshot image is (engine-select.ts).
    if (src.extra[EXTRA_ENGINE] !== undefined) extra[EXTRA_ENGINE] = src.extra[EXTRA_ENGINE];
    if (ci) {
      extra[EXTRA_CONTAINER_IMAGE] = ci;
      extra[EXTRA_CHECKPOINTS] = [
        {
          sha: cp.sha,
          message: firstLine(`fork of ${source} at ${cp.sha.slice(0, 12)}`),
          at,
          image: ci.ref,
          imageId: ci.imageId,
          ...(ci.baseImage ? { baseImage: ci.baseImage } : {}),
        },
      ];
    }
    try {
      const res = await host.workspaces.create(target, { base: cp.sha, extra, ...sig(opts.signal) });
      // A container left by an earlier workspace of this name would not start from the checkpoint.
      const stale = await host.containers.inspect(sessionContainerName(host.repo, target));
      if (stale && stale.labels[LABEL.repoId] === host.repo.id) await host.containers.remove(stale.id);
      return { workspace: res.workspace, from: { name: source, sha: cp.sha }, image: ci?.ref, warnings: [...warnings, ...res.warnings] };
    } catch (err) {
      if (ci) await removeImageTag(client, ci.ref).catch(() => undefined);
      throw err;
    }
  });
}

export interface RestoreOptions {
  readonly at: string;
  readonly signal?: AbortSignal;
}

export interface RestoreOutcome {
  readonly name: string;
  /** The checkpoint restored to (the new head). */
  readonly sha: string;
  /** The head before the restore (kept under `keptRef`). */
  readonly previousHead: string;
  /** Where the previous head is kept; undefined when the branch was already at the checkpoint. */
  readonly keptRef: string | undefined;
  /** A commit made of the worktree's pending changes before restoring, if there were any. */
  readonly savedPending: string | undefined;
  /** The container was removed so the next open starts from the checkpoint's snapshot. */
  readonly containerRecreated: boolean;
  readonly image: string | undefined;
}

/** Roll workspace `name` back (or forward) to a checkpoint. */
export async function restoreWorkspace(host: PersistenceHost, name: string, opts: RestoreOptions): Promise<RestoreOutcome> {
  assertValidName(name);
  host = await onEngineOf(host, name);
  const containerName = sessionContainerName(host.repo, name);
  return withLock(host.dataDir, containerName, lockOpts(host, opts.signal), async () => {
    const info = await host.workspaces.get(name, sig(opts.signal));
    const cp = await resolveCheckpoint(host, info, opts.at, sig(opts.signal));
    const client = host.containers.docker;
    const snapshot = cp.record?.image
      ? (cp.record.imageId && (await inspectImage(client, cp.record.imageId))) || (await inspectImage(client, cp.record.image))
      : undefined;
    if (cp.record?.image && !snapshot) {
      host.logger.warn('the checkpoint snapshot is gone from Docker; restoring the worktree only', { workspace: name, image: cp.record.image });
    }
    const git = await GitRepo.discover(host.repo.path, sig(opts.signal));
    // Remote: the volume's pending work reaches the host branch first (kept like local pending work).
    const remotePending = host.remote
      ? await commitTree(host, name, `berth: pending changes before restoring to ${cp.sha.slice(0, 12)}`, opts.signal)
      : undefined;
    const { previousHead, savedPending, keptRef } = await host.workspaces.withLock(async () => {
      const now = await host.workspaces.get(name, sig(opts.signal));
      let savedPending: string | undefined;
      if (now.dirty) {
        const c = await host.workspaces.checkpoint(name, `berth: pending changes before restoring to ${cp.sha.slice(0, 12)}`, sig(opts.signal));
        if (c.committed) savedPending = c.sha;
      }
      const head = (await host.workspaces.get(name, sig(opts.signal))).head;
      const gitDir = await git.worktreeGitDir(now.worktree);
      if (!gitDir) {
        throw new BerthError('NOT_FOUND', `the worktree of workspace ${JSON.stringify(name)} (${now.worktree}) is missing: nothing to restore into`, {
          details: { workspace: name },
        });
      }
      const wt = { cwd: now.worktree, env: { GIT_DIR: gitDir, GIT_WORK_TREE: now.worktree } };
      const branch = (await git.run(['symbolic-ref', '--quiet', 'HEAD'], { ...wt, ok: [0, 1], signal: opts.signal })).stdout.toString('utf8').trim();
      if (branch !== `${BRANCH_REF_PREFIX}${name}`) {
        throw new BerthError(
          'BAD_INPUT',
          `the worktree of ${JSON.stringify(name)} has ${branch ? JSON.stringify(branch) : 'a detached HEAD'} checked out instead of berth/${name}: run \`git switch berth/${name}\` in ${now.worktree} and retry`,
        );
      }
      const keptRef = head === cp.sha ? undefined : `${KEPT_REF_PREFIX}${name}/${Date.now()}`;
      if (keptRef) await git.run(['update-ref', keptRef, head], { cwd: git.root, signal: opts.signal });
      try {
        // reset --hard moves berth/<name> (HEAD is symbolic to it) and the index and files;
        // clean -d removes files the checkpoint does not have (ignored ones stay: -x is not given).
        await git.run(['reset', '--hard', '--quiet', cp.sha], { ...wt, signal: opts.signal });
        await git.run(['clean', '-d', '--force', '--quiet'], { ...wt, signal: opts.signal });
      } catch (err) {
        host.logger.warn('restore failed mid-way; the previous head is kept', { workspace: name, keptRef, head });
        throw err;
      }
      const patch: Record<string, unknown> = {};
      if (keptRef) {
        const rec: RestoreRecord = { from: head, to: cp.sha, at: new Date().toISOString(), keptRef };
        patch[EXTRA_RESTORES] = [...readRestores(now.extra), rec].slice(-MAX_RESTORE_RECORDS);
      }
      if (snapshot && cp.record?.image) {
        const ci: ContainerImage = {
          ref: cp.record.image,
          imageId: snapshot.id,
          checkpoint: cp.sha,
          ...(cp.record.baseImage ? { baseImage: cp.record.baseImage } : {}),
        };
        patch[EXTRA_CONTAINER_IMAGE] = ci;
      }
      await host.workspaces.updateExtra(name, patch, sig(opts.signal));
      return { previousHead: head, savedPending: savedPending ?? (remotePending?.committed ? remotePending.sha : undefined), keptRef };
    }, sig(opts.signal));
    if (host.remote) await reseedRemote({ ...host, remote: host.remote }, name, await remoteUserOf(host), opts.signal);
    let containerRecreated = false;
    if (snapshot) {
      // The next open creates the container from the snapshot; shells attached here are stale.
      await host.get(name)?.detach();
      const st = await host.containers.inspect(containerName);
      if (st && st.labels[LABEL.repoId] === host.repo.id) containerRecreated = await host.containers.remove(st.id);
      else containerRecreated = true;
    }
    host.logger.info('restore', { workspace: name, to: cp.sha.slice(0, 12), from: previousHead.slice(0, 12), keptRef });
    return { name, sha: cp.sha, previousHead, keptRef, savedPending, containerRecreated, image: snapshot ? cp.record?.image : undefined };
  });
}

/**
 * The image a NEW container of workspace `ws` is created from: its recorded snapshot when that
 * still exists in Docker and was built on the spec's current image, else the spec's image. The
 * runner calls this when it creates a session container; a warm-pool container (always the spec
 * image) must not be used for a workspace for which this returns a snapshot.
 */
export async function containerImageFor(
  client: Docker,
  ws: Pick<WorkspaceInfo, 'name' | 'extra'>,
  spec: Pick<ResolvedSpec, 'image'>,
  logger?: Logger,
): Promise<string> {
  const ci = readContainerImage(ws.extra);
  if (!ci) return spec.image;
  if (ci.baseImage !== undefined && ci.baseImage !== spec.image) {
    logger?.warn('the workspace has a container snapshot built on another image than the spec now names; using the spec image', {
      workspace: ws.name,
      snapshot: ci.ref,
      snapshotBase: ci.baseImage,
      specImage: spec.image,
    });
    return spec.image;
  }
  const byRef = await inspectImage(client, ci.ref);
  if (byRef && (ci.imageId === undefined || byRef.id === ci.imageId)) return ci.ref;
  // The tag was moved or removed: the snapshot itself is addressed by its content id.
  if (ci.imageId && (await inspectImage(client, ci.imageId))) return ci.imageId;
  logger?.warn('the workspace container snapshot is gone from Docker; using the spec image', { workspace: ws.name, snapshot: ci.ref });
  return spec.image;
}

/** Recorded checkpoints of a workspace, oldest first, with whether each snapshot still exists. */
export async function listCheckpoints(
  host: Pick<PersistenceHost, 'containers'>,
  info: WorkspaceInfo,
): Promise<(CheckpointRecord & { imagePresent: boolean | undefined })[]> {
  const out: (CheckpointRecord & { imagePresent: boolean | undefined })[] = [];
  for (const r of readCheckpoints(info.extra)) {
    out.push({ ...r, imagePresent: r.image ? Boolean(await inspectImage(host.containers.docker, r.imageId ?? r.image)) : undefined });
  }
  return out;
}

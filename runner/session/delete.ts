/**
 * THE delete path of a workspace: its container, per-workspace volumes, snapshots, kept heads and
 * command log, then the workspace itself (branch, worktree, note), under the workspace's lock.
 * `Runner.delete`, the MCP tool and `berth ws delete` all end here.
 */
import { realpath, rmdir } from 'node:fs/promises';
import { assertValidName } from '../../src/workspace/index.js';
import type { WorkspaceInfo } from '../../src/workspace/index.js';
import type { Workspaces } from '../../src/workspace/index.js';
import { docker as sharedDocker, type Docker } from '../../docker/index.js';
import { Containers, REMOTE_VOLUME_KIND, removeRemoteVolumes, removeWorkspaceDepsImages } from '../../docker/index.js';
import { LABEL, labelFilter, sessionContainerName, workspaceFromContainerName, type RepoRef } from '../../docker/index.js';
import type { Logger } from '../../src/log.js';
import { withLock } from './lock.js';
import { removePersistedState } from './workspace-resources.js';

export interface Removed {
  containers: string[];
  volumes: string[];
}

/** What removing a workspace's resources needs. */
export interface ResourceHost {
  readonly repo: RepoRef;
  readonly containers: Containers;
}

/** What deleting a workspace needs from its Runner. */
export interface DeleteHost extends ResourceHost {
  readonly dataDir: string;
  readonly workspaces: Workspaces;
  readonly logger: Logger;
  /** Let go of the session of `name` if this process has it open (its container is about to go). */
  detach(name: string): Promise<void>;
  /** The warm pool's slot directory (a pooled workspace's worktree lives in one). */
  poolDir(): string;
}

/** Remove the container (by its deterministic name, or `containerId`) and per-workspace volumes of `name`. */
export async function removeWorkspaceContainer(h: ResourceHost, name: string, opts: { containerId?: string; keepVolumes?: boolean } = {}): Promise<Removed> {
  const removed: Removed = { containers: [], volumes: [] };
  const containerName = sessionContainerName(h.repo, name);
  if (await h.containers.remove(opts.containerId ?? containerName)) removed.containers.push(containerName);
  // The workspace's own install snapshot (an install that is not cacheable: runner/session/deps.ts).
  await removeWorkspaceDepsImages(h.containers.docker, h.repo.path, name);
  if (opts.keepVolumes) return removed;
  for (const v of await h.containers.listVolumes(labelFilter({ repo: h.repo, workspace: name }))) {
    if (v.labels[LABEL.volumeKind] !== 'workspace') continue;
    if (await h.containers.removeVolume(v.name)) removed.volumes.push(v.name);
  }
  return removed;
}

/** Delete the workspace (branch, worktree, note) and everything the runner made for it. */
export async function deleteWorkspace(h: DeleteHost, name: string, opts: { keepVolumes?: boolean } = {}): Promise<Removed & { warnings: readonly string[] }> {
  assertValidName(name);
  let removed: Removed = { containers: [], volumes: [] };
  let worktree: string | undefined;
  const res = await withLock(h.dataDir, sessionContainerName(h.repo, name), { logger: h.logger }, () =>
    h.workspaces.delete(name, {
      beforeRemove: async (info) => {
        worktree = info.worktree;
        await h.detach(name);
        removed = await removeWorkspaceContainer(h, name, { keepVolumes: opts.keepVolumes ?? false });
        // A remote workspace's tree volumes are the workspace itself: they go with its branch.
        removed.volumes.push(...(await removeRemoteVolumes(h.containers.docker, h.repo, name)));
        // After the container: a snapshot still used by a container cannot be untagged.
        await removePersistedState(info, {
          dataDir: h.dataDir,
          repo: h.repo,
          client: h.containers.docker,
          keepVolumes: opts.keepVolumes ?? false,
          logger: h.logger,
        });
      },
    }),
  );
  // A pooled workspace's worktree was a pool slot: the library empties it but keeps the
  // directory (it did not create it); nothing mounts it any more, so drop it (only if empty).
  const poolDir = await realpath(h.poolDir()).catch(() => h.poolDir());
  if (worktree && worktree.startsWith(`${poolDir}/`)) await rmdir(worktree).catch(() => undefined);
  return { ...removed, warnings: res.warnings };
}

/**
 * Remove the containers and per-workspace volumes of a workspace, found by labels and name only
 * (no Runner needed): the `beforeRemove` hook of `berth ws prune`, which already holds the
 * repository lock.
 */
export async function removeWorkspaceResources(
  info: Pick<WorkspaceInfo, 'name' | 'repo'>,
  client: Docker = sharedDocker(),
  opts: { keepVolumes?: boolean } = {},
): Promise<Removed> {
  const c = new Containers(client);
  const filter = { label: [`${LABEL.managed}=1`, `${LABEL.repo}=${info.repo}`] };
  const out: Removed = { containers: [], volumes: [] };
  for (const row of await c.list(filter)) {
    const id = row.labels[LABEL.repoId];
    if (!id || workspaceFromContainerName({ path: info.repo, id }, row.name) !== info.name) continue;
    if (await c.remove(row.id)) out.containers.push(row.name);
  }
  // The workspace's own install snapshot (an install that is not cacheable: runner/session/deps.ts).
  await removeWorkspaceDepsImages(client, info.repo, info.name);
  for (const v of opts.keepVolumes ? [] : await c.listVolumes({ label: [...filter.label, `${LABEL.workspace}=${info.name}`] })) {
    const kind = v.labels[LABEL.volumeKind];
    if ((kind === 'workspace' || kind === REMOTE_VOLUME_KIND) && (await c.removeVolume(v.name))) out.volumes.push(v.name);
  }
  return out;
}

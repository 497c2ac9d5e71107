/**
 * What a workspace owns besides its branch, worktree and container: named volumes, container
 * snapshots (checkpoint images), heads kept by restores and the command log. Listing them, and
 * removing them with the workspace.
 *
 * Kept volumes: `delete --keep-volumes` leaves the workspace's volumes in Docker. Their labels
 * cannot change, so the runner's gc (which reaps volumes of deleted workspaces) is told about them
 * by a marker file per volume under <dataDir>/kept-volumes/. A workspace created later under the
 * same name mounts them again (volume names are deterministic); deleting that one without
 * --keep-volumes removes them and the markers.
 */
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dataDir as resolveDataDir } from '../../src/data-dir.js';
import type { ResolvedSpec } from '../../src/project/index.js';
import { assertValidName } from '../../src/workspace/index.js';
import type { WorkspaceInfo } from '../../src/workspace/index.js';
import { Workspaces } from '../../src/workspace/index.js';
import { docker as sharedDocker, type Docker } from '../../docker/index.js';
import { checkpointImageRepo, namePart, type RepoRef } from '../../docker/index.js';
import { listRepoTags, removeImageTag } from '../../docker/index.js';
import { listWorkspaceVolumes, type WorkspaceVolume } from '../../docker/index.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { removeKeptRefs } from './checkpoint-refs.js';
import { commandLogPath, removeCommandLog } from './command-log.js';

function keptDir(dataDir: string): string {
  return join(dataDir, 'kept-volumes');
}

/** True when `delete --keep-volumes` left this Docker volume for later (gc must not reap it). */
export async function isVolumeKept(dataDir: string, volume: string): Promise<boolean> {
  try {
    return (await stat(join(keptDir(dataDir), namePart(volume)))).isFile();
  } catch {
    return false;
  }
}

async function markKept(dataDir: string, repo: RepoRef, workspace: string, volumes: readonly string[]): Promise<void> {
  if (volumes.length === 0) return;
  await mkdir(keptDir(dataDir), { recursive: true });
  const body = `${JSON.stringify({ repoId: repo.id, workspace, at: new Date().toISOString() })}\n`;
  for (const v of volumes) await writeFile(join(keptDir(dataDir), namePart(v)), body);
}

/** Drop the keep markers of a workspace's volumes (read from the markers: the volumes may be gone). */
async function unmarkKept(dataDir: string, repo: RepoRef, workspace: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(keptDir(dataDir));
  } catch {
    return;
  }
  for (const n of names) {
    const p = join(keptDir(dataDir), n);
    try {
      const m = JSON.parse(await readFile(p, 'utf8')) as { repoId?: unknown; workspace?: unknown };
      if (m.repoId === repo.id && m.workspace === workspace) await rm(p, { force: true });
    } catch {
      continue;
    }
  }
}

export interface VolumeInfo extends WorkspaceVolume {
  /** Mount path in the session container, when the current spec still declares the volume. */
  readonly path: string | undefined;
  /** Left behind by `delete --keep-volumes` (gc keeps it). */
  readonly kept: boolean;
}

/**
 * The named volumes Docker has for workspace `name` (created on the session's first open), with
 * their mount paths from `spec` when given. Works for a deleted workspace whose volumes were kept.
 */
export async function workspaceVolumes(
  host: { readonly repo: RepoRef; readonly dataDir: string; readonly containers: { readonly docker: Docker } },
  name: string,
  spec?: Pick<ResolvedSpec, 'volumes'>,
): Promise<VolumeInfo[]> {
  assertValidName(name);
  const vols = await listWorkspaceVolumes(host.containers.docker, host.repo, name);
  return Promise.all(
    vols.map(async (v) => ({ ...v, path: spec?.volumes.find((s) => s.name === v.name)?.path, kept: await isVolumeKept(host.dataDir, v.volume) })),
  );
}

/** "Does workspace `name` have volume `volume`?" (the berth.yaml name, e.g. "data"). */
export async function hasVolume(
  host: { readonly repo: RepoRef; readonly containers: { readonly docker: Docker } },
  name: string,
  volume: string,
): Promise<boolean> {
  assertValidName(name);
  return (await listWorkspaceVolumes(host.containers.docker, host.repo, name)).some((v) => v.name === volume);
}

export interface PersistedStateRemoval {
  /** Checkpoint image tags removed. */
  readonly images: readonly string[];
  readonly keptRefs: readonly string[];
  readonly commandLog: string;
  /** Volumes left in place because of keepVolumes. */
  readonly keptVolumes: readonly string[];
}

/**
 * Remove the snapshots, kept heads and command log of a workspace that is being deleted, and
 * either mark its volumes kept or drop earlier keep markers (the volumes themselves are removed
 * with its container: runner.ts removeWorkspaceResources). Runs inside `beforeRemove`, after the
 * container is gone (a snapshot a container still uses cannot be untagged).
 */
export async function removePersistedState(
  info: Pick<WorkspaceInfo, 'name' | 'repo'>,
  opts: { dataDir?: string; repo?: RepoRef; client?: Docker; keepVolumes?: boolean; logger?: Logger } = {},
): Promise<PersistedStateRemoval> {
  const logger = opts.logger ?? silentLogger;
  const dataDir = resolveDataDir(opts.dataDir);
  const client = opts.client ?? sharedDocker();
  let repo = opts.repo;
  if (!repo) {
    const ws = await Workspaces.open(info.repo, { dataDir });
    repo = { path: ws.repo, id: ws.repoId };
    await ws.close();
  }
  const images: string[] = [];
  for (const tag of await listRepoTags(client, checkpointImageRepo(repo, info.name))) {
    if (await removeImageTag(client, tag)) images.push(tag);
    else logger.warn('a checkpoint image is still in use and was kept', { workspace: info.name, image: tag });
  }
  const keptRefs = await removeKeptRefs(repo.path, info.name);
  const log = commandLogPath(dataDir, repo, info.name);
  await removeCommandLog(log);
  const vols = opts.keepVolumes ? (await listWorkspaceVolumes(client, repo, info.name)).map((v) => v.volume) : [];
  if (opts.keepVolumes) await markKept(dataDir, repo, info.name, vols);
  else await unmarkKept(dataDir, repo, info.name);
  return { images, keptRefs, commandLog: log, keptVolumes: opts.keepVolumes ? vols : [] };
}

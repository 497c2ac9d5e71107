/**
 * Ready-deps snapshots: the filesystem of a container right after a successful install phase,
 * committed as an image `berth-deps/<scope>:<key>` (key: docker/deps-key.ts). A pipeline run or a
 * new session with the same key starts from that image and skips the install.
 *
 * Why a committed image rather than a volume snapshot (measured with bench/deps.ts on commander,
 * see the README): a container created from an image gets the dependencies through overlayfs
 * copy-on-write, at no cost per run and fully isolated (one container's writes never reach the
 * image or another container), while a volume has to be copied into every run or shared writable.
 * The install's files outside the workdir (pip's site-packages, a poetry venv) come along for free.
 * Go's and Cargo's downloads live in the shared package-cache volumes (a commit does not include
 * volumes), so their key also covers those volumes' creation time: a pruned cache misses.
 */
import { dockerStatus, translateDockerError, type Docker } from './client.js';
import { LABEL, RUNNER_VERSION, type Labels } from './labels.js';
import { commitContainer, inspectImage } from './snapshots.js';

export const DEPS_REPO = 'berth-deps';

/** Image repository of a scope's snapshots; Docker allows only [a-z0-9] runs joined by '-' here. */
export function depsImageRepo(scope: string): string {
  const c =
    scope
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 100) || 'x';
  return `${DEPS_REPO}/${c}`;
}

export function depsImageRef(scope: string, key: string): string {
  return `${depsImageRepo(scope)}:${key}`;
}

/** The snapshot for (scope, key) when the engine has it: its id. */
export async function findDepsImage(client: Docker, scope: string, key: string): Promise<string | undefined> {
  const info = await inspectImage(client, depsImageRef(scope, key));
  // Only berth's own snapshot under that name counts (a tag someone else put there does not).
  return info && info.labels[LABEL.role] === 'deps' && info.labels[LABEL.depsKey] === key ? info.id : undefined;
}

export interface SaveDeps {
  readonly scope: string;
  readonly key: string;
  readonly toolchain: string;
  readonly install: readonly string[];
  /** Set for a snapshot of one workspace (an install that is not cacheable): deleted with it. */
  readonly workspace?: string;
}

/**
 * Commit `containerId` as the snapshot of (scope, key). A concurrent run may have saved the same
 * key a moment before: the tag then moves to this commit and the one it replaced is removed, so
 * no untagged image is left behind (a container still using it keeps it).
 */
export async function saveDepsImage(client: Docker, containerId: string, s: SaveDeps): Promise<string> {
  const repo = depsImageRepo(s.scope);
  const before = await inspectImage(client, `${repo}:${s.key}`);
  const labels: Labels = {
    [LABEL.managed]: '1',
    [LABEL.role]: 'deps',
    [LABEL.runnerVersion]: RUNNER_VERSION,
    [LABEL.depsKey]: s.key,
    [LABEL.depsScope]: s.scope,
    [LABEL.toolchain]: s.toolchain,
    [LABEL.depsInstall]: s.install.join(' && ').slice(0, 500),
    // Labels of the run that made it would otherwise be merged in (daemon/commit.go merge()).
    [LABEL.pipelineRun]: '',
    [LABEL.pipelinePart]: '',
    [LABEL.owner]: '',
    [LABEL.workspace]: s.workspace ?? '',
  };
  const id = await commitContainer(client, containerId, { repo, tag: s.key, labels, comment: `berth ready deps ${s.key}` });
  if (before && before.id !== id)
    await client
      .getImage(before.id)
      .remove({ force: false })
      .catch(() => undefined);
  return id;
}

export interface DepsSnapshot {
  readonly kind: 'deps';
  /** repo:tag */
  readonly name: string;
  readonly key: string;
  readonly scope: string;
  readonly toolchain: string | undefined;
  readonly install: string;
  readonly createdAt: string;
  /** Bytes of its own layers (what removing it frees); -1 when the engine did not say. */
  readonly sizeBytes: number;
  /** Containers created from it (sessions): it is never pruned while any exist. */
  readonly inUse: number;
}

interface DfImage {
  Id: string;
  RepoTags?: string[] | null;
  Created?: number;
  Size?: number;
  SharedSize?: number;
  Containers?: number;
  Labels?: Record<string, string> | null;
}

/** Every ready-deps snapshot in the engine's disk-usage report (docker/caches.ts diskUsage), with its size and users. */
export function depsFromDf(df: { Images?: unknown[] | null }): DepsSnapshot[] {
  return ((df.Images ?? []) as DfImage[])
    .filter((i) => i.Labels?.[LABEL.managed] === '1' && i.Labels?.[LABEL.role] === 'deps')
    .map((i) => {
      const labels = i.Labels ?? {};
      const own = typeof i.Size === 'number' ? i.Size - (typeof i.SharedSize === 'number' && i.SharedSize > 0 ? i.SharedSize : 0) : -1;
      return {
        kind: 'deps' as const,
        name: (i.RepoTags ?? []).find((t) => t.startsWith(`${DEPS_REPO}/`)) ?? i.Id,
        key: labels[LABEL.depsKey] ?? '?',
        scope: labels[LABEL.depsScope] ?? '?',
        toolchain: labels[LABEL.toolchain],
        install: labels[LABEL.depsInstall] ?? '',
        createdAt: new Date((i.Created ?? 0) * 1000).toISOString(),
        sizeBytes: own,
        inUse: Math.max(0, i.Containers ?? 0),
      };
    })
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Remove a snapshot; false when a container still uses it (409) or it is already gone. */
export async function removeDepsImage(client: Docker, name: string): Promise<boolean> {
  try {
    await client.getImage(name).remove({ force: false });
    return true;
  } catch (err) {
    const s = dockerStatus(err);
    if (s === 404 || s === 409) return false;
    throw translateDockerError(err, `remove ready-deps image ${name}`);
  }
}

/** Remove the per-workspace snapshots (see SaveDeps.workspace) of workspace `name` of the repository at `repoPath`. */
export async function removeWorkspaceDepsImages(client: Docker, repoPath: string, name: string): Promise<string[]> {
  const filters = { label: [`${LABEL.managed}=1`, `${LABEL.role}=deps`, `${LABEL.repo}=${repoPath}`, `${LABEL.workspace}=${name}`] };
  const rows = await client.listImages({ filters }).catch(() => []);
  const out: string[] = [];
  for (const r of rows) if (await removeDepsImage(client, r.Id)) out.push((r.RepoTags ?? [])[0] ?? r.Id);
  return out;
}

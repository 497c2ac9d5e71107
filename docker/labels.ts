/**
 * Every Docker label berth writes, in one place. Labels are the source of truth for what berth owns:
 * a new runner process rebuilds its whole view (sessions, pool slots, volumes) from them, and
 * reaping only ever touches objects carrying `dev.berth.managed=1`.
 *
 * Labels cannot change after a container is created, so anything that changes later (which
 * workspace a claimed pool container serves) is carried by the container NAME instead; see
 * runner/session/pool.ts.
 */
import { createHash } from 'node:crypto';

export const LABEL = {
  /** "1" on everything berth creates; the reaper's first filter. */
  managed: 'dev.berth.managed',
  /** session | pool | pipeline | checkpoint | helper (see Role). */
  role: 'dev.berth.role',
  /** Absolute path of the user's repository (the main worktree). */
  repo: 'dev.berth.repo',
  /** Stable id of the repository (Workspaces.repoId: basename + hash of git's common dir); names embed it. */
  repoId: 'dev.berth.repo-id',
  /** Workspace name (session containers and per-workspace volumes). */
  workspace: 'dev.berth.workspace',
  /** ResolvedSpec hash the container was built from; the warm pool's key. */
  specHash: 'dev.berth.spec-hash',
  /** berth version that created the object (for migrations). */
  runnerVersion: 'dev.berth.runner-version',
  /** Container path of the workspace source (spec.workdir). */
  workdir: 'dev.berth.workdir',
  /** "uid:gid" or user name the session shells run as. */
  user: 'dev.berth.user',
  /** Host directory bind-mounted at the workdir (worktree, or an empty pool slot). */
  mountSource: 'dev.berth.mount-source',
  /** Pool containers: the slot id (also the slot directory's name). */
  poolSlot: 'dev.berth.pool-slot',
  /** Volumes: cache | workspace. */
  volumeKind: 'dev.berth.volume-kind',
  /** Volumes: the spec's cache/volume name. */
  volumeName: 'dev.berth.volume-name',
  /** Pipelines (role=pipeline): the run id shared by every container and the fork image of one run. */
  pipelineRun: 'dev.berth.pipeline-run',
  /** Pipelines: build | test | lint | check | run. */
  pipelineTarget: 'dev.berth.pipeline-target',
  /** Pipelines: "main" (the prepared container) or the step a forked `check` container runs. */
  pipelinePart: 'dev.berth.pipeline-part',
  /** Pipelines: the plan's repo key (pipelines/plan.ts repoKey()), on containers and cache volumes. */
  pipelineRepo: 'dev.berth.pipeline-repo',
  /** Pipeline cache volumes: the toolchain the cache belongs to. */
  toolchain: 'dev.berth.toolchain',
  /** Pipeline and helper containers: `<host>/<pid>/<start ticks>` of the creating process (docker/reaper.ts). */
  owner: 'dev.berth.owner',
  /** Checkpoint images: the commit (full sha) the container's filesystem was recorded with. */
  checkpoint: 'dev.berth.checkpoint',
  /** Ready-deps images (role=deps, docker/deps.ts): the deps key, its scope (repo) and the install it saved. */
  depsKey: 'dev.berth.deps-key',
  depsScope: 'dev.berth.deps-scope',
  depsInstall: 'dev.berth.deps-install',
} as const;

/** helper: short-lived, never-started containers that only carry a volume mount (volume archives). */
export type Role = 'session' | 'pool' | 'pipeline' | 'checkpoint' | 'helper' | 'deps';

/** Bumped when the container shape changes in a way an older runner cannot adopt. */
export const RUNNER_VERSION = '1';

export type Labels = Record<string, string>;

/** A repository as the runner knows it: its checkout path and its stable id (used in names). */
export interface RepoRef {
  readonly path: string;
  readonly id: string;
}

/** Docker object names allow [a-zA-Z0-9][a-zA-Z0-9_.-]*; anything else in a name part becomes '_'. */
export function namePart(s: string): string {
  return s.replace(/[^a-zA-Z0-9_.-]/g, '_');
}

export interface LabelInput {
  role: Role;
  repo: RepoRef;
  workspace?: string;
  specHash?: string;
  workdir?: string;
  user?: string;
  mountSource?: string;
  poolSlot?: string;
  /** Caller-supplied extra labels (tests tag their objects with these). Cannot override berth's. */
  extra?: Labels;
}

export function buildLabels(input: LabelInput): Labels {
  const out: Labels = { ...(input.extra ?? {}) };
  out[LABEL.managed] = '1';
  out[LABEL.role] = input.role;
  out[LABEL.repo] = input.repo.path;
  out[LABEL.repoId] = input.repo.id;
  out[LABEL.runnerVersion] = RUNNER_VERSION;
  if (input.workspace !== undefined) out[LABEL.workspace] = input.workspace;
  if (input.specHash !== undefined) out[LABEL.specHash] = input.specHash;
  if (input.workdir !== undefined) out[LABEL.workdir] = input.workdir;
  if (input.user !== undefined) out[LABEL.user] = input.user;
  if (input.mountSource !== undefined) out[LABEL.mountSource] = input.mountSource;
  if (input.poolSlot !== undefined) out[LABEL.poolSlot] = input.poolSlot;
  return out;
}

/**
 * A Docker `filters` object selecting berth-managed objects whose labels equal every given
 * key/value (`undefined` values are skipped). Pass extra to narrow further (e.g. a test's tag).
 */
export function labelFilter(match: { role?: Role; repo?: RepoRef; workspace?: string; specHash?: string; extra?: Labels } = {}): { label: string[] } {
  const label = [`${LABEL.managed}=1`];
  if (match.role) label.push(`${LABEL.role}=${match.role}`);
  if (match.repo) label.push(`${LABEL.repoId}=${match.repo.id}`);
  if (match.workspace) label.push(`${LABEL.workspace}=${match.workspace}`);
  if (match.specHash) label.push(`${LABEL.specHash}=${match.specHash}`);
  for (const [k, v] of Object.entries(match.extra ?? {})) label.push(`${k}=${v}`);
  return { label };
}

/** Deterministic session container name per (repo, workspace): the name doubles as a lock. */
export function sessionContainerName(repo: RepoRef, workspace: string): string {
  return `berth-ws-${namePart(repo.id)}-${workspace}`;
}

/** Inverse of sessionContainerName for this repo; undefined when the name is not a session's. */
export function workspaceFromContainerName(repo: RepoRef, name: string): string | undefined {
  const bare = name.startsWith('/') ? name.slice(1) : name;
  const prefix = `berth-ws-${namePart(repo.id)}-`;
  return bare.startsWith(prefix) && bare.length > prefix.length ? bare.slice(prefix.length) : undefined;
}

/** Unclaimed pool container name; claiming renames it to sessionContainerName(). */
export function poolContainerName(repo: RepoRef, specHash: string, slot: string): string {
  return `berth-pool-${namePart(repo.id)}-${namePart(specHash)}-${slot}`;
}

export function cacheVolumeName(repo: RepoRef, cache: string): string {
  return `berth-cache-${namePart(repo.id)}-${namePart(cache)}`;
}

export function workspaceVolumeName(repo: RepoRef, workspace: string, volume: string): string {
  return `berth-vol-${namePart(repo.id)}-${workspace}-${namePart(volume)}`;
}

/** One component of an image repository name: lowercase [a-z0-9] runs joined by '-' (Docker's grammar). */
function imageComponent(s: string): string {
  return (
    s
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'x'
  );
}

/**
 * Image repository of a workspace's container checkpoints (tags are short commit ids). Docker
 * repository names are lowercase and restrict separators, so when mapping the repo id or
 * workspace name loses information (".", "_", capitals) a hash of the exact pair keeps two
 * workspaces (say "a.b" and "a-b") from sharing a repository.
 */
export function checkpointImageRepo(repo: RepoRef, workspace: string): string {
  const a = imageComponent(repo.id);
  const b = imageComponent(workspace);
  const lossy = a !== repo.id || b !== workspace;
  const suffix = lossy ? `-${createHash('sha256').update(`${repo.id}\0${workspace}`).digest('hex').slice(0, 8)}` : '';
  return `berth-ckpt/${a}-${b}${suffix}`;
}

export function checkpointImageRef(repo: RepoRef, workspace: string, sha: string): string {
  return `${checkpointImageRepo(repo, workspace)}:${sha.slice(0, 12)}`;
}

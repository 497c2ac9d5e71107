/**
 * Garbage collection of a repository's containers and volumes: reap what no workspace owns, stop
 * what has been idle too long, and never delete what cannot be understood.
 *
 * A container is reaped only when its workspace is provably gone: not listed by the workspace
 * library AND no branch berth/<name> exists in git. A workspace whose state note is unreadable
 * (corrupt) still has its branch, so its container is kept and reported as quarantined: deleting
 * it would destroy the agent's installed packages because of a bad note. If git itself can't be
 * asked, nothing is reaped at all.
 */
import { reapOrphanContainers } from '../../docker/index.js';
import { REMOTE_VOLUME_KIND } from '../../docker/index.js';
import { mkdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Resolved } from '../../src/project/index.js';
import { GitRepo } from '../../src/git/index.js';
import type { Workspaces } from '../../src/workspace/index.js';
import type { Containers } from '../../docker/index.js';
import { LABEL, labelFilter, sessionContainerName, workspaceFromContainerName, type RepoRef } from '../../docker/index.js';
import { BerthError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { withLock } from './lock.js';
import { isVolumeKept } from './workspace-resources.js';

export interface GcReport {
  readonly removedContainers: readonly string[];
  readonly removedVolumes: readonly string[];
  /** Running session containers stopped because they were idle longer than spec.idleTimeoutMs. */
  readonly stoppedIdle: readonly string[];
  /** Orphans left alone because another process holds their lock. */
  readonly skipped: readonly string[];
  /**
   * Containers kept although the workspace library does not list their workspace, because its
   * branch still exists (its state note is unreadable) or git could not be asked: repair or delete
   * the workspace (berth ws delete NAME) and they are handled normally.
   */
  readonly quarantined: readonly string[];
}

export interface SessionRow {
  readonly name: string;
  readonly containerId: string;
  readonly containerName: string;
  readonly state: string;
  readonly specHash: string | null;
  readonly open: boolean;
  readonly workspaceExists: boolean;
  /** The engine the container is on (engines; engine-select.ts). */
  readonly engine?: string;
}

/** What gc needs from its Runner. */
export interface GcHost {
  readonly repo: RepoRef;
  readonly dataDir: string;
  readonly workspaces: Workspaces;
  readonly containers: Containers;
  readonly logger: Logger;
  /** This repository's session containers (open or not). */
  list(): Promise<SessionRow[]>;
  /** Remove a workspace's container and per-workspace volumes (the caller holds its lock). */
  removeResources(name: string, containerId: string): Promise<{ containers: string[]; volumes: string[] }>;
  /** Reap the warm pool (stale hash, stopped, beyond target); returns names removed. */
  poolGc(resolved: Resolved | undefined): Promise<string[]>;
  resolve(): Promise<Resolved>;
}

export async function collectGarbage(h: GcHost): Promise<GcReport> {
  const report = {
    removedContainers: [] as string[],
    removedVolumes: [] as string[],
    stoppedIdle: [] as string[],
    skipped: [] as string[],
    quarantined: [] as string[],
  };
  const names = new Set((await h.workspaces.list()).map((w) => w.name));
  const inGit = await branchNames(h);
  const sessions = await h.list();
  for (const s of sessions) {
    if (s.workspaceExists) continue;
    if (!inGit || inGit.has(s.name)) {
      h.logger.warn('keeping the container of a workspace whose state is unreadable', { workspace: s.name, container: s.containerName });
      report.quarantined.push(s.containerName);
      continue;
    }
    const r = await tryLocked(h, s.containerName, () => h.removeResources(s.name, s.containerId));
    if (r) {
      report.removedContainers.push(...r.containers);
      report.removedVolumes.push(...r.volumes);
    } else report.skipped.push(s.containerName);
  }
  report.removedVolumes.push(...(await reapVolumes(h, names, inGit)));
  const resolved = await h.resolve().catch(() => undefined);
  const pooled = await h.poolGc(resolved).catch((err: unknown) => {
    h.logger.warn('warm pool gc failed', { error: String(err) });
    return [] as string[];
  });
  report.removedContainers.push(...pooled);
  report.removedContainers.push(...(await reapStrays(h)));
  // Pipeline and helper containers (any repo, any state) whose owning process is dead.
  report.removedContainers.push(...(await reapOrphanContainers(h.containers.docker)));
  const idleMs = resolved?.spec.idleTimeoutMs;
  if (idleMs && idleMs > 0) report.stoppedIdle.push(...(await stopIdle(h, sessions, idleMs)));
  return report;
}

/** Names of the berth/* branches, or undefined when git can't be asked (then nothing is reaped). */
async function branchNames(h: GcHost): Promise<Set<string> | undefined> {
  try {
    const git = await GitRepo.discover(h.repo.path);
    return new Set((await git.berthBranches()).keys());
  } catch (err) {
    h.logger.warn('gc could not list the berth branches; reaping nothing', { error: String(err) });
    return undefined;
  }
}

async function reapVolumes(h: GcHost, names: ReadonlySet<string>, inGit: ReadonlySet<string> | undefined): Promise<string[]> {
  const removed: string[] = [];
  for (const v of await h.containers.listVolumes(labelFilter({ repo: h.repo }))) {
    const ws = v.labels[LABEL.workspace];
    const kind = v.labels[LABEL.volumeKind];
    if ((kind !== 'workspace' && kind !== REMOTE_VOLUME_KIND) || !ws || names.has(ws) || !inGit || inGit.has(ws)) continue;
    if (await isVolumeKept(h.dataDir, v.name)) continue;
    const r = await tryLocked(h, sessionContainerName(h.repo, ws), () => h.containers.removeVolume(v.name));
    if (r) removed.push(v.name);
  }
  return removed;
}

/**
 * Session and pool containers of this repository, in any state (Created included), whose name is
 * neither a workspace's nor an unclaimed pool container's: no open, claim or delete can ever find
 * them by name again, so nothing owns them.
 */
async function reapStrays(h: GcHost): Promise<string[]> {
  const removed: string[] = [];
  for (const r of await h.containers.list(labelFilter({ repo: h.repo }))) {
    const role = r.labels[LABEL.role];
    if (role !== 'session' && role !== 'pool') continue;
    if (workspaceFromContainerName(h.repo, r.name) !== undefined || r.name.startsWith('berth-pool-')) continue;
    if (await h.containers.remove(r.id)) removed.push(r.name);
  }
  return removed;
}

async function stopIdle(h: GcHost, sessions: readonly SessionRow[], idleMs: number): Promise<string[]> {
  const stopped: string[] = [];
  for (const s of sessions) {
    if (!s.workspaceExists || s.open || s.state !== 'running') continue;
    const since = await lastActive(h, s.containerName, s.containerId);
    if (since === undefined || Date.now() - since < idleMs) continue;
    const r = await tryLocked(h, s.containerName, async () => {
      await h.containers.stop(s.containerId);
      return true;
    });
    if (r) stopped.push(s.containerName);
  }
  return stopped;
}

function activityPath(dataDir: string, containerName: string): string {
  return join(dataDir, 'activity', containerName);
}

/** Record activity of a container where every runner process sees it (the idle stop above). */
export async function touchActivity(dataDir: string, containerName: string): Promise<void> {
  const p = activityPath(dataDir, containerName);
  const now = new Date();
  try {
    await utimes(p, now, now);
  } catch {
    await mkdir(join(dataDir, 'activity'), { recursive: true });
    await writeFile(p, '');
  }
}

/** Last activity: the activity file's mtime, or when the container was started. */
async function lastActive(h: GcHost, containerName: string, id: string): Promise<number | undefined> {
  const touched = await stat(activityPath(h.dataDir, containerName)).then(
    (st) => st.mtimeMs,
    () => 0,
  );
  const st = await h.containers.inspect(id);
  if (!st) return undefined;
  return Math.max(touched, Date.parse(st.startedAt) || 0);
}

async function tryLocked<T>(h: GcHost, key: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await withLock(h.dataDir, key, { timeoutMs: 0, logger: h.logger }, fn);
  } catch (err) {
    if (err instanceof BerthError && err.code === 'LOCK_TIMEOUT') return undefined;
    throw err;
  }
}

/**
 * Package-cache volumes (npm, pip, go, cargo ...) and ready-deps snapshots (docker/deps.ts): what
 * `berth cache ls|prune` shows and removes. Sizes come from the engine's disk-usage report, the only
 * place Docker exposes them.
 *
 * A package cache is shared per toolchain (every repository's `npm ci` on this machine reuses one
 * npm cache, as a developer's ~/.npm is shared), and per user id: a cache written by one uid is
 * not writable by another (npm refuses a cache with root-owned files), and pipelines run as the
 * host user while sessions run as an unprivileged uid when berth is root.
 */
import { BerthError } from '../src/errors.js';
import { call, docker, type Docker } from './client.js';
import { depsFromDf, removeDepsImage, type DepsSnapshot } from './deps.js';
import { LABEL, RUNNER_VERSION, type Labels } from './labels.js';

export interface CacheVolume {
  readonly kind: 'cache';
  readonly name: string;
  /** The spec's cache name (npm, pip ...). */
  readonly cache: string;
  readonly toolchain: string | undefined;
  /** The repository of a per-repo cache made by an older berth; undefined for shared ones. */
  readonly repo: string | undefined;
  readonly createdAt: string;
  /** -1 when the engine did not report it. */
  readonly sizeBytes: number;
  /** Containers using it now; a volume in use is never pruned. */
  readonly inUse: number;
}

export type CacheEntry = CacheVolume | DepsSnapshot;

/** Docker object name piece: [a-z0-9_.-], starting alphanumeric. */
function part(s: string, max: number): string {
  return (
    s
      .toLowerCase()
      .replace(/[^a-z0-9_.-]+/g, '-')
      .replace(/^[^a-z0-9]+/, '')
      .slice(0, max)
      .replace(/[-.]+$/, '') || 'x'
  );
}

/**
 * THE name of a package-cache volume: `berth-cache-<toolchain>-<cache>` for root (or the image's
 * default user), `…-u<uid>` for any other user. Pipelines and sessions both use it.
 */
export function sharedCacheVolume(toolchain: string, cache: string, user: string | undefined): string {
  const who = user === undefined ? '' : (user.split(':')[0] ?? '');
  const suffix = who === '' || who === '0' || who === 'root' ? '' : `-u${part(who, 32)}`;
  return `berth-cache-${part(toolchain, 16)}-${part(cache, 24)}${suffix}`;
}

/** Labels of a shared cache volume (no repository: it belongs to the toolchain). */
export function sharedCacheLabels(toolchain: string, cache: string): Labels {
  return {
    [LABEL.managed]: '1',
    [LABEL.role]: 'pipeline',
    [LABEL.runnerVersion]: RUNNER_VERSION,
    [LABEL.volumeKind]: 'cache',
    [LABEL.volumeName]: cache,
    [LABEL.toolchain]: toolchain,
  };
}

interface DfVolume {
  Name: string;
  CreatedAt?: string;
  Labels?: Record<string, string> | null;
  UsageData?: { Size?: number; RefCount?: number } | null;
}

/**
 * The engine's disk-usage report. The engine runs one at a time and answers a concurrent request
 * (another berth, `docker system df`) with 500 "a disk usage operation is already running": wait
 * for it instead of failing.
 */
export async function diskUsage(client: Docker): Promise<{ Volumes?: DfVolume[] | null; Images?: unknown[] | null }> {
  for (let i = 0; ; i++) {
    try {
      return (await call('docker system df', () => client.df())) as { Volumes?: DfVolume[] | null; Images?: unknown[] | null };
    } catch (err) {
      if (i >= 40 || !/already running/i.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 250 + 50 * i));
    }
  }
}

/** The package-cache volumes. */
export async function listCaches(client: Docker = docker()): Promise<CacheVolume[]> {
  return volumesFromDf(await diskUsage(client));
}

function volumesFromDf(df: { Volumes?: DfVolume[] | null }): CacheVolume[] {
  return (df.Volumes ?? [])
    .filter((v) => v.Labels?.[LABEL.managed] === '1' && v.Labels?.[LABEL.volumeKind] === 'cache')
    .map((v) => ({
      kind: 'cache' as const,
      name: v.Name,
      cache: v.Labels?.[LABEL.volumeName] ?? '?',
      toolchain: v.Labels?.[LABEL.toolchain],
      repo: v.Labels?.[LABEL.pipelineRepo] ?? v.Labels?.[LABEL.repo],
      createdAt: v.CreatedAt ?? '',
      sizeBytes: v.UsageData?.Size ?? -1,
      inUse: v.UsageData?.RefCount ?? 0,
    }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Package caches, then ready-deps snapshots. */
export async function listCacheEntries(client: Docker = docker()): Promise<CacheEntry[]> {
  const df = await diskUsage(client);
  return [...volumesFromDf(df), ...depsFromDf(df)];
}

/**
 * Remove cache volumes and ready-deps snapshots that nothing uses (and, with olderThanMs, created
 * longer ago than that; with match, whose name contains it).
 */
export async function pruneCaches(
  opts: { olderThanMs?: number; match?: string; client?: Docker; now?: number } = {},
): Promise<{ removed: CacheEntry[]; kept: CacheEntry[] }> {
  const client = opts.client ?? docker();
  const now = opts.now ?? Date.now();
  const removed: CacheEntry[] = [];
  const kept: CacheEntry[] = [];
  for (const v of await listCacheEntries(client)) {
    if (opts.match !== undefined && !v.name.includes(opts.match)) continue;
    const age = now - Date.parse(v.createdAt);
    const old = opts.olderThanMs === undefined || (Number.isFinite(age) && age > opts.olderThanMs);
    if (v.inUse > 0 || !old) {
      kept.push(v);
      continue;
    }
    if (await removeEntry(client, v)) removed.push(v);
    else kept.push(v);
  }
  return { removed, kept };
}

async function removeEntry(client: Docker, v: CacheEntry): Promise<boolean> {
  if (v.kind === 'deps') return removeDepsImage(client, v.name);
  try {
    await client.getVolume(v.name).remove();
    return true;
  } catch (err) {
    // In use since the listing (a run started): keep it, that is what it is for.
    const status = (err as { statusCode?: number }).statusCode;
    if (status === 409 || status === 404) return false;
    throw new BerthError('DOCKER_ERROR', `removing cache volume ${v.name}: ${(err as Error).message}`, { cause: err });
  }
}

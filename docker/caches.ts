/**
 * Package-cache volumes (npm, pip, go, cargo ...): the volumes berth labels volume-kind=cache,
 * with their size and age, and their removal. Sizes come from the engine's disk-usage report,
 * the only place Docker exposes them.
 */
import { BerthError } from '../src/errors.js';
import { call, docker, type Docker } from './client.js';
import { LABEL } from './labels.js';

export interface CacheVolume {
  readonly name: string;
  /** The spec's cache name (npm, pip ...). */
  readonly cache: string;
  readonly toolchain: string | undefined;
  readonly repo: string | undefined;
  readonly createdAt: string;
  /** -1 when the engine did not report it. */
  readonly sizeBytes: number;
  /** Containers using it now; a volume in use is never pruned. */
  readonly inUse: number;
}

interface DfVolume {
  Name: string;
  CreatedAt?: string;
  Labels?: Record<string, string> | null;
  UsageData?: { Size?: number; RefCount?: number } | null;
}

export async function listCaches(client: Docker = docker()): Promise<CacheVolume[]> {
  const df = (await call('docker system df', () => client.df())) as { Volumes?: DfVolume[] | null };
  return (df.Volumes ?? [])
    .filter((v) => v.Labels?.[LABEL.managed] === '1' && v.Labels?.[LABEL.volumeKind] === 'cache')
    .map((v) => ({
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

/** Remove cache volumes not in use (and, with olderThanMs, created longer ago than that). */
export async function pruneCaches(
  opts: { olderThanMs?: number; match?: string; client?: Docker; now?: number } = {},
): Promise<{ removed: CacheVolume[]; kept: CacheVolume[] }> {
  const client = opts.client ?? docker();
  const now = opts.now ?? Date.now();
  const removed: CacheVolume[] = [];
  const kept: CacheVolume[] = [];
  for (const v of await listCaches(client)) {
    if (opts.match !== undefined && !v.name.includes(opts.match)) continue;
    const age = now - Date.parse(v.createdAt);
    const old = opts.olderThanMs === undefined || (Number.isFinite(age) && age > opts.olderThanMs);
    if (v.inUse > 0 || !old) {
      kept.push(v);
      continue;
    }
    try {
      await client.getVolume(v.name).remove();
      removed.push(v);
    } catch (err) {
      // In use since the listing (a run started): keep it, that is what it is for.
      if ((err as { statusCode?: number }).statusCode === 409) kept.push(v);
      else throw new BerthError('DOCKER_ERROR', `removing cache volume ${v.name}: ${(err as Error).message}`, { cause: err });
    }
  }
  return { removed, kept };
}

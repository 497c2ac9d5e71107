/**
 * Finding berth's containers in every state (Created ones included) and reaping the short-lived
 * ones whose owner process is gone. Pipeline and helper containers belong to the process that
 * created them: it labels them with `dev.berth.owner` (host, pid and the pid's start time, so a
 * reused pid is not mistaken for the owner) and removes them when done. A process that died
 * mid-run (kill -9, a crash between create and start) leaves them behind, often in `Created`,
 * which a filter on running containers never sees. Session and pool containers are owned by their
 * workspace and spec instead; runner/session reaps those.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Containers, type ContainerSummary } from './containers.js';
import type { Docker } from './client.js';
import { LABEL, type Labels, type Role } from './labels.js';

/** Pipeline/helper containers without an owner label (made before it existed) count as orphans after this. */
export const UNOWNED_MAX_AGE_MS = 24 * 60 * 60 * 1000;

/** Label carrying `<host>/<pid>/<start ticks>` of the creating process. */
export const OWNER_LABEL = LABEL.owner;

/** Start time of `pid` in clock ticks since boot (/proc/<pid>/stat field 22), or undefined. */
function startTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

let self: string | undefined;

/** The owner label of this process, for containers it creates and removes itself. */
export function ownerLabel(): Labels {
  self ??= `${hostname()}/${process.pid}/${startTicks(process.pid) ?? '0'}`;
  return { [OWNER_LABEL]: self };
}

/**
 * Whether the owner recorded in `value` may still be running. Owners on another host, or labels
 * this code cannot parse, count as alive: reaping must never remove a live run's container.
 */
export function ownerAlive(value: string | undefined): boolean {
  if (!value) return true;
  const [host, pidText, ticks] = value.split('/');
  const pid = Number(pidText);
  if (host !== hostname() || !Number.isInteger(pid) || pid <= 0 || ticks === undefined) return true;
  const now = startTicks(pid);
  return now !== undefined && (ticks === '0' || now === ticks);
}

export interface ListOptions {
  /** 'all' (default) includes created, exited and dead containers; 'running' only running ones. */
  readonly states?: 'all' | 'running';
  readonly roles?: readonly Role[];
  /** Extra label equalities (tests narrow to their own tag). */
  readonly labels?: Labels;
}

/** Every berth-managed container matching `opts`, in any state unless asked otherwise. */
export async function listBerthContainers(client: Docker, opts: ListOptions = {}): Promise<ContainerSummary[]> {
  const label = [`${LABEL.managed}=1`, ...Object.entries(opts.labels ?? {}).map(([k, v]) => `${k}=${v}`)];
  const filters: Record<string, string[]> = { label };
  if (opts.states === 'running') filters.status = ['running'];
  const rows = await new Containers(client).list(filters);
  const roles = opts.roles;
  return roles ? rows.filter((r) => roles.includes(r.labels[LABEL.role] as Role)) : rows;
}

/**
 * Remove pipeline and helper containers (any state, Created included) whose owner process is
 * dead. Returns the names removed. Safe to run concurrently with live runs: their owners are
 * alive. Meant for `berth gc` (Runner.gc) and for start-up reconciliation.
 */
export async function reapOrphanContainers(client: Docker, opts: { labels?: Labels; nowMs?: number } = {}): Promise<string[]> {
  const rows = await listBerthContainers(client, { roles: ['pipeline', 'helper'], ...(opts.labels ? { labels: opts.labels } : {}) });
  const containers = new Containers(client);
  const removed: string[] = [];
  const now = opts.nowMs ?? Date.now();
  for (const r of rows) {
    const owner = r.labels[OWNER_LABEL];
    // Containers from before the owner label: no run or helper lives a day.
    const dead = owner === undefined ? now - r.created * 1000 > UNOWNED_MAX_AGE_MS : !ownerAlive(owner);
    if (!dead) continue;
    if (await containers.remove(r.id)) removed.push(r.name);
  }
  return removed;
}

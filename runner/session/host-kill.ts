/**
 * Signalling a container's processes from the host, for when nothing can start inside it: a fork
 * bomb keeps the pids cgroup at its limit, so every `docker exec` (the kill helper included) fails
 * with "Cannot fork". The host sees the container's processes in its own /proc:
 *   - members: processes whose /proc/<pid>/cgroup is identical to the container init's (State.Pid);
 *     that file is world-readable, so this works for a non-root berth too;
 *   - the last NSpid entry of /proc/<pid>/status is the pid inside the container, which is how the
 *     kill request names its session, shell and spared pids;
 *   - NSsid in the same file is the session id inside the container (the leader may be gone);
 *     /proc/<pid>/stat gives the start time.
 * Same targets and escalation as the in-container helper (kill.ts KILL_HELPER): the request's
 * session members started at or after its start tick, plus processes carrying its __BERTH_JOB tag;
 * `kill` freezes them with SIGSTOP until a sweep finds no new ones, then SIGKILLs them all. Only
 * processes of the session user are touched (as the helper, running as that user, could).
 * Needs the engine on this host (a remote DOCKER_HOST or a VM has other /proc): then it reports
 * unavailable and the caller keeps its original error.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import type { Containers } from '../../docker/index.js';
import { numericOwner } from './identity.js';
import type { KillRequest } from './kill.js';

interface Member {
  readonly hostPid: number;
  readonly nsPid: number;
  readonly uid: number;
  /** Session id as the container sees it (NSsid; the leader may be gone). */
  readonly nsSession: number;
  readonly startTick: number;
}

/** Signalled count, or undefined when the container's processes can't be seen from here. */
export async function hostSignal(containers: Containers, containerId: string, req: KillRequest): Promise<number | undefined> {
  if (req.mode === 'shell') return undefined;
  const st = await containers.inspect(containerId).catch(() => undefined);
  if (!st?.running || !st.pid) return undefined;
  const cgroup = await readFile(`/proc/${st.pid}/cgroup`, 'utf8').catch(() => undefined);
  if (!cgroup) return undefined;
  const owner = numericOwner(req.user);
  const targets = async (): Promise<Member[]> => {
    const members = await listMembers(cgroup);
    const spared = new Set([...req.keep, req.shellPid].filter((n) => n > 0));
    const out: Member[] = [];
    for (const m of members) {
      if (spared.has(m.nsPid) || m.hostPid === st.pid || (owner && m.uid !== owner.uid)) continue;
      const inSession = req.sessionId > 0 && m.nsSession === req.sessionId && m.startTick >= req.startTick;
      if (inSession || (req.tag && (await hasTag(m.hostPid, req.tag)))) out.push(m);
    }
    return out;
  };
  if (req.mode === 'term') {
    const t = await targets();
    for (const m of t) {
      signal(m.hostPid, 'SIGTERM');
      signal(m.hostPid, 'SIGCONT');
    }
    return t.length;
  }
  return freezeAndKill(targets);
}

/** SIGSTOP every target until a sweep finds no new one (a frozen tree can't fork), then SIGKILL all. */
async function freezeAndKill(targets: () => Promise<Member[]>): Promise<number> {
  const stopped = new Map<number, Member>();
  for (let i = 0; i < 60; i++) {
    const fresh = (await targets()).filter((m) => !stopped.has(m.hostPid));
    if (fresh.length === 0) break;
    for (const m of fresh) {
      signal(m.hostPid, 'SIGSTOP');
      stopped.set(m.hostPid, m);
    }
  }
  for (const pid of stopped.keys()) signal(pid, 'SIGKILL');
  // Killed processes hold their pids until the container's init reaps them: wait for that
  // (bounded), so the caller's next exec finds room in the pids cgroup.
  for (let i = 0; i < 30 && [...stopped.keys()].some((pid) => existsSync(`/proc/${pid}`)); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  return stopped.size;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Gone already (or not ours): nothing to do.
  }
}

async function listMembers(cgroup: string): Promise<Member[]> {
  const out: Member[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const m = await readMember(Number(name), cgroup);
    if (m) out.push(m);
  }
  return out;
}

async function readMember(hostPid: number, cgroup: string): Promise<Member | undefined> {
  try {
    if ((await readFile(`/proc/${hostPid}/cgroup`, 'utf8')) !== cgroup) return undefined;
    const [status, stat] = await Promise.all([readFile(`/proc/${hostPid}/status`, 'utf8'), readFile(`/proc/${hostPid}/stat`, 'utf8')]);
    const ns = /^NSpid:\s+(.+)$/m.exec(status)?.[1]?.trim().split(/\s+/);
    const nsSid = /^NSsid:\s+(.+)$/m.exec(status)?.[1]?.trim().split(/\s+/);
    const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
    // Fields after the command name "(...)": state ppid pgrp session ... starttime is field 22.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (!ns || !nsSid || uid === undefined || f.length < 20) return undefined;
    return { hostPid, nsPid: Number(ns[ns.length - 1]), uid: Number(uid), nsSession: Number(nsSid[nsSid.length - 1]), startTick: Number(f[19]) };
  } catch {
    return undefined; // exited while we looked
  }
}

async function hasTag(hostPid: number, tag: string): Promise<boolean> {
  const env = await readFile(`/proc/${hostPid}/environ`).catch(() => undefined);
  return env !== undefined && env.includes(`__BERTH_JOB=${tag}\0`);
}

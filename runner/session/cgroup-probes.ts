/**
 * Probes of a session container's cgroups, read from inside it with one helper exec each (the
 * container's own /sys/fs/cgroup view is the same under cgroup v1 and v2 namespaces).
 */
import type { Containers } from '../../docker/index.js';

/** OOM-kill counter of the container's memory cgroup (-1 when unknown). */
export async function oomKills(containers: Containers, containerId: string, user: string): Promise<number> {
  const r = await containers.runCapture(containerId, {
    // cgroup v1 memory.oom_control, else v2 memory.events.
    cmd: ['/bin/sh', '-c', 'cat /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null || cat /sys/fs/cgroup/memory.events 2>/dev/null; exit 0'],
    user,
  });
  const m = /oom_kill (\d+)/.exec(r.stdout);
  return m ? Number(m[1]) : -1;
}

/** Is the pids cgroup at its limit? A helper that cannot even start counts as yes. */
export async function pidsExhausted(containers: Containers, containerId: string, user: string): Promise<boolean> {
  let r: { exitCode: number | null; stdout: string };
  try {
    r = await containers.runCapture(containerId, {
      // cgroup v1 pids controller, else v2.
      cmd: [
        '/bin/sh',
        '-c',
        'cat /sys/fs/cgroup/pids/pids.current /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.current /sys/fs/cgroup/pids.max',
      ],
      user,
    });
  } catch {
    return true;
  }
  const [cur, max] = r.stdout.trim().split(/\s+/).map(Number);
  if (cur === undefined || max === undefined || !Number.isFinite(cur) || !Number.isFinite(max)) return r.exitCode !== 0;
  return cur >= max - 3;
}

/**
 * Runs the kill helper (protocol.ts KILL_HELPER) in a one-shot exec. Kept separate from the shell
 * so fresh execs and background processes share the exact same escalation.
 */
import type { Containers } from '../../docker/index.js';
import { BerthError } from '../../src/errors.js';
import { hostSignal } from './host-kill.js';
import { KILL_HELPER } from './protocol.js';

export type KillMode = 'term' | 'kill' | 'shell';

export interface KillRequest {
  readonly mode: KillMode;
  readonly user: string;
  /** __BERTH_JOB tag of the command, or undefined. */
  readonly tag: string | undefined;
  /** Session whose members started after startTick are targets (0: none). */
  readonly sessionId: number;
  readonly startTick: number;
  /** The shell (never signalled except in mode "shell"). */
  readonly shellPid: number;
  readonly stateDir: string;
  /** Pids never signalled (mode term/kill) or the relays to retire (mode shell). */
  readonly keep: readonly number[];
}

const HELPER_ATTEMPTS = 3;

/** Returns how many processes were signalled; throws if the helper could not run at all. */
export async function signalTargets(containers: Containers, containerId: string, req: KillRequest): Promise<number> {
  const argv = [
    '/bin/sh',
    '-c',
    KILL_HELPER,
    'berth-kill',
    req.mode,
    req.tag ?? '-',
    String(req.sessionId),
    String(req.startTick),
    String(req.shellPid),
    req.stateDir,
    ...req.keep.filter((n) => n > 0).map(String),
  ];
  let last: unknown;
  // Under a fork bomb the helper itself may fail to fork (pids limit); a few quick retries usually
  // land in a gap as bomb processes exit.
  for (let i = 0; i < HELPER_ATTEMPTS; i++) {
    try {
      const r = await containers.runCapture(containerId, { cmd: argv, user: req.user });
      const m = /signalled=(\d+)/.exec(r.stdout);
      if (m) return Number(m[1]);
      last = new BerthError('DOCKER_ERROR', `kill helper printed no result (exit ${r.exitCode}): ${r.stderr.trim().slice(0, 300)}`);
    } catch (err) {
      last = err;
      if (err instanceof BerthError && (err.code === 'CONTAINER_GONE' || err.code === 'CONTAINER_DIED')) throw err;
    }
    // The helper could not start (under a fork bomb no exec can fork): signal from the host.
    const n = await hostSignal(containers, containerId, req).catch(() => undefined);
    if (n !== undefined) return n;
    await new Promise((r) => setTimeout(r, 200 * (i + 1)));
  }
  throw last instanceof Error ? last : new BerthError('DOCKER_ERROR', String(last));
}

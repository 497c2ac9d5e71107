/**
 * Container preparation: berth's state directories (as root, handed to the session user), then the
 * spec's setup commands (as root, image-level) and install commands (as the user, in the workdir),
 * once per container. Their output is appended to <SETUP_DIR>/log in the container, so it survives
 * the runner and can be read back. <SETUP_DIR>/status is "setup" once the image-level commands
 * passed (a warm pool container stops there: it has no source yet) and "done" after install.
 */
import type { Containers } from '../../docker/index.js';
import { BerthError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { runFresh, type FreshHost } from './exec.js';
import type { StreamName } from './output.js';
import { PROCS_DIR, SETUP_DIR, SHELLS_DIR, STATE_ROOT } from './protocol.js';
import type { SetupRecord, SetupReport } from './types.js';

export const HOME_DIR = `${STATE_ROOT}/home`;

/** $1 user ("uid:gid" or name, empty for root), then paths to hand to the user when root owns them. */
const INIT = `
u=$1; shift
mkdir -p ${STATE_ROOT} ${SHELLS_DIR} ${PROCS_DIR} ${SETUP_DIR} ${HOME_DIR} || exit 1
chmod 755 ${STATE_ROOT} || exit 1
if [ -n "$u" ]; then
  chown "$u" ${SHELLS_DIR} ${PROCS_DIR} ${HOME_DIR} || exit 1
  for p in "$@"; do
    [ -d "$p" ] && [ "$(stat -c %u "$p" 2>/dev/null)" = 0 ] && chown "$u" "$p"
  done
fi
cat ${SETUP_DIR}/status 2>/dev/null
exit 0
`;

/** The one-shot exec host for setup, install and lifecycle commands of a prepared container. */
export function freshHost(h: SetupHost, defaultTimeoutMs: number): FreshHost {
  return {
    containers: h.containers,
    containerId: h.containerId,
    user: h.user,
    workdir: h.workdir,
    env: {},
    logger: h.logger,
    defaultTimeoutMs,
    containerProblem: async () => undefined,
  };
}

export interface SetupHost {
  readonly containers: Containers;
  readonly containerId: string;
  readonly user: string;
  readonly workdir: string;
  readonly logger: Logger;
}

export function isRootUser(user: string): boolean {
  return user === '0' || user === 'root' || user.startsWith('0:') || user.startsWith('root:');
}

export type SetupStatus = 'none' | 'setup' | 'done';

/** Create the state dirs; returns how far setup got in this container before. */
export async function initContainer(h: SetupHost, chownPaths: readonly string[]): Promise<SetupStatus> {
  const r = await h.containers.runCapture(h.containerId, {
    cmd: ['/bin/sh', '-c', INIT, 'berth-init', isRootUser(h.user) ? '' : h.user, ...chownPaths],
    user: '0:0',
  });
  if (r.exitCode !== 0) {
    throw new BerthError(
      'SETUP_FAILED',
      `preparing berth's state dir ${STATE_ROOT} in the container failed (exit ${r.exitCode}): ${r.stderr.trim().slice(0, 500)}. The image needs /bin/sh, mkdir, chown and stat.`,
    );
  }
  const st = r.stdout.trim();
  return st === 'done' || st === 'setup' ? st : 'none';
}

export interface SetupOptions {
  readonly setup: readonly string[];
  readonly install: readonly string[];
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  readonly onOutput?: ((stream: StreamName, chunk: string) => void) | undefined;
  /** Status to record on success (default "done"; the pool records "setup"). */
  readonly status?: 'setup' | 'done';
}

/** Run setup (root) then install (user); throws SETUP_FAILED at the first failing command. */
export async function runSetup(h: SetupHost, opts: SetupOptions): Promise<SetupReport> {
  const steps: SetupRecord[] = [];
  const plan: { phase: 'setup' | 'install'; command: string }[] = [
    ...opts.setup.map((command) => ({ phase: 'setup' as const, command })),
    ...opts.install.map((command) => ({ phase: 'install' as const, command })),
  ];
  for (const { phase, command } of plan) {
    const asRoot = phase === 'setup';
    opts.onOutput?.('stderr', `berth: ${phase}: ${command}\n`);
    const r = await runFresh(freshHost(h, opts.timeoutMs), command, {
      ...(asRoot ? { user: '0:0', cwd: '/' } : { cwd: h.workdir }),
      timeoutMs: opts.timeoutMs,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.onOutput ? { onOutput: opts.onOutput } : {}),
      maxOutputBytes: 256 * 1024,
    });
    steps.push({ phase, command, exitCode: r.exitCode, durationMs: r.durationMs });
    const status = r.timedOut ? `timed out after ${opts.timeoutMs} ms` : r.aborted ? 'aborted' : `exit ${r.exitCode}`;
    await appendLog(h, `$ ${command}   # ${phase}, ${asRoot ? 'root' : h.user}\n${r.stdout}${r.stderr}\n[${status}, ${r.durationMs} ms]\n`);
    if (r.exitCode !== 0 || r.timedOut || r.aborted) {
      const tail = `${r.stdout}${r.stderr}`.trim().split('\n').slice(-15).join('\n');
      throw new BerthError(
        r.aborted ? 'ABORTED' : 'SETUP_FAILED',
        `${phase} command ${JSON.stringify(command)} failed (${status})${tail ? `:\n${tail}` : ''}\nFix the command in berth.yaml, then open the session again (the full log is in ${SETUP_DIR}/log in the container).`,
        { details: { phase, command, exitCode: r.exitCode, steps } },
      );
    }
  }
  const done = await h.containers.runCapture(h.containerId, {
    cmd: ['/bin/sh', '-c', `echo ${opts.status ?? 'done'} > ${SETUP_DIR}/status`],
    user: '0:0',
  });
  if (done.exitCode !== 0) throw new BerthError('SETUP_FAILED', `recording setup completion failed: ${done.stderr.trim()}`);
  return { ran: true, ok: true, steps };
}

/** Append to the setup log in the container (lifecycle.ts writes there too). */
export async function appendLog(h: SetupHost, text: string): Promise<void> {
  const r = await h.containers.runCapture(h.containerId, {
    cmd: ['/bin/sh', '-c', `cat >> ${SETUP_DIR}/log`],
    user: '0:0',
    stdin: text,
  });
  if (r.exitCode !== 0) h.logger.warn('could not append to the setup log', { error: r.stderr.trim() });
}

/** The last `tailBytes` of the setup log ('' when nothing ran). */
export async function readSetupLog(h: SetupHost, tailBytes = 64 * 1024): Promise<string> {
  const n = Math.max(0, Math.min(Math.floor(tailBytes), 16 * 1024 * 1024));
  const r = await h.containers.runCapture(h.containerId, {
    cmd: ['/bin/sh', '-c', `tail -c ${n} ${SETUP_DIR}/log 2>/dev/null; exit 0`],
    user: '0:0',
    maxBytes: n,
  });
  return r.stdout;
}

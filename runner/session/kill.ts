/**
 * Runs the kill helper (KILL_HELPER below) in a one-shot exec. Kept separate from the shell
 * so fresh execs and background processes share the exact same escalation.
 */
import type { Containers } from '../../docker/index.js';
import { BerthError } from '../../src/errors.js';
import { hostSignal } from './host-kill.js';

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

/**
 * Kill helper, run in its own one-shot exec as the shell's user (same uid: may signal and read
 * /proc of its processes without CAP_KILL/CAP_SYS_PTRACE).
 *   $1 mode: term | kill | shell    $2 tag (or -)    $3 session id (or 0)    $4 start tick
 *   (term and kill first send the shell SIGUSR1: see protocol.ts commandLine)
 *   $5 shell pid (or 0)    $6 state dir (for rescuing output FIFOs)    $7... pids never to touch
 *   (mode shell: the relays)
 * Targets: processes whose environment carries __BERTH_JOB=<tag> (exec'd descendants, also ones
 * that daemonized), plus every process of the shell's session started after the command began
 * (catches pure-shell forks such as a fork bomb, which never exec and so never show the tag).
 * Start times have 10 ms resolution, so a background job the previous command started within the
 * same tick as this command's start would also count; the relays and drainers are excluded by pid.
 * `kill` first SIGSTOPs targets until a sweep finds no new ones (a fork bomb can't outrun a frozen
 * tree), then SIGKILLs them all. `shell` SIGKILLs the shell itself and hands its output FIFOs (the
 * relays' ones, or in direct mode the shell's own) to drainers when a background job still holds
 * one, so it keeps a reader. Builtins only, except one grep per sweep.
 */
const KILL_HELPER = `
mode=$1 tag=$2 sid=$3 t0=$4 sp=$5 dir=$6
shift 6
ex=" $* $$ "
targets() {
  found=
  if [ "$tag" != "-" ]; then
    for f in $(grep -lszF "__BERTH_JOB=$tag" /proc/[0-9]*/environ 2>/dev/null); do
      p=\${f#/proc/}; found="$found \${p%/environ}"
    done
  fi
  if [ "$sid" -gt 0 ] 2>/dev/null; then
    for d in /proc/[0-9]*; do
      read -r st 2>/dev/null <"$d/stat" || continue
      r=\${st##*) }
      set -f; set -- $r; set +f
      [ "$4" = "$sid" ] || continue
      [ "\${20:-0}" -ge "$t0" ] 2>/dev/null || continue
      found="$found \${d#/proc/}"
    done
  fi
  out=
  for p in $found; do
    case "$ex" in *" $p "*) continue ;; esac
    case " $out " in *" $p "*) continue ;; esac
    out="$out $p"
  done
}
alive() { [ "$sp" -gt 0 ] 2>/dev/null && [ -d /proc/$sp ] && echo 1 || echo 0; }
# True when a process other than this helper and pid $2 holds file $1 open.
held() {
  for x in /proc/[0-9]*/fd/*; do
    case $x in "/proc/$$/"*|"/proc/$2/"*) continue ;; esac
    [ "$x" -ef "$1" ] && return 0
  done
  return 1
}
# Hand the FIFO read end on fd 3 to a drainer appending to bg.log.
drain3() {
  cat <&3 >>"$dir/bg.log" 2>/dev/null 3<&- &
  exec 3<&-
}
n=0
# Interrupt the shell's command list first (its USR1 trap breaks out of the command's loop).
intr() { [ "$sp" -gt 0 ] 2>/dev/null && kill -USR1 $sp 2>/dev/null; }
case "$mode" in
term)
  intr
  targets
  for p in $out; do kill -TERM $p 2>/dev/null; kill -CONT $p 2>/dev/null; n=$((n+1)); done
  ;;
kill)
  intr
  stopped=
  i=0
  while [ $i -lt 60 ]; do
    targets
    new=
    for p in $out; do case " $stopped " in *" $p "*) ;; *) new="$new $p" ;; esac; done
    [ -z "$new" ] && break
    for p in $new; do kill -STOP $p 2>/dev/null; done
    stopped="$stopped $new"
    i=$((i+1))
  done
  for p in $stopped; do kill -KILL $p 2>/dev/null; n=$((n+1)); done
  ;;
shell)
  # Direct mode (no relays): the shell's command FIFOs themselves, when a job still holds one.
  # Opened read-write first so the read-only open cannot block, then only the read end is kept.
  # The runner has stopped reading them (shell.ts #interrupt), so until a drainer holds one a job
  # writing gets SIGPIPE: drainers first, then the shell's death, which such a job may wait for.
  if [ $# -eq 0 ] && [ "$sp" -gt 0 ] 2>/dev/null; then
    for f in "$dir"/o.$sp.* "$dir"/e.$sp.*; do
      [ -p "$f" ] && held "$f" "$sp" || continue
      exec 4<>"$f" && exec 3<"$f" && exec 4>&- || continue
      drain3
      n=$((n+1))
    done
  fi
  [ "$sp" -gt 0 ] 2>/dev/null && kill -KILL $sp 2>/dev/null
  for r in $*; do
    [ -r /proc/$r/fd/0 ] || continue
    if held /proc/$r/fd/0 "$r" && exec 3</proc/$r/fd/0; then drain3; fi
    kill -KILL $r 2>/dev/null
    n=$((n+1))
  done
  ;;
esac
echo "signalled=$n shell=$(alive)"
`;

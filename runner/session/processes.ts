/**
 * Named background processes (dev servers, watchers). Each runs in its own `docker exec` (so its
 * own session: Docker starts every exec with setsid), with stdout+stderr appended to a log file and
 * its bookkeeping in <STATE_ROOT>/procs/<name>/ inside the container:
 *   cmd, cwd, started (ISO time), pid, start (kernel start tick of pid, guards against pid reuse
 *   after a container restart), exit (written when the command ends), log.
 * The container is the source of truth, so another runner process sees the same list.
 */
import { randomBytes } from 'node:crypto';
import { BerthError } from '../../src/errors.js';
import { signalTargets, type KillRequest } from './kill.js';
import { assertStateName, PROCS_DIR, quoteSh, STATE_NAME_PATTERN } from './protocol.js';
import type { ShellHost } from './shell.js';
import type { ProcessInfo, ProcessLog, StartProcessOptions } from './types.js';

/** Valid process names (the rule processes share with shell names, protocol.ts STATE_NAME_PATTERN). */
export const PROCESS_NAME_PATTERN = STATE_NAME_PATTERN;

/**
 * $1 dir, $2 cwd, $3 command, $4 tag, $5 replace (0/1). Docker keeps an exec's request open until
 * its first process exits, so this wrapper starts the runner in the background and exits at once;
 * the runner stays in the exec's session (a session outlives its leader, and the kernel does not
 * reuse the id while members live), which is what kill() targets.
 */
const START = `
d=$1 cwd=$2 cmd=$3 tag=$4 replace=$5
mkdir -p "$d" || exit 125
if [ -f "$d/pid" ] && [ ! -f "$d/exit" ]; then
  p=$(cat "$d/pid" 2>/dev/null); s=$(cat "$d/start" 2>/dev/null)
  if [ -n "$p" ] && read -r st 2>/dev/null </proc/$p/stat; then
    st=\${st##*) }; set -f; set -- $st; set +f
    [ "\${20}" = "$s" ] && { echo "running $p" >&2; exit 3; }
  fi
fi
if [ -f "$d/pid" ] && [ "$replace" != 1 ]; then echo "exists" >&2; exit 4; fi
rm -f "$d/exit" "$d/log" "$d/pid" "$d/start"
cd "$cwd" 2>/dev/null || { echo "cannot cd to $cwd" >&2; exit 5; }
printf '%s' "$cmd" >"$d/cmd"; printf '%s' "$cwd" >"$d/cwd"; printf '%s' "$tag" >"$d/tag"; echo $$ >"$d/sid"
date -u +%Y-%m-%dT%H:%M:%SZ >"$d/started" 2>/dev/null
/bin/sh -c '
  export __BERTH_JOB="$3"
  if command -v bash >/dev/null 2>&1; then bash -c "$2"; else /bin/sh -c "$2"; fi
  echo $? >"$1/exit.tmp" && mv -f "$1/exit.tmp" "$1/exit"
' berth-proc "$d" "$cmd" "$tag" </dev/null >>"$d/log" 2>&1 &
p=$!
read -r st </proc/$p/stat; st=\${st##*) }; set -f; set -- $st; set +f
echo "\${20}" >"$d/start"
echo $p >"$d/pid"
echo "pid=$p sid=$$"
`;

/** Prints one NUL-separated record per process: name pid alive exit started cwd cmd tag sid. $1 = procs dir. */
const LIST = `
cd "$1" 2>/dev/null || exit 0
for d in *; do
  [ -f "$d/pid" ] || continue
  p=$(cat "$d/pid" 2>/dev/null); s=$(cat "$d/start" 2>/dev/null); alive=0
  if [ -n "$p" ] && [ ! -f "$d/exit" ] && read -r st 2>/dev/null </proc/$p/stat; then
    st=\${st##*) }; set -f; set -- $st; set +f
    [ "\${20}" = "$s" ] && alive=1
  fi
  printf '%s\\000%s\\000%s\\000' "$d" "$p" "$alive"
  cat "$d/exit" 2>/dev/null; printf '\\000'
  cat "$d/started" 2>/dev/null; printf '\\000'
  cat "$d/cwd" 2>/dev/null; printf '\\000'
  cat "$d/cmd" 2>/dev/null; printf '\\000'
  cat "$d/tag" 2>/dev/null; printf '\\000'
  cat "$d/sid" 2>/dev/null; printf '\\000'
done
`;

type Internal = ProcessInfo & { tag: string; sid: number };

/** What background processes need from their session (the container, user, workdir and env of its shells). */
export type ProcessHost = Pick<ShellHost, 'containers' | 'containerId' | 'user' | 'workdir' | 'env'>;

export class Processes {
  readonly #h: ProcessHost;
  /** Last seen bookkeeping per name: what kill() uses when no helper can run (a fork bomb). */
  readonly #known = new Map<string, Internal>();

  constructor(host: ProcessHost) {
    this.#h = host;
  }

  async start(name: string, command: string, opts: StartProcessOptions = {}): Promise<ProcessInfo> {
    assertStateName('process', name);
    if (typeof command !== 'string' || command.trim() === '') throw new BerthError('BAD_INPUT', 'command must be a non-empty string');
    if (command.includes('\0')) throw new BerthError('BAD_INPUT', 'command contains a NUL byte: remove it');
    const cwd = opts.cwd ?? this.#h.workdir;
    const tag = `p${randomBytes(8).toString('hex')}`;
    const r = await this.#h.containers.runCapture(this.#h.containerId, {
      cmd: ['/bin/sh', '-c', START, 'berth-proc', `${PROCS_DIR}/${name}`, cwd, command, tag, opts.replace ? '1' : '0'],
      user: this.#h.user,
      env: { ...this.#h.env, ...opts.env },
    });
    const m = /pid=(\d+)/.exec(r.stdout);
    if (!m) {
      if (r.exitCode === 3) {
        throw new BerthError('BAD_INPUT', `process "${name}" is already running (${r.stderr.trim()}): kill it first or pick another name`);
      }
      if (r.exitCode === 4) {
        throw new BerthError('BAD_INPUT', `a finished process named "${name}" exists: pass replace to reuse the name, or pick another`);
      }
      if (r.exitCode === 5) throw new BerthError('PATH_INVALID', `cannot start process "${name}": ${r.stderr.trim()}`);
      throw new BerthError('DOCKER_ERROR', `starting process "${name}" failed (exit ${r.exitCode}): ${r.stderr.trim().slice(0, 500)}`);
    }
    const sid = Number(/sid=(\d+)/.exec(r.stdout)?.[1] ?? 0);
    const started: Internal = { name, command, pid: Number(m[1]), running: true, exitCode: null, startedAt: null, cwd, tag, sid };
    this.#known.set(name, started);
    // A command that fills the process limit at once (a fork bomb) leaves no room for the list helper.
    return (await this.get(name).catch(() => undefined)) ?? strip(started);
  }

  async #list(): Promise<Internal[]> {
    const r = await this.#h.containers.runCapture(this.#h.containerId, {
      cmd: ['/bin/sh', '-c', LIST, 'berth-procs', PROCS_DIR],
      user: this.#h.user,
    });
    if (r.exitCode !== 0) {
      throw new BerthError(
        'DOCKER_ERROR',
        `listing background processes failed (exit ${r.exitCode}): ${r.stderr.trim().slice(0, 300) || 'the container could not start a helper (process limit reached?)'}`,
      );
    }
    const f = r.stdout.split('\0');
    const out: Internal[] = [];
    for (let i = 0; i + 9 <= f.length; i += 9) {
      const [name, pid, alive, exit, started, cwd, cmd, tag, sid] = f.slice(i, i + 9) as [
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
      ];
      const code = exit.trim() === '' ? null : Number(exit.trim());
      out.push({
        name,
        command: cmd,
        pid: /^\d+$/.test(pid.trim()) ? Number(pid.trim()) : null,
        running: alive === '1',
        exitCode: code !== null && Number.isInteger(code) ? code : null,
        startedAt: started.trim() || null,
        cwd: cwd || null,
        tag,
        sid: /^\d+$/.test(sid.trim()) ? Number(sid.trim()) : 0,
      });
    }
    for (const p of out) this.#known.set(p.name, p);
    return out;
  }

  async list(): Promise<ProcessInfo[]> {
    return (await this.#list()).map(strip);
  }

  async get(name: string): Promise<ProcessInfo | undefined> {
    assertStateName('process', name);
    return (await this.list()).find((p) => p.name === name);
  }

  async #require(name: string): Promise<Internal> {
    assertStateName('process', name);
    const p = (await this.#list()).find((x) => x.name === name);
    if (!p) {
      const names = (await this.list()).map((x) => x.name);
      throw new BerthError(
        'PROCESS_NOT_FOUND',
        `no background process named "${name}"${names.length ? ` (there are: ${names.join(', ')})` : ' (none are running)'}: start one first`,
      );
    }
    return p;
  }

  /** The last `tailBytes` (default 64 KiB) of the process's combined output. */
  async log(name: string, opts: { tailBytes?: number } = {}): Promise<ProcessLog> {
    await this.#require(name);
    const tail = Math.max(0, Math.min(Math.floor(opts.tailBytes ?? 64 * 1024), 16 * 1024 * 1024));
    const f = `${PROCS_DIR}/${name}/log`;
    const r = await this.#h.containers.runCapture(this.#h.containerId, {
      cmd: ['/bin/sh', '-c', `[ -f ${quoteSh(f)} ] || { echo 0; exit 0; }; wc -c < ${quoteSh(f)}; tail -c ${tail} ${quoteSh(f)}`],
      user: this.#h.user,
      maxBytes: tail + 64,
    });
    const nl = r.stdout.indexOf('\n');
    const bytes = Number(r.stdout.slice(0, nl === -1 ? undefined : nl).trim()) || 0;
    const text = nl === -1 ? '' : r.stdout.slice(nl + 1);
    return { name, text, bytes, truncated: bytes > tail };
  }

  /**
   * Kill every process of the background process's exec session (and anything carrying its tag),
   * TERM first, then KILL after `graceMs` (default 2 s). Resolves with the final state.
   */
  async kill(name: string, opts: { graceMs?: number } = {}): Promise<ProcessInfo> {
    // Under a fork bomb the list helper can't start either: fall back to what was last seen.
    const p = await this.#require(name).catch((err: unknown) => {
      const known = this.#known.get(name);
      if (!known || (err instanceof BerthError && err.code === 'PROCESS_NOT_FOUND')) throw err;
      return known;
    });
    const tag = /^p[0-9a-f]{16}$/.test(p.tag) ? p.tag : undefined;
    // Its command ended, but what it left running in the background (`cmd &`, a fork bomb's
    // children) carries its tag: kill those. By tag only: its session id may be reused by now.
    if (!p.running || p.pid === null)
      return strip(await this.#sweep({ user: this.#h.user, tag, sessionId: 0, startTick: 0, shellPid: 0, stateDir: `${PROCS_DIR}/${name}`, keep: [] }, p));
    const req = {
      user: this.#h.user,
      tag,
      sessionId: p.sid,
      startTick: 0,
      shellPid: 0,
      stateDir: `${PROCS_DIR}/${name}`,
      // Spare the wrapper so it records the exit status.
      keep: [p.pid],
    };
    await signalTargets(this.#h.containers, this.#h.containerId, { ...req, mode: 'term' });
    const deadline = Date.now() + (opts.graceMs ?? 2000);
    for (;;) {
      const now = await this.#peek(name);
      if (now && !now.running) return strip(await this.#sweep(req, now));
      if (Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, 150));
    }
    await signalTargets(this.#h.containers, this.#h.containerId, { ...req, mode: 'kill' });
    for (let i = 0; i < 20; i++) {
      const now = await this.#peek(name);
      if (now && !now.running) return strip(now);
      await new Promise((r) => setTimeout(r, 100));
    }
    // Nothing left but the wrapper (e.g. it is blocked): kill it too.
    await signalTargets(this.#h.containers, this.#h.containerId, { ...req, keep: [], mode: 'kill' });
    for (let i = 0; ; i++) {
      const now = await this.#peek(name);
      if (now || i >= 20) return strip(now ?? (await this.#require(name)));
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * The command ended on TERM; processes it forked after the TERM sweep (a fork bomb) may still
   * run: KILL whatever is left of its session and tag. Best effort: the command itself is done.
   */
  async #sweep(req: Omit<KillRequest, 'mode'>, ended: Internal): Promise<Internal> {
    if (!req.tag && req.sessionId === 0) return ended;
    await signalTargets(this.#h.containers, this.#h.containerId, { ...req, keep: [], mode: 'kill' }).catch(() => 0);
    return ended;
  }

  /** The process's state, or undefined while no helper can run (the caller retries). */
  async #peek(name: string): Promise<Internal | undefined> {
    try {
      return await this.#require(name);
    } catch (err) {
      if (err instanceof BerthError && (err.code === 'PROCESS_NOT_FOUND' || err.code === 'CONTAINER_GONE' || err.code === 'CONTAINER_DIED')) throw err;
      return undefined;
    }
  }
}

function strip({ tag: _tag, sid: _sid, ...p }: Internal): ProcessInfo {
  return p;
}

/**
 * `fresh: true`: a one-shot `docker exec` with the same result shape as a shell command, but no
 * shell state (cwd defaults to the workdir, env is the container's plus `env`).
 */
import { randomBytes } from 'node:crypto';
import { BerthError } from '../../src/errors.js';
import { signalTargets } from './kill.js';
import { DEFAULT_MAX_OUTPUT_BYTES, OutputCollector, RecordScanner } from './output.js';
import { token } from './protocol.js';
import { KILL_GRACE_MS, type ShellHost } from './shell.js';
import type { ExecOptions, ExecResult } from './types.js';

/**
 * $1 tag, $2 cwd, $3 command, $4 nonce. Reports its pid (= the exec's session id, since Docker
 * starts every exec in a new session) on stderr inside a nonce-framed record, then runs the
 * command with bash when present.
 */
const FRESH_WRAPPER = [
  'printf "__berth_%s__P%s__berth_%s__" "$4" "$$" "$4" >&2',
  'export __BERTH_JOB="$1"',
  'cd "$2" 2>/dev/null || { echo "berth: cannot cd to $2" >&2; exit 125; }',
  'if command -v bash >/dev/null 2>&1; then exec bash -c "$3"; fi',
  'exec /bin/sh -c "$3"',
].join('\n');

/** What a fresh exec needs from its session: the part of a shell's host without the recovery hooks. */
export type FreshHost = Pick<ShellHost, 'containers' | 'containerId' | 'user' | 'workdir' | 'env' | 'logger' | 'defaultTimeoutMs' | 'containerProblem'>;

export async function runFresh(host: FreshHost, command: string, opts: ExecOptions = {}): Promise<ExecResult> {
  if (typeof command !== 'string') throw new BerthError('BAD_INPUT', 'command must be a string');
  if (command.includes('\0')) throw new BerthError('BAD_INPUT', 'command contains a NUL byte, which no shell can pass on: remove it');
  const started = Date.now();
  const max = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const onOutput = opts.onOutput;
  const out = new OutputCollector(max, onOutput ? (s) => onOutput('stdout', s) : undefined);
  const err = new OutputCollector(max, onOutput ? (s) => onOutput('stderr', s) : undefined);
  const nonce = randomBytes(16).toString('hex');
  const tag = randomBytes(8).toString('hex');
  const errScan = new RecordScanner(token(nonce));
  let pid = 0;
  let interrupting: 'timeout' | 'abort' | undefined;
  const user = opts.user ?? host.user;
  const detach = new AbortController();
  let finished = false;

  const interrupt = async (why: 'timeout' | 'abort') => {
    if (interrupting || finished) return;
    interrupting = why;
    const req = { user, tag, sessionId: pid, startTick: 0, shellPid: 0, stateDir: '/tmp', keep: [] as number[] };
    try {
      await signalTargets(host.containers, host.containerId, { ...req, mode: 'term' });
      if (await waitFinished(KILL_GRACE_MS.term)) return;
      await signalTargets(host.containers, host.containerId, { ...req, mode: 'kill' });
      if (await waitFinished(KILL_GRACE_MS.kill)) return;
    } catch (e) {
      host.logger.warn('could not kill a fresh exec', { error: String(e) });
    }
    // Still attached after KILL: give up on the stream rather than hang the caller.
    detach.abort();
  };
  let wake: (() => void) | undefined;
  const waitFinished = (ms: number) =>
    new Promise<boolean>((resolve) => {
      if (finished) return resolve(true);
      const t = setTimeout(() => resolve(finished), ms);
      wake = () => {
        clearTimeout(t);
        resolve(true);
      };
    });

  if (opts.signal?.aborted) interrupting = 'abort';
  const timer = setTimeout(() => void interrupt('timeout'), opts.timeoutMs ?? host.defaultTimeoutMs);
  const onAbort = () => void interrupt('abort');
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  let exitCode: number | null = null;
  try {
    if (interrupting !== 'abort') {
      const r = await host.containers.run(host.containerId, {
        cmd: ['/bin/sh', '-c', FRESH_WRAPPER, 'berth-fresh', tag, opts.cwd ?? host.workdir, command, nonce],
        user,
        env: { ...host.env, ...opts.env },
        signal: detach.signal,
        onStdout: (b) => out.push(b),
        onStderr: (b) =>
          errScan.push(
            b,
            (payload) => err.push(payload),
            (body) => {
              if (body[0] === 'P') pid = Number(body.slice(1)) || 0;
              return true;
            },
          ),
      });
      exitCode = r.exitCode;
    }
  } catch (e) {
    const problem = await host.containerProblem().catch(() => undefined);
    throw problem ?? e;
  } finally {
    finished = true;
    wake?.();
    errScan.flush((b) => err.push(b));
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    out.endLive();
    err.endLive();
  }
  return {
    stdout: out.text(),
    stderr: err.text(),
    exitCode,
    durationMs: Date.now() - started,
    truncated: out.truncated || err.truncated,
    stdoutBytes: out.totalBytes,
    stderrBytes: err.totalBytes,
    timedOut: interrupting === 'timeout',
    aborted: interrupting === 'abort',
    shellRestarted: false,
    shellEnded: false,
    cwd: null,
    shell: null,
    oomKilled: false,
    containerRestarted: false,
  };
}

/**
 * Starting and ending a persistent shell's exec (shell.ts): the launcher, the optional FIFO
 * handshake (shell-transport.ts), the ready record, and the detach.
 */
import type { Writable } from 'node:stream';
import { BerthError } from '../../src/errors.js';
import { RecordScanner, type StreamName } from './output.js';
import { LAUNCHER, prelude, token } from './protocol.js';
import { type Attached, randomHex } from './shell-pending.js';
import type { ShellHost } from './shell.js';
import { fifoTransportWanted, openShellFifos } from './shell-transport.js';

const ATTACH_TIMEOUT_MS = 20_000;
const PID_TRIES = 40;
const PID_RETRY_MS = 10;

export interface AttachHooks {
  /** Bytes of the shell's stdout/stderr after its ready record. */
  onData(att: Attached, stream: StreamName, b: Buffer): void;
  /** The shell's output ended (it exited or was killed) after it was ready. */
  onEnd(att: Attached, err?: Error): void;
}

/** Start a shell for `stateDir` and wait for its ready record (or fail with the container's problem). */
export async function attachShell(h: ShellHost, name: string, stateDir: string, hooks: AttachHooks): Promise<Attached> {
  const nonce = randomHex(16);
  const fifo = fifoTransportWanted();
  let att: Attached | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    const scanner = new RecordScanner(token(nonce));
    const onRecord = (a: Attached, body: string): boolean => {
      if (body[0] === 'F') {
        // On the FIFO transport the shell has no relays: the runner reads its command FIFOs.
        void handshake(h, a, body === 'F1', (s, b) => route(a, s, b)).then(() => a.input.write(prelude(stateDir, h.workdir, nonce, Boolean(a.fifo))), reject);
        return true;
      }
      if (body[0] !== 'R') return true;
      const [pid, sid, restored, sh] = body.slice(1).split(' ');
      a.pid = Number(pid) || 0;
      a.sid = Number(sid) || 0;
      a.restoredState = restored === '1';
      a.bash = sh === 'bash';
      a.ready = false;
      resolve();
      return false;
    };
    // The launcher speaks first in FIFO mode: its offer may beat the exec's handle to us.
    const early: [StreamName, Buffer][] = [];
    const route = (a: Attached | undefined, stream: StreamName, b: Buffer) => {
      if (!a) return void early.push([stream, Buffer.from(b)]);
      if (!a.ready) return hooks.onData(a, stream, b);
      if (stream === 'stdout')
        scanner.push(
          b,
          () => {},
          (body) => onRecord(a, body),
        );
    };
    const ended = (a: Attached | undefined, err?: Error) => {
      if (!a || a.ended) return;
      a.ended = true;
      if (a.ready) reject(new BerthError('DOCKER_ERROR', `shell "${name}" ended while starting${err ? `: ${err.message}` : ''}`, { cause: err }));
      else hooks.onEnd(a, err);
    };
    h.containers
      .attach(h.containerId, {
        cmd: [...LAUNCHER, stateDir, fifo ? nonce : '-'],
        user: h.user,
        workdir: h.workdir,
        env: h.env,
        onStdout: (b) => route(att, 'stdout', b),
        onStderr: (b) => route(att, 'stderr', b),
        // Once the shell talks through FIFOs, their end (see handshake) is the shell's.
        onEnd: (err) => {
          if (!att?.fifo) ended(att, err);
        },
      })
      .then((exec) => {
        const a: Attached = { exec, stream: exec.stream, input: exec.stream, pid: 0, sid: 0, bash: false, restoredState: false, ended: false, ready: true };
        a.onFifoEnd = () => ended(a);
        att = a;
        for (const [stream, b] of early.splice(0)) route(a, stream, b);
        if (!fifo) exec.stream.write(prelude(stateDir, h.workdir, nonce));
      }, reject);
  });
  // The race below may settle on the timeout first; a later rejection must not go unhandled.
  ready.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ready,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new BerthError('TIMEOUT', `shell "${name}" did not start within ${ATTACH_TIMEOUT_MS} ms; check that the image has /bin/sh`)),
          ATTACH_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (err) {
    if (att) await detachShell(att, 0);
    const problem = await h.containerProblem().catch(() => undefined);
    throw problem ?? err;
  } finally {
    clearTimeout(timer);
  }
  return att!;
}

/**
 * The launcher offered FIFOs (F1) or could not make them (F0). Take them when this runner can
 * reach the launcher's process, and tell it which way to go on.
 */
async function handshake(h: ShellHost, a: Attached, offered: boolean, onData: (s: StreamName, b: Buffer) => void): Promise<void> {
  if (!offered) return;
  const pid = await execPid(a);
  const io = pid > 0 ? openShellFifos(pid, h.containerId, onData, () => a.onFifoEnd?.()) : undefined;
  if (io) {
    a.fifo = io;
    a.input = io.input;
  }
  a.stream.write(io ? 'go\n' : 'attach\n');
  if (!io) h.logger.debug('shell stays on the attach stream (its FIFOs are not reachable from here)', { pid });
}

type ExecState = Awaited<ReturnType<Attached['exec']['inspect']>>;

/**
 * The engine's view of the shell's exec, asked again every `delayMs` (at most `tries` times) until
 * `current` accepts it: the engine records a start's pid and an exit a little after we can see
 * them happen. Undefined when the exec cannot be inspected; else the last state seen.
 */
async function inspectExecUntil(a: Attached, current: (st: ExecState) => boolean, tries: number, delayMs: number): Promise<ExecState | undefined> {
  let st: ExecState | undefined;
  for (let i = 0; i < tries; i++) {
    st = await a.exec.inspect().catch(() => undefined);
    if (!st || current(st)) return st;
    await new Promise((r) => setTimeout(r, delayMs));
  }
  return st;
}

/**
 * The dead shell's exit code. On the FIFO transport the outputs' end can reach us before the
 * engine has recorded the exec's exit, so ask again briefly while it still says running.
 */
export async function execExitCode(att: Attached): Promise<number | null> {
  const st = await inspectExecUntil(att, (x) => !x.running, 40, 25);
  return st && !st.running ? st.exitCode : null;
}

/**
 * The launcher's host pid. The engine records it only after its start call returns, which can
 * be after the launcher already spoke: ask again briefly while it reads 0.
 */
async function execPid(a: Attached): Promise<number> {
  const st = await inspectExecUntil(a, (x) => x.pid !== 0, PID_TRIES, PID_RETRY_MS);
  return st ? Math.max(0, st.pid) : 0;
}

/** Close the shell's input (it exits after its current command) and wait up to `graceMs` for its end. */
export async function detachShell(a: Attached, graceMs: number): Promise<void> {
  if (a.ended) {
    release(a);
    return;
  }
  const ended = new Promise<void>((resolve) => {
    const t = setTimeout(resolve, graceMs);
    const done = () => {
      clearTimeout(t);
      resolve();
    };
    if (a.fifo) a.fifo.closed.then(done, done);
    else a.stream.once('close', done);
  });
  endQuietly(a.input);
  if (a.input !== a.stream) endQuietly(a.stream);
  await ended;
  release(a);
  a.ended = true;
}

function endQuietly(w: Writable): void {
  try {
    w.end();
  } catch {
    // The socket may already be gone.
  }
}

function release(a: Attached): void {
  a.fifo?.close();
  a.stream.destroy();
}

/**
 * The local fast path for a persistent shell's bytes. Through `docker exec` attach, every write
 * crosses runner → dockerd → containerd-shim → pipe → shell and every output chunk the way back:
 * with 50 busy sessions dockerd and the shims burnt about as much CPU per command as the shell
 * and the runner together. When the engine runs on this machine the runner instead talks to the
 * shell through three FIFOs the shell's launcher makes (protocol.ts LAUNCHER): it opens them
 * through /proc/<host pid>/fd/N, a magic link to the launcher's open file, so no path inside the
 * agent-controlled filesystem is ever resolved on the host. The exec stays attached (its stdout is
 * kept open by the shell on fd 3) only so that its end still says the shell died.
 *
 * What the agent can do to these FIFOs it could already do to the attach pipes (read or write
 * them through /proc/<shell>/fd/N as the same user); records stay nonce-framed either way.
 * What is checked here: the pid is the exec's (from the engine, not from the shell), it is in this
 * container's cgroup (a remote engine's pid names some unrelated local process, or none), and each
 * opened file is a FIFO both before and after opening (O_NONBLOCK | O_NOCTTY: opening a FIFO has
 * no side effect, and nothing else is ever kept).
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import { type OnReadOpts, Socket, type SocketConstructorOpts } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { StreamName } from './output.js';

/** Where every shell's output FIFOs are read into; see openShellFifos. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** The launcher's fds for the command FIFO and the stdout/stderr FIFOs (protocol.ts LAUNCHER). */
export const FIFO_FDS = { input: 4, stdout: 5, stderr: 6 } as const;
/** The shell's write ends of a command's stdout/stderr FIFOs (protocol.ts, direct mode). */
export const COMMAND_FIFO_FDS = { stdout: 6, stderr: 8 } as const;

/** Set BERTH_SHELL_TRANSPORT=attach to keep every shell on the Docker attach stream. */
export function fifoTransportWanted(): boolean {
  return process.platform === 'linux' && process.env.BERTH_SHELL_TRANSPORT !== 'attach';
}

export interface FifoIo {
  readonly input: Socket;
  /**
   * Write to the command FIFO: straight from this call when nothing is queued on `input` (a
   * command line fits the pipe), else, or for what did not fit, through `input`'s queue.
   */
  write(text: string): void;
  /** Resolves once both output FIFOs reached EOF: the shell is gone. */
  readonly closed: Promise<void>;
  /**
   * Read the shell's command FIFOs directly (its fds 6 and 8, protocol.ts direct mode), in place
   * of the pair opened before, which the shell has handed to drainers. False when they could not
   * be opened (the shell is then told so and fails the command's setup).
   */
  openCommandFifos(onData: (stream: StreamName, b: Buffer) => void): boolean;
  /**
   * Read what the open command FIFO of `stream` holds right now, without waiting, to `onData`
   * (at most a few MiB: a writer that never stops is left to the event loop).
   */
  takeCommandOutput(stream: StreamName, onData: (b: Buffer) => void): void;
  /** Stop reading the command FIFOs (before the kill helper hands them to drainers: the only reader then). */
  dropCommandFifos(): void;
  close(): void;
}

/**
 * This kernel's uptime in seconds as /proc/uptime prints it ("12345.67"), or undefined. A shell on
 * the FIFO transport shares this kernel (its pid is in our /proc), so this is its clock too: taken
 * before a command is written, it is at or before the start of every process the command makes.
 * Read from the file at most once a second and carried forward on the monotonic clock in between
 * (readFileSync per command cost more runner CPU than the shell's own read saved). Monotonic time
 * never runs ahead of boot time (it only misses a suspend), so the value never passes the truth.
 */
export function hostUptime(): string | undefined {
  const now = performance.now();
  if (!uptimeAnchor || now - uptimeAnchor.at > 1000) {
    try {
      const s = Number(readFileSync('/proc/uptime', 'latin1').split(' ', 1)[0]);
      uptimeAnchor = Number.isFinite(s) ? { at: now, seconds: s } : undefined;
    } catch {
      uptimeAnchor = undefined;
    }
  }
  if (!uptimeAnchor) return undefined;
  return (Math.floor((uptimeAnchor.seconds + (now - uptimeAnchor.at) / 1000) * 100) / 100).toFixed(2);
}
let uptimeAnchor: { at: number; seconds: number } | undefined;

/** True when host pid `pid` is a process of container `containerId` (a full or 12+ hex id). */
export function pidInContainer(pid: number, containerId: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || !/^[0-9a-f]{12,64}$/.test(containerId)) return false;
  try {
    return readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(containerId);
  } catch {
    return false;
  }
}

function openFifo(pid: number, fd: number, write: boolean): number {
  const path = `/proc/${pid}/fd/${fd}`;
  const before = statSync(path);
  if (!before.isFIFO()) throw new Error(`${path} is not a FIFO`);
  const n = openSync(path, (write ? constants.O_WRONLY : constants.O_RDONLY) | constants.O_NONBLOCK | constants.O_NOCTTY);
  const after = fstatSync(n);
  if (!after.isFIFO() || after.ino !== before.ino || after.dev !== before.dev) {
    closeSync(n);
    throw new Error(`${path} changed while being opened`);
  }
  return n;
}

/**
 * Open the shell launcher's FIFOs (host pid `pid`, waiting for the runner's go) and wire the two
 * output FIFOs to `onData`. Returns undefined when this runner cannot reach them (remote engine,
 * another pid namespace, no permission): the caller then stays on the attach stream.
 */
export function openShellFifos(pid: number, containerId: string, onData: (stream: StreamName, b: Buffer) => void, onEnd: () => void): FifoIo | undefined {
  if (!pidInContainer(pid, containerId)) return undefined;
  const fds: number[] = [];
  try {
    fds.push(openFifo(pid, FIFO_FDS.input, true), openFifo(pid, FIFO_FDS.stdout, false), openFifo(pid, FIFO_FDS.stderr, false));
    // The pid could have been reused between the cgroup check and the opens only if the launcher
    // died meanwhile; check again now that the files are held.
    if (!pidInContainer(pid, containerId)) throw new Error('the shell launcher went away');
  } catch {
    for (const n of fds) closeSync(n);
    return undefined;
  }
  const [inFd, outFd, errFd] = fds as [number, number, number];
  const input = new Socket({ fd: inFd, readable: false, writable: true });
  let open = 2;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  const reader = (fd: number, stream: StreamName) => {
    const s = fifoReader(fd, (b) => onData(stream, b));
    s.once('close', () => {
      if (--open > 0) return;
      resolveClosed();
      onEnd();
    });
    return s;
  };
  const outputs = [reader(outFd, 'stdout'), reader(errFd, 'stderr')];
  // A shell that died leaves EPIPE on the next write; its death is reported by the outputs' end.
  input.on('error', () => undefined);
  let commandFifos: { socket: Socket; fd: number }[] = [];
  const dropCommandFifos = () => {
    for (const c of commandFifos.splice(0)) c.socket.destroy();
  };
  return {
    input,
    closed,
    write(text) {
      // Never once `input` is destroyed: its fd number may belong to another file by then.
      if (input.writableLength > 0 || input.destroyed) return void input.write(text);
      let n = 0;
      try {
        n = writeSync(inFd, text);
      } catch (err) {
        // EAGAIN (a full pipe) goes through the queue; EPIPE is the shell's death, reported by the outputs' end.
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      }
      if (n < Buffer.byteLength(text)) input.write(Buffer.from(text).subarray(n));
    },
    openCommandFifos(onCommandData) {
      dropCommandFifos();
      const opened: number[] = [];
      try {
        opened.push(openFifo(pid, COMMAND_FIFO_FDS.stdout, false), openFifo(pid, COMMAND_FIFO_FDS.stderr, false));
        if (!pidInContainer(pid, containerId)) throw new Error('the shell went away');
      } catch {
        for (const n of opened) closeSync(n);
        return false;
      }
      const [o, e] = opened as [number, number];
      commandFifos = [
        { socket: fifoReader(o, (b) => onCommandData('stdout', b)), fd: o },
        { socket: fifoReader(e, (b) => onCommandData('stderr', b)), fd: e },
      ];
      return true;
    },
    dropCommandFifos,
    takeCommandOutput(stream, onData) {
      const c = commandFifos[stream === 'stdout' ? 0 : 1];
      // Never once its socket is destroyed: the fd number may belong to another file by then.
      if (c && !c.socket.destroyed) readAvailable(c.fd, onData);
    },
    close() {
      input.destroy();
      for (const s of outputs) s.destroy();
      dropCommandFifos();
    },
  };
}

/** Most a synchronous read of a FIFO takes in one go (64 reads of the shared buffer). */
const TAKE_READS = 64;

/** Read non-blocking FIFO `fd` until it is empty (or TAKE_READS reads), into the shared buffer. */
function readAvailable(fd: number, onData: (b: Buffer) => void): void {
  for (let i = 0; i < TAKE_READS; i++) {
    const n = readNow(fd);
    if (n <= 0) return;
    onData(READ_BUFFER.subarray(0, n));
  }
}

/**
 * One read of `fd` into the shared buffer: the byte count, 0 at EOF, -1 when empty (EAGAIN) or
 * failing (the socket reports real errors). An empty FIFO is the usual answer, and Node says so
 * with an exception: without a stack trace it costs half as much.
 */
function readNow(fd: number): number {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return readSync(fd, READ_BUFFER, 0, READ_BUFFER.length, null);
  } catch {
    return -1;
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * A socket reading FIFO `fd` into one shared buffer (every consumer copies what it keeps,
 * synchronously): a plain 'data' stream allocated and zeroed a 64 KiB buffer per read. Errors are
 * ignored: an end is reported by 'close'. (The constructor honours `onread` as connect() does;
 * @types/node declares it on connect only.)
 */
function fifoReader(fd: number, onData: (b: Buffer) => void): Socket {
  const onread: OnReadOpts = { buffer: READ_BUFFER, callback: (n) => (onData(READ_BUFFER.subarray(0, n)), true) };
  const s = new Socket({ fd, readable: true, writable: false, allowHalfOpen: true, onread } as SocketConstructorOpts);
  s.on('error', () => undefined);
  return s;
}

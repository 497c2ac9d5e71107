/**
 * Per-command state of a persistent shell (shell.ts): the attached exec, and one command in flight
 * with its record parsing (protocol.ts) and output collection.
 */
import { randomBytes } from 'node:crypto';
import type { Duplex, Writable } from 'node:stream';
import type { AttachedExec } from '../../docker/index.js';
import { OutputCollector, RecordScanner, type StreamName } from './output.js';
import { token } from './protocol.js';
import type { FifoIo } from './shell-transport.js';
import type { ExecOptions } from './types.js';

export interface Attached {
  readonly exec: AttachedExec;
  /** The exec's attach stream (the launcher's stdio; the shell's too unless it moved to FIFOs). */
  readonly stream: Duplex;
  /** Where commands go: the command FIFO, or the attach stream. */
  input: Writable;
  /** The FIFO transport, once the shell moved to it (shell-transport.ts). */
  fifo?: FifoIo;
  onFifoEnd?: () => void;
  pid: number;
  sid: number;
  bash: boolean;
  restoredState: boolean;
  ended: boolean;
  /** Still waiting for the ready record (bytes go to the handshake, not to a command). */
  ready: boolean;
}

export interface Begin {
  pid: number;
  sid: number;
  /** The runner reads the command's FIFOs itself (no relays; protocol.ts direct mode). */
  direct: boolean;
  relays: number[];
  startTick: number;
  drainers: number[];
}

export type Outcome =
  { kind: 'complete'; exitCode: number; cwd: string } | { kind: 'exited'; exitCode: number; cwd: string } | { kind: 'died' } | { kind: 'killed' };

/**
 * Random bytes for nonces and tags, drawn from the CSPRNG a block at a time: one command needs 24,
 * and a synchronous randomBytes() call per field cost more than the rest of the command's setup.
 * Pooled bytes are just as unpredictable; each is handed out once.
 */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolAt = 0;

export function randomHex(bytes: number): string {
  if (poolAt + bytes > pool.length) {
    pool = randomBytes(POOL_BYTES);
    poolAt = 0;
  }
  const hex = pool.toString('hex', poolAt, poolAt + bytes);
  poolAt += bytes;
  return hex;
}

/** The stdout begin record's fields: `B<pid> <sid> <relay-out> <relay-err> <uptime> <drainer> <drainer>`. */
function parseBegin(body: string): Begin {
  const f = body.slice(1).split(' ');
  const up = f[4] ?? '0';
  return {
    pid: uint(f[0]),
    sid: uint(f[1]),
    direct: f[2] === '-',
    relays: positives(uint(f[2]), uint(f[3])),
    startTick: /^\d+(\.\d+)?$/.test(up) ? Math.floor(Number(up) * 100) : 0,
    drainers: positives(uint(f[5]), uint(f[6])),
  };
}

function uint(s: string | undefined): number {
  return s !== undefined && /^\d+$/.test(s) ? Number(s) : 0;
}

function positives(a: number, b: number): number[] {
  return a > 0 ? (b > 0 ? [a, b] : [a]) : b > 0 ? [b] : [];
}

/** How shells say a fork failed: busybox ash, bash, and libc's strerror(EAGAIN). */
const FORK_FAILED = /can't fork|fork: retry|fork: Resource temporarily unavailable|Cannot fork|Resource temporarily unavailable/i;

/** The command's stderr says a fork failed (only looked at when it wrote to stderr at all). */
export function forkFailed(p: Pending): boolean {
  return p.out.stderr.totalBytes > 0 && FORK_FAILED.test(p.out.stderr.text().slice(-4096));
}

/**
 * A command (or its background jobs) failing to fork, a failed setup, or a shell that had to be
 * killed: maybe a fork bomb filled the process table, and only a container restart helps.
 */
export function suspicious(p: Pending, outcome: Outcome): boolean {
  return setupFailed(p.begin) || outcome.kind === 'killed' || forkFailed(p);
}

/** The outcome an OOM kill would leave (exit 137, or no exit code at all): worth reading the OOM counter. */
export function mayBeOom(outcome: Outcome): boolean {
  return outcome.kind !== 'complete' || outcome.exitCode === 137;
}

/** Write to the shell's stdin: the command FIFO when the shell moved to it (FifoIo.write). */
export function send(att: Attached, text: string): void {
  if (att.fifo) att.fifo.write(text);
  else att.input.write(text);
}

/** Direct mode: stderr kept aside before the begin record, at most (beyond it: dropped). */
const EARLY_MAX = 1024 * 1024;

/** The shell could not set up the command's output pipes (the command never ran). */
export function setupFailed(b: Begin | undefined): boolean {
  return Boolean(b && !b.direct && b.relays.length === 0);
}

/** One command in flight: parses both streams' records and collects the payload. */
export class Pending {
  readonly nonce = randomHex(16);
  readonly tag = randomHex(8);
  readonly scanners: Record<StreamName, RecordScanner>;
  readonly phase: Record<StreamName, 'begin' | 'body' | 'done'> = { stdout: 'begin', stderr: 'begin' };
  readonly out: Record<StreamName, OutputCollector>;
  begin: Begin | undefined;
  end: { kind: 'E' | 'X'; exitCode: number; cwd: string } | undefined;
  outcome: Outcome | undefined;
  interrupting: 'timeout' | 'abort' | undefined;
  /** The interrupt escalated to restarting the container. */
  restartedContainer = false;
  /** ShellHost.restartCount() when the command was queued to run. */
  restartsBefore = 0;
  readonly done: Promise<Outcome>;
  /** The shell made a new pair of command FIFOs and waits for the runner to open them (direct mode). */
  onMake: (() => void) | undefined;
  /** Scanners for the shell's own stdout/stderr in direct mode; made on first use (usually never). */
  #control: Record<StreamName, RecordScanner> | undefined;
  /** The stream's begin record came through the shell's own stdout/stderr (a failed setup). */
  readonly #bodyOnControl: Record<StreamName, boolean> = { stdout: false, stderr: false };
  #resolve!: (o: Outcome) => void;
  #waiters: (() => void)[] = [];
  /** Direct mode (see startDirect): reads what the stderr FIFO holds, at the stdout end record. */
  #takeStderr: (() => void) | undefined;
  /** Direct mode: stderr read before the stdout begin record (copies), at most EARLY_MAX bytes. */
  #early: Buffer[] = [];
  #earlyLen = 0;

  /** The record token's bytes, shared by this command's scanners. */
  readonly #token: Buffer;

  constructor(maxBytes: number, onOutput: ExecOptions['onOutput']) {
    const t = (this.#token = Buffer.from(token(this.nonce), 'latin1'));
    this.scanners = { stdout: new RecordScanner(t), stderr: new RecordScanner(t) };
    this.out = {
      stdout: new OutputCollector(maxBytes, onOutput ? (s) => onOutput('stdout', s) : undefined),
      stderr: new OutputCollector(maxBytes, onOutput ? (s) => onOutput('stderr', s) : undefined),
    };
    this.done = new Promise((r) => (this.#resolve = r));
  }

  /**
   * Direct mode (protocol.ts): the stderr FIFO carries no records. The command's stderr is what it
   * holds from the stdout begin record on (bytes read before that one are kept aside until it
   * comes), up to the stdout end record, at which `takeStderr` feeds this command what the FIFO
   * still holds: the shell wrote all of it before that record.
   */
  startDirect(takeStderr: () => void): void {
    this.#takeStderr = takeStderr;
  }

  feed(stream: StreamName, chunk: Buffer): void {
    if (this.outcome || this.phase[stream] === 'done') return;
    if (stream === 'stderr' && this.#takeStderr && this.phase.stderr === 'begin') {
      // The other FIFO may hold the begin record already: keep these until it is read.
      if (this.#earlyLen < EARLY_MAX) this.#early.push(Buffer.from(chunk));
      this.#earlyLen += chunk.length;
      return;
    }
    this.scanners[stream].push(
      chunk,
      (payload) => {
        if (this.phase[stream] === 'body' && !this.#bodyOnControl[stream]) this.out[stream].push(payload);
      },
      (body) => this.#record(stream, body, false),
    );
  }

  /**
   * Bytes from the shell's own stdout/stderr when the runner reads the command FIFOs directly:
   * records only (M, a fallback end record, a failed setup), and payload only after a begin
   * record that came this way (the setup failure's message). Anything else there is not the
   * command's.
   */
  feedControl(stream: StreamName, chunk: Buffer): void {
    if (this.outcome || this.phase[stream] === 'done') return;
    this.#control ??= { stdout: new RecordScanner(this.#token), stderr: new RecordScanner(this.#token) };
    this.#control[stream].push(
      chunk,
      (payload) => {
        if (this.phase[stream] === 'body' && this.#bodyOnControl[stream]) this.out[stream].push(payload);
      },
      (body) => this.#record(stream, body, true),
    );
  }

  #record(stream: StreamName, body: string, control: boolean): boolean {
    const kind = body[0];
    if (kind === 'M' && control && stream === 'stdout' && this.onMake) {
      // Once per command: a second answer would reach the shell as a command line.
      const make = this.onMake;
      this.onMake = undefined;
      // What the old pair's stderr held belongs to no command.
      this.#dropEarly();
      make();
      return true;
    }
    if (this.phase[stream] === 'begin') {
      if (kind !== 'B') return true;
      this.#bodyOnControl[stream] = control;
      if (stream === 'stdout') this.begin = parseBegin(body);
      this.phase[stream] = 'body';
      // Direct mode: the command began; its stderr so far was kept aside. (A begin record through
      // the shell's own stdout is a failed setup: then both streams' records come that way.)
      if (stream === 'stdout' && this.#takeStderr) {
        if (control) this.#takeStderr = undefined;
        else this.#startStderr();
      }
      return true;
    }
    if (this.phase[stream] === 'body' && (kind === 'E' || kind === 'X')) {
      this.phase[stream] = 'done';
      if (stream === 'stdout') {
        const rest = body.slice(1);
        const sp = rest.indexOf(' ');
        const code = Number(sp === -1 ? rest : rest.slice(0, sp));
        this.end = { kind, exitCode: Number.isInteger(code) ? code : 1, cwd: sp === -1 ? '' : rest.slice(sp + 1) };
        if (!control && this.#takeStderr) {
          this.#takeStderr();
          this.phase.stderr = 'done';
        }
      }
      if (this.phase.stdout === 'done' && this.phase.stderr === 'done' && this.end) {
        this.finish(
          this.end.kind === 'X'
            ? { kind: 'exited', exitCode: this.end.exitCode, cwd: this.end.cwd }
            : { kind: 'complete', exitCode: this.end.exitCode, cwd: this.end.cwd },
        );
      }
      return false;
    }
    return true;
  }

  #startStderr(): void {
    this.phase.stderr = 'body';
    const early = this.#early;
    this.#dropEarly();
    for (const b of early) this.feed('stderr', b);
  }

  #dropEarly(): void {
    if (this.#early.length) this.#early = [];
    this.#earlyLen = 0;
  }

  finish(o: Outcome): void {
    if (this.outcome) return;
    this.outcome = o;
    this.out.stdout.endLive();
    this.out.stderr.endLive();
    this.#resolve(o);
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Resolves true when the command finished within `ms`. */
  settledWithin(ms: number): Promise<boolean> {
    if (this.outcome) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(Boolean(this.outcome)), ms);
      this.#waiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }
}

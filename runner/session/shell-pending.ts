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

  constructor(maxBytes: number, onOutput: ExecOptions['onOutput']) {
    const t = token(this.nonce);
    this.scanners = { stdout: new RecordScanner(t), stderr: new RecordScanner(t) };
    this.out = {
      stdout: new OutputCollector(maxBytes, onOutput ? (s) => onOutput('stdout', s) : undefined),
      stderr: new OutputCollector(maxBytes, onOutput ? (s) => onOutput('stderr', s) : undefined),
    };
    this.done = new Promise((r) => (this.#resolve = r));
  }

  feed(stream: StreamName, chunk: Buffer): void {
    if (this.outcome || this.phase[stream] === 'done') return;
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
    this.#control ??= { stdout: new RecordScanner(token(this.nonce)), stderr: new RecordScanner(token(this.nonce)) };
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
    if (kind === 'M' && control && stream === 'stdout' && this.phase.stdout === 'begin') {
      // Once per command: a second answer would reach the shell as a command line.
      const make = this.onMake;
      this.onMake = undefined;
      make?.();
      return true;
    }
    if (this.phase[stream] === 'begin') {
      if (kind !== 'B') return true;
      this.#bodyOnControl[stream] = control;
      if (stream === 'stdout') this.begin = parseBegin(body);
      this.phase[stream] = 'body';
      return true;
    }
    if (this.phase[stream] === 'body' && (kind === 'E' || kind === 'X')) {
      this.phase[stream] = 'done';
      if (stream === 'stdout') {
        const rest = body.slice(1);
        const sp = rest.indexOf(' ');
        const code = Number(sp === -1 ? rest : rest.slice(0, sp));
        this.end = { kind, exitCode: Number.isInteger(code) ? code : 1, cwd: sp === -1 ? '' : rest.slice(sp + 1) };
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

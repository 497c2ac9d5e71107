/**
 * Progress of the single-container path, read from its output. Before each command the script
 * writes a marker carrying a per-run nonce to stdout and to stderr; each stream is parsed on its
 * own so output stays attributed to the command that wrote it, and phases, headers and timers
 * advance when both streams passed a marker.
 */
import { Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { PhaseName, PlanCommand } from '../plan.js';
import { Tail, type CommandResult, type PhaseOutcome, type PhaseResult, type PipelineEvent } from './types.js';

export interface DirectCommand {
  readonly phase: PhaseName;
  readonly cmd: PlanCommand;
}

type Stream = 'stdout' | 'stderr';

export interface MarkerIo {
  readonly tailChars: number;
  readonly emit: (e: PipelineEvent) => void;
  /** Called when a command starts (the host re-arms its timeout). */
  readonly onCommand: () => void;
  readonly phases: Map<PhaseName, PhaseResult>;
}

/** Whether `s` could be the beginning of `tag` followed by digits and `;`. */
export function isMarkerPrefix(s: string, tag: string): boolean {
  if (s.length <= tag.length) return tag.startsWith(s);
  return s.startsWith(tag) && /^[0-9]*$/.test(s.slice(tag.length));
}

export class MarkerProgress {
  /** The command both streams have reached. */
  current = -1;
  readonly #cmds: readonly DirectCommand[];
  readonly #tag: string;
  readonly #tails = new Map<PhaseName, Tail>();
  readonly #starts: number[] = [];
  readonly #phaseStarts = new Map<PhaseName, number>();
  readonly #seen = { stdout: -1, stderr: -1 };
  readonly #held: Record<Stream, [number, string][]> = { stdout: [], stderr: [] };
  readonly #io: MarkerIo;

  constructor(cmds: readonly DirectCommand[], tag: string, io: MarkerIo) {
    this.#io = io;
    this.#cmds = cmds;
    this.#tag = tag;
  }

  get last(): DirectCommand {
    return this.#cmds[this.current]!;
  }

  tailOf(ph: PhaseName): Tail {
    let t = this.#tails.get(ph);
    if (!t) this.#tails.set(ph, (t = new Tail(this.#io.tailChars)));
    return t;
  }

  endPhase(ph: PhaseName, upTo: number, outcome: PhaseOutcome, lastCode: number | null, now: number): void {
    const starts = this.#starts;
    const idx = this.#cmds
      .map((c, i) => [c, i] as const)
      .filter(([c, i]) => c.phase === ph && i <= upTo)
      .map(([, i]) => i);
    const results: CommandResult[] = idx.map((i) => ({
      command: this.#cmds[i]!.cmd.display,
      exitCode: i < upTo ? 0 : lastCode,
      durationMs: (i < upTo ? (starts[i + 1] ?? now) : now) - (starts[i] ?? now),
    }));
    const durationMs = now - (this.#phaseStarts.get(ph) ?? now);
    const exitCode = results.length ? (results[results.length - 1]?.exitCode ?? null) : null;
    this.#io.emit({ type: 'phase-end', phase: ph, outcome, exitCode, durationMs });
    this.#io.phases.set(ph, { name: ph, outcome, exitCode, durationMs, commands: results, tail: this.tailOf(ph).text });
  }

  advance(to: number): void {
    while (this.current < to) {
      const now = Date.now();
      const prev = this.#cmds[this.current];
      const next = this.#cmds[this.current + 1]!;
      if (prev && prev.phase !== next.phase) this.endPhase(prev.phase, this.current, 'passed', 0, now);
      this.current++;
      this.#starts[this.current] = now;
      if (!prev || prev.phase !== next.phase) {
        this.#phaseStarts.set(next.phase, now);
        this.#io.emit({ type: 'phase-start', phase: next.phase, parallel: false });
      }
      this.#io.emit({ type: 'command-start', phase: next.phase, command: next.cmd.display });
      this.#io.onCommand();
    }
  }

  /** After both streams ended: whatever a stream still holds belongs to the furthest command it reached. */
  finish(): void {
    this.advance(Math.max(this.#seen.stdout, this.#seen.stderr, 0));
    for (const s of ['stdout', 'stderr'] as const) for (const [i, t] of this.#held[s].splice(0)) this.#deliver(s, i, t);
  }

  #deliver(s: Stream, idx: number, text: string): void {
    if (text === '' || idx < 0) return;
    const phase = this.#cmds[idx]!.phase;
    this.tailOf(phase).push(text);
    this.#io.emit({ type: 'output', phase, stream: s, text });
  }

  #sync(): void {
    this.advance(Math.min(this.#seen.stdout, this.#seen.stderr));
    for (const s of ['stdout', 'stderr'] as const) {
      while (this.#held[s].length && this.#held[s][0]![0] <= this.current) {
        const [i, t] = this.#held[s].shift()!;
        this.#deliver(s, i, t);
      }
    }
  }

  #out(s: Stream, text: string): void {
    if (this.#seen[s] <= this.current && this.#held[s].length === 0) this.#deliver(s, this.#seen[s], text);
    else this.#held[s].push([this.#seen[s], text]);
  }

  /** A sink for one demuxed stream; call flush() once the stream ended. */
  sink(s: Stream): { stream: Writable; flush: () => void } {
    const decoder = new StringDecoder('utf8');
    const buf = { text: '' };
    return {
      stream: new Writable({
        write: (chunk: Buffer, _enc, done) => {
          this.#feed(s, buf, decoder.write(chunk), false);
          done();
        },
      }),
      flush: () => this.#feed(s, buf, decoder.end(), true),
    };
  }

  #feed(s: Stream, b: { text: string }, text: string, final: boolean): void {
    const tag = this.#tag;
    b.text += text;
    for (;;) {
      const at = b.text.indexOf(tag);
      if (at < 0) {
        // Keep back a suffix that may be the start of a marker split across chunks.
        let keep = final ? 0 : Math.min(b.text.length, tag.length + 12);
        while (keep > 0 && !isMarkerPrefix(b.text.slice(b.text.length - keep), tag)) keep--;
        this.#out(s, b.text.slice(0, b.text.length - keep));
        b.text = b.text.slice(b.text.length - keep);
        return;
      }
      const end = b.text.indexOf(';', at + tag.length);
      if (end < 0) {
        this.#out(s, final ? b.text : b.text.slice(0, at));
        b.text = final ? '' : b.text.slice(at);
        return;
      }
      this.#out(s, b.text.slice(0, at));
      const n = Number(b.text.slice(at + tag.length, end));
      b.text = b.text.slice(end + 1);
      if (Number.isInteger(n) && n === this.#seen[s] + 1 && n < this.#cmds.length) {
        this.#seen[s] = n;
        this.#sync();
      }
    }
  }
}

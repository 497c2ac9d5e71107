/**
 * The local executor's public result and event types, and the small pieces every part of a run
 * shares (the tail buffer, formatting, the abort marker).
 */
import { BerthError, isBerthError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import type { Docker } from '../../docker/index.js';
import type { PhaseName, Plan } from '../plan.js';

export type PhaseOutcome = 'passed' | 'failed' | 'timeout' | 'aborted' | 'skipped';
export type RunOutcome = 'passed' | 'failed' | 'timeout' | 'aborted';

/** Live progress. Output chunks are decoded UTF-8 text, not split into lines. */
export type PipelineEvent =
  | { readonly type: 'phase-start'; readonly phase: PhaseName; readonly parallel: boolean }
  | { readonly type: 'command-start'; readonly phase: PhaseName; readonly command: string }
  | { readonly type: 'output'; readonly phase: PhaseName; readonly stream: 'stdout' | 'stderr'; readonly text: string }
  | {
      readonly type: 'phase-end';
      readonly phase: PhaseName;
      readonly outcome: PhaseOutcome;
      readonly exitCode: number | null;
      readonly durationMs: number;
    }
  | { readonly type: 'info'; readonly message: string };

export interface CommandResult {
  readonly command: string;
  /** null when the command did not finish (timeout, abort). */
  readonly exitCode: number | null;
  readonly durationMs: number;
}

export interface PhaseResult {
  readonly name: PhaseName;
  readonly outcome: PhaseOutcome;
  /** The exit code of the last command run in the phase; null if none finished. */
  readonly exitCode: number | null;
  readonly durationMs: number;
  readonly commands: readonly CommandResult[];
  /** The last `tailChars` characters of the phase's stdout and stderr, interleaved. */
  readonly tail: string;
  /**
   * Ready dependencies (setup and install phases only, when the install is cacheable): `hit`
   * means the phase did not run and the run started from the snapshot `image`; a miss that
   * passed saved one (`saved`).
   */
  readonly cache?: PhaseCache;
}

export interface PhaseCache {
  readonly hit: boolean;
  /** The deps key (docker/deps-key.ts). */
  readonly key: string;
  /** The snapshot image (berth-deps/<repo>:<key>). */
  readonly image: string;
  /** On a miss: whether the result was saved for the next run. */
  readonly saved?: boolean;
}

export interface PipelineResult {
  readonly runId: string;
  readonly target: Plan['target'];
  readonly image: string;
  readonly ok: boolean;
  readonly outcome: RunOutcome;
  /**
   * 0 on success; the failing command's exit code (for a parallel `check`, the first failing step
   * in build, test, lint order); 124 on timeout; 130 when aborted.
   */
  readonly exitCode: number;
  readonly durationMs: number;
  /** Every phase of the plan in order: setup, install, then the steps; unreached ones are skipped. */
  readonly phases: readonly PhaseResult[];
  readonly failedPhase: PhaseName | undefined;
}

export interface RunPlanLocalOptions {
  /** Host directory to copy in. Only read, never written. */
  readonly source: string;
  readonly docker?: Docker;
  /** Abort: containers are removed at once and the result's outcome is 'aborted' (exit 130). */
  readonly signal?: AbortSignal;
  readonly onOutput?: (event: PipelineEvent) => void;
  readonly logger?: Logger;
  /** Extra labels for the run's containers (the MCP server tags its runs; tests tag theirs). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Characters of output kept per phase in the result. Default 4096. */
  readonly tailChars?: number;
  readonly maxSourceBytes?: number;
  /** Reuse and save ready-deps snapshots (docker/deps.ts). Default true. */
  readonly depsCache?: boolean;
}

export const EXIT_TIMEOUT = 124;
export const EXIT_ABORTED = 130;

/** Thrown inside a run once it is aborted; execute() turns it into the 'aborted' outcome. */
export function aborted(): BerthError {
  return new BerthError('ABORTED', 'the pipeline run was aborted', { details: { pipelineAborted: true } });
}

export function isAborted(err: unknown): boolean {
  return isBerthError(err, 'ABORTED') && err.details?.pipelineAborted === true;
}

export function isRoot(user: string): boolean {
  const name = user.split(':')[0];
  return name === '0' || name === 'root';
}

/** Keeps the last `max` characters written. */
export class Tail {
  #text = '';
  readonly #max: number;
  constructor(max: number) {
    this.#max = max;
  }
  push(s: string): void {
    this.#text += s;
    if (this.#text.length > this.#max * 2) this.#text = this.#text.slice(-this.#max);
  }
  get text(): string {
    return this.#text.length > this.#max ? this.#text.slice(-this.#max) : this.#text;
  }
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${Math.round((ms % 60_000) / 1000)}s`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

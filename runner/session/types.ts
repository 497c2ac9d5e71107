/** Public shapes of sessions, shells, exec results and background processes. */
import type { StreamName } from './output.js';

export type { StreamName } from './output.js';

export interface ExecOptions {
  /** Named persistent shell (default "main"). Ignored with `fresh`. */
  readonly shell?: string;
  /** Kill the command after this long (default: the runner's execTimeoutMs, 10 min). */
  readonly timeoutMs?: number;
  /** Aborting kills the command like a timeout does and resolves with `aborted: true`. */
  readonly signal?: AbortSignal;
  /** One-shot `docker exec` instead of a persistent shell: no cwd/env carried over. */
  readonly fresh?: boolean;
  /** `fresh` only: working directory (default: the spec's workdir). */
  readonly cwd?: string;
  /** `fresh` only: extra environment variables. */
  readonly env?: Readonly<Record<string, string>>;
  /** `fresh` only: run as this user ("uid:gid" or name) instead of the session's. */
  readonly user?: string;
  /** Per-stream cap; beyond it the head and tail are kept (default 1 MiB). */
  readonly maxOutputBytes?: number;
  /** Live output, UTF-8 decoded across chunk boundaries. Called synchronously; keep it cheap. */
  readonly onOutput?: (stream: StreamName, chunk: string) => void;
}

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  /**
   * The command's exit status ($?), 128+N when a signal killed it; null when there is none to
   * report (the shell had to be killed, or the command was never started).
   */
  readonly exitCode: number | null;
  readonly durationMs: number;
  /** True when either stream exceeded maxOutputBytes (its middle was dropped). */
  readonly truncated: boolean;
  /** Total bytes the command wrote to each stream (including dropped ones). */
  readonly stdoutBytes: number;
  readonly stderrBytes: number;
  readonly timedOut: boolean;
  readonly aborted: boolean;
  /** This command ran in a new shell that replaced one that had ended; cwd and env were restored. */
  readonly shellRestarted: boolean;
  /**
   * The shell ended during this command (`exit`, a crash, or killed because it was stuck after a
   * timeout). The next command gets a fresh shell with the saved cwd/env.
   */
  readonly shellEnded: boolean;
  /** The shell's working directory after the command (null for fresh execs or when unknown). */
  readonly cwd: string | null;
  /** The shell that ran it, or null for a fresh exec. */
  readonly shell: string | null;
  /** The container's memory cgroup recorded an OOM kill during this command. */
  readonly oomKilled: boolean;
  /**
   * The container hit its process limit (a fork bomb) and berth restarted it to get it usable
   * again: files and installed packages are kept, every process in it (servers too) was killed.
   */
  readonly containerRestarted: boolean;
  /**
   * Set on the first result after berth reopened the session because its container had died or
   * vanished (docker kill, a dockerd restart, docker rm): what happened and what was lost.
   */
  readonly notice?: string;
}

export interface ShellInfo {
  readonly name: string;
  readonly attached: boolean;
  readonly busy: boolean;
  readonly pid: number | null;
  readonly bash: boolean | null;
}

export interface ProcessInfo {
  readonly name: string;
  readonly command: string;
  readonly pid: number | null;
  readonly running: boolean;
  /** Exit status once it has ended (128+N for signals); null while running or when unknown. */
  readonly exitCode: number | null;
  readonly startedAt: string | null;
  readonly cwd: string | null;
}

export interface StartProcessOptions {
  /** Working directory (default: the spec's workdir). */
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Replace a finished process of the same name (a running one is always an error). */
  readonly replace?: boolean;
}

export interface ProcessLog {
  readonly name: string;
  /** The last `tailBytes` of the combined stdout+stderr log, UTF-8 decoded. */
  readonly text: string;
  /** Total size of the log file. */
  readonly bytes: number;
  readonly truncated: boolean;
}

export interface SetupRecord {
  readonly phase: 'setup' | 'install';
  readonly command: string;
  readonly exitCode: number | null;
  readonly durationMs: number;
}

export interface SetupReport {
  /** True when setup/install ran during this open (false: already done for this container). */
  readonly ran: boolean;
  readonly ok: boolean;
  readonly steps: readonly SetupRecord[];
  /** Ready dependencies (deps.ts): a hit ran no install; key null when the install is not cacheable. */
  readonly deps?: { readonly hit: boolean; readonly key: string | null; readonly image: string };
  /** devcontainer.json lifecycle commands run during this open (absent when none ran). */
  readonly lifecycle?: readonly LifecycleRecord[];
}

/** One devcontainer.json lifecycle command (runner/session/lifecycle.ts). */
export interface LifecycleRecord {
  readonly hook: string;
  /** The key of the object form, else null. */
  readonly name: string | null;
  readonly command: string;
  readonly exitCode: number | null;
  readonly durationMs: number;
  readonly ok: boolean;
  /** Its output shows a DNS/connection failure. */
  readonly networkFailure: boolean;
}

export interface SessionCreated {
  /** The workspace (branch + worktree) was created by this open. */
  readonly workspace: boolean;
  /** A new container was created (or taken from the warm pool) by this open. */
  readonly container: boolean;
  /** The container came from the warm pool. */
  readonly fromPool: boolean;
  /** An existing stopped container was started (its writable layer kept). */
  readonly resumed: boolean;
}

export interface SessionInfo {
  readonly name: string;
  readonly containerId: string;
  readonly containerName: string;
  readonly image: string;
  readonly specHash: string;
  readonly workdir: string;
  readonly worktree: string;
  readonly branch: string;
  readonly user: string;
  readonly closed: boolean;
  /** Set when the container died under the session (exec fails with this until reopened). */
  readonly problem: string | null;
  readonly shells: readonly ShellInfo[];
  readonly idleTimeoutMs: number;
  readonly lastActivity: string;
}

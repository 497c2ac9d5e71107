/**
 * What the MCP server needs from the rest of berth, as narrow structural interfaces. The real
 * `Runner` (runner/session/runner.ts) satisfies `McpRunner` as is; the server depends only on the
 * calls listed here, so the tool layer stays readable and the runner can grow without touching it.
 */
import type { Resolved, ResolvedSpec } from '../../src/project/index.js';
import type { CheckpointResult, CommitInfo, WorkspaceDiff, WorkspaceInfo } from '../../src/workspace/index.js';
import type { Logger } from '../../src/log.js';
import type { EngineStatus } from '../../docker/index.js';
import type { ExecOptions, ExecResult, ProcessInfo, ProcessLog, SetupReport, StartProcessOptions, StreamName, WorkspaceFilesApi } from '../session/index.js';

/** A live workspace container, as handed out by Runner.open(). */
export interface McpSession {
  readonly name: string;
  readonly workspace: WorkspaceInfo;
  readonly spec: ResolvedSpec;
  readonly setup: SetupReport;
  readonly created: { readonly workspace: boolean; readonly container: boolean; readonly fromPool: boolean; readonly resumed: boolean };
  readonly warnings: readonly string[];
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  startProcess(name: string, command: string, opts?: StartProcessOptions): Promise<ProcessInfo>;
  listProcesses(): Promise<ProcessInfo[]>;
  processLog(name: string, opts?: { tailBytes?: number }): Promise<ProcessLog>;
  killProcess(name: string, opts?: { graceMs?: number }): Promise<ProcessInfo>;
}

export interface McpOpenOptions {
  readonly create?: boolean;
  readonly base?: string;
  readonly onOutput?: (stream: StreamName, chunk: string) => void;
  readonly signal?: AbortSignal;
}

/** The git side, as the runner exposes it (src/workspace Workspaces). */
export interface McpWorkspaces {
  find(name: string, opts?: { signal?: AbortSignal }): Promise<WorkspaceInfo | undefined>;
  get(name: string, opts?: { signal?: AbortSignal }): Promise<WorkspaceInfo>;
  list(opts?: { signal?: AbortSignal }): Promise<WorkspaceInfo[]>;
  checkpoint(name: string, message: string, opts?: { signal?: AbortSignal }): Promise<CheckpointResult>;
  diff(name: string, opts?: { stat?: boolean; signal?: AbortSignal }): Promise<string>;
  diffText(name: string, opts?: { stat?: boolean; maxBytes?: number; signal?: AbortSignal }): Promise<WorkspaceDiff>;
  log(name: string, opts?: { limit?: number; signal?: AbortSignal }): Promise<CommitInfo[]>;
}

export interface McpSessionSummary {
  readonly name: string;
  readonly containerName: string;
  readonly state: string;
  readonly open: boolean;
}

export interface McpRunner {
  /** Remote workspaces (runner/session/remote.ts): file tools exec in the session container. */
  readonly remote?: unknown;
  remoteFiles?(name: string, opts?: { maxFileBytes?: number }): WorkspaceFilesApi | undefined;
  readonly repo: { readonly path: string; readonly id: string };
  readonly workspaces: McpWorkspaces;
  /** The session of `name` if it is open in this process. */
  get(name: string): McpSession | undefined;
  open(name: string, opts?: McpOpenOptions): Promise<McpSession>;
  /** Commit the worktree, optionally snapshotting the container; recorded as a checkpoint. */
  checkpoint(
    name: string,
    opts: { message: string; withContainer?: boolean; signal?: AbortSignal },
  ): Promise<{ readonly sha: string; readonly committed: boolean; readonly filesChanged: number; readonly image: { readonly ref: string } | undefined }>;
  delete(name: string): Promise<{ readonly containers: readonly string[]; readonly volumes: readonly string[]; readonly warnings: readonly string[] }>;
  list(): Promise<readonly McpSessionSummary[]>;
  /** The spec of the user's checkout (berth.yaml there + the runner's overrides). */
  resolve(): Promise<Resolved>;
  /** Reap containers of deleted workspaces. */
  gc(): Promise<unknown>;
  /** Health, version, sessions and capacity of each Docker engine (the `engines` tool). */
  engineStatus(): Promise<readonly EngineStatus[]>;
  /** Stops every session container opened here (kept, resumable). Idempotent. */
  close(opts?: { stop?: boolean }): Promise<void>;
}

/**
 * Process-wide state shared by every MCP connection of one `berth mcp` (HTTP mode serves many):
 * shutdown aborts in-flight tool calls through `signal`, then waits for what `track` registered.
 */
export interface Lifecycle {
  readonly signal: AbortSignal;
  track<T>(work: Promise<T>): Promise<T>;
}

export interface ServerDeps {
  readonly runner: McpRunner;
  readonly logger: Logger;
  /** `--workspace NAME`: every tool acts on this workspace and takes no `workspace` argument. */
  readonly workspace?: string;
  readonly lifecycle: Lifecycle;
  /** Reported to clients in `initialize`. */
  readonly version: string;
  /** Extra labels for pipeline_run containers (tests tag theirs). */
  readonly pipelineLabels?: Readonly<Record<string, string>>;
}

/** A Lifecycle that only ends when `signal` aborts; track() counts what is in flight. */
export function createLifecycle(signal: AbortSignal): Lifecycle & { settled(timeoutMs: number): Promise<boolean> } {
  const inflight = new Set<Promise<unknown>>();
  return {
    signal,
    track<T>(work: Promise<T>): Promise<T> {
      // The caller handles `work`'s rejection; this copy only marks it settled.
      const p: Promise<unknown> = work.then(
        () => inflight.delete(p),
        () => inflight.delete(p),
      );
      inflight.add(p);
      return work;
    },
    /** Resolves true once everything tracked has settled, false when `timeoutMs` passed first. */
    async settled(timeoutMs: number): Promise<boolean> {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      try {
        return await Promise.race([Promise.allSettled([...inflight]).then(() => true as const), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Public shapes of the workspace library (git side). */

/** JSON stored in refs/notes/berth on the workspace's initial commit. Versioned for migrations. */
export interface WorkspaceState {
  readonly version: 1;
  readonly name: string;
  /** The ref the user asked for (e.g. "HEAD", "main") and the commit it resolved to. */
  readonly baseRef: string;
  readonly baseSha: string;
  /** The per-workspace empty commit the note hangs on (first commit of berth/<name>). */
  readonly rootSha: string;
  /** Absolute host path of the worktree. */
  readonly worktree: string;
  /**
   * True when berth made the worktree directory (the data-dir default) and removes it on delete;
   * false for a caller-provided `worktreeDir`, which delete empties but keeps, because a container
   * may still bind-mount it (a re-created directory would be a different inode the mount does
   * not see).
   */
  readonly ownsWorktreeDir: boolean;
  readonly createdAt: string;
  /** Free-form fields owned by other layers (runner: container id, checkpoints, volumes ...). */
  readonly extra: Readonly<Record<string, unknown>>;
}

export interface WorkspaceInfo extends WorkspaceState {
  readonly branch: string;
  /** Absolute path of the user's repository (main worktree). */
  readonly repo: string;
  /** Current tip of berth/<name>. */
  readonly head: string;
  /** Whether the worktree has uncommitted changes (tracked or untracked, not ignored). */
  readonly dirty: boolean;
  /**
   * Set when the state note is unreadable: the fields above are then recovered from the root
   * commit's trailers and git's worktree list, `extra` is empty, and the raw note is kept under
   * `quarantineRef`. Such a workspace is listed, never pruned, and only deleted on request.
   */
  readonly corrupt?: CorruptState;
}

export interface CorruptState {
  readonly reason: string;
  readonly quarantineRef: string;
}

export interface CreateOptions {
  /** Base ref, default HEAD. */
  readonly base?: string;
  /**
   * Put the worktree in this (existing, empty) directory instead of the data dir's default.
   * Used by the warm pool, whose containers already bind-mount a per-slot directory.
   */
  readonly worktreeDir?: string;
  /**
   * `worktreeDir` may hold a worktree prepared with Workspaces.prepare(): when it is at the
   * commit the base resolves to, it is claimed (branch attached, no checkout); otherwise it is
   * discarded and the files are checked out afresh.
   */
  readonly prepared?: boolean;
  /**
   * The directory (and whether it may hold a prepared worktree) as it becomes known: a warm pool
   * slot still being claimed. The reads and the root commit run meanwhile; undefined from the
   * promise means the default directory. Replaces `worktreeDir`/`prepared`. create settles it
   * before returning or throwing, so the caller can always clean up what it claimed.
   */
  readonly slot?: Promise<CreateSlot | undefined>;
  readonly extra?: Record<string, unknown>;
  /**
   * Warn about uncommitted changes in the user's checkout (CreateResult.warnings; default true).
   * It costs a `git status` of the whole checkout, which on a large repository takes longer than
   * the rest of a warm create: callers that do not show the warnings pass false.
   */
  readonly warnUncommitted?: boolean;
  readonly signal?: AbortSignal;
}

export interface CreateSlot {
  readonly worktreeDir: string;
  readonly prepared: boolean;
}

export interface CreateResult {
  readonly workspace: WorkspaceInfo;
  /** Human-readable notes, e.g. "3 uncommitted changes in your checkout are not included". */
  readonly warnings: readonly string[];
}

export interface CheckpointResult {
  /** The new commit, or the unchanged head when there was nothing to commit. */
  readonly sha: string;
  readonly committed: boolean;
  readonly filesChanged: number;
  /** Entries skipped while snapshotting (FIFOs, sockets, devices). */
  readonly warnings?: readonly string[];
}

export interface CommitInfo {
  readonly sha: string;
  readonly subject: string;
  readonly author: string;
  readonly date: string;
}

export interface DiffOptions {
  /** `git diff --stat` summary instead of the patch. */
  readonly stat?: boolean;
  /** Return at most this many bytes of diff text (default 8 MiB); the rest is cut and reported. */
  readonly maxBytes?: number;
  readonly signal?: AbortSignal;
}

/** A diff with its truncation reported (see Workspaces.diffText). */
export interface WorkspaceDiff {
  readonly text: string;
  /** The diff was longer than maxBytes, or large files were shown as placeholders. */
  readonly truncated: boolean;
  /** Size of the whole diff in bytes. */
  readonly bytes: number;
  /** Files over the per-file diff limit, shown as a one-line placeholder instead of read. */
  readonly placeholders: readonly string[];
}

export interface LogOptions {
  /** At most this many commits, newest first. */
  readonly limit?: number;
  readonly signal?: AbortSignal;
}

export interface MergeOptions {
  /** One squashed commit instead of a merge commit (default: a `--no-ff` merge commit). */
  readonly squash?: boolean;
  /** Commit message; default "berth: merge workspace <name>" / "berth: squash workspace <name>". */
  readonly message?: string;
  readonly signal?: AbortSignal;
}

export interface MergeResult {
  /** The branch of the user's checkout that received the work, e.g. "main". */
  readonly into: string;
  /** The new commit on `into`, or its unchanged head when there was nothing to merge. */
  readonly sha: string;
  readonly merged: boolean;
  readonly squashed: boolean;
  /** E.g. "2 uncommitted changes in workspace demo are not merged (run berth ws checkpoint demo first)". */
  readonly warnings: readonly string[];
}

/** Called before a workspace's worktree, branch and note are removed, e.g. to remove its container. */
export type BeforeRemoveHook = (info: WorkspaceInfo) => Promise<void>;

export interface DeleteOptions {
  /**
   * Runs while the repository lock is held, before anything is removed; if it throws, nothing is
   * removed. It may call updateExtra() (the lock is re-entrant within the same async call chain).
   */
  readonly beforeRemove?: BeforeRemoveHook;
  readonly signal?: AbortSignal;
}

export interface DeleteResult {
  readonly name: string;
  /** Human-readable notes, e.g. that the worktree directory was already gone. */
  readonly warnings: readonly string[];
}

export interface PruneOptions {
  /** Prune workspaces idle for at least this long (idle = since the later of creation and last commit). */
  readonly olderThanMs: number;
  /** Also prune workspaces whose worktree has uncommitted changes (default: keep them). */
  readonly force?: boolean;
  /** Report what would be pruned without removing anything. */
  readonly dryRun?: boolean;
  readonly beforeRemove?: BeforeRemoveHook;
  readonly signal?: AbortSignal;
}

export interface PruneResult {
  readonly pruned: readonly string[];
  /** Old enough but kept, with the reason (e.g. uncommitted changes). */
  readonly skipped: readonly { readonly name: string; readonly reason: string }[];
}

/** Structurally compatible with the runner's Logger; the library never prints on its own. */
export interface WorkspaceLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

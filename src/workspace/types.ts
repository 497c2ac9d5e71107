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
}

export interface CreateOptions {
  /** Base ref, default HEAD. */
  readonly base?: string;
  /**
   * Put the worktree in this (existing, empty) directory instead of the data dir's default.
   * Used by the warm pool, whose containers already bind-mount a per-slot directory.
   */
  readonly worktreeDir?: string;
  readonly extra?: Record<string, unknown>;
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
}

export interface CommitInfo {
  readonly sha: string;
  readonly subject: string;
  readonly author: string;
  readonly date: string;
}

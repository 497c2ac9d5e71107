/** THE git owner: every host git call goes through run.ts (the hardened base documented there). */
export { GitRepo, QUARANTINE_REF_PREFIX, uniqueToken } from './repo.js';
export type { GitRepoOptions } from './repo.js';
export { SAFE_CONFIG, failure, git, runGit } from './run.js';
export { readyLaunchers } from './launch.js';
export type { RunOptions, RunResult } from './run.js';
export { BRANCH_REF_PREFIX, NOTES_REF, isSha, parseNulRecords } from './types.js';
export type { BranchTip, LogEntry, NoteEntry, StatusCounts, WorktreeEntry, WorktreeHandle } from './types.js';
export { MAX_CHECKPOINT_FILE_BYTES, MAX_DIFF_FILE_BYTES, diffObjects, indexTree, snapshotWorktree } from './snapshot.js';
export type { DiffText, Snapshot, SnapshotOptions } from './snapshot.js';
export { addDetachedWorktree, attachWorktreeToNewBranch, worktreeByBasenameSync, worktreeHead, wtOpts } from './worktree.js';
export { FALLBACK_EMAIL, FALLBACK_NAME } from './user-config.js';

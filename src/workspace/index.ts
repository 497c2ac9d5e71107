/** The git half of berth's workspaces: branch + worktree + state note per workspace. */
export { Workspaces } from './workspaces.js';
export type { WorkspacesOptions, CallOptions } from './workspaces.js';
export { assertValidName, isValidName, nameProblem, branchOf, NAME_PATTERN, BRANCH_PREFIX } from './names.js';
export { parseDuration, formatAge } from './duration.js';
export { NOTES_REF } from '../git/index.js';
export { lockPath } from './lock.js';
export { WorkspaceStateSchema } from './state.js';
export type {
  WorkspaceState,
  WorkspaceInfo,
  CorruptState,
  CreateOptions,
  CreateSlot,
  CreateResult,
  CheckpointResult,
  CommitInfo,
  DiffOptions,
  LogOptions,
  MergeOptions,
  MergeResult,
  BeforeRemoveHook,
  DeleteOptions,
  DeleteResult,
  PruneOptions,
  PruneResult,
  WorkspaceLogger,
  WorkspaceDiff,
} from './types.js';
export { parseState, serializeState } from './state.js';
export { applyWorkspaceBundle, bundleBranch, type AppliedBundle } from './remote-git.js';

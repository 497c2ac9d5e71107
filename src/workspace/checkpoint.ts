/**
 * Workspaces.checkpoint under the repository lock, split out of workspaces.ts: commits everything
 * in the worktree (untracked files too, .gitignore respected) onto berth/<name>.
 */
import { BerthError } from '../errors.js';
import { BRANCH_REF_PREFIX, type BranchTip, type GitRepo, type WorktreeHandle } from '../git/index.js';
import type { StoredState } from './corrupt.js';
import { assertReadable } from './helpers.js';
import { branchOf } from './names.js';
import type { CheckpointResult, WorkspaceLogger } from './types.js';

export interface Resolved {
  readonly state: StoredState;
  readonly tip: BranchTip;
  readonly handle: WorktreeHandle | undefined;
}

export async function checkpointResolved(
  git: GitRepo,
  logger: WorkspaceLogger,
  name: string,
  { state, tip, handle }: Resolved,
  message: string,
  signal?: AbortSignal,
): Promise<CheckpointResult> {
  assertReadable(state);
  if (!handle) throw missingWorktree(name);
  const branch = await git.worktreeBranch(handle, signal);
  if (branch !== `${BRANCH_REF_PREFIX}${name}`) {
    throw new BerthError(
      'GIT_ERROR',
      `the worktree of ${JSON.stringify(name)} (${handle.path}) has ${branch ? JSON.stringify(branch) : 'a detached HEAD'} checked out instead of ${branchOf(name)}: run \`git checkout ${branchOf(name)}\` in it and retry`,
    );
  }
  const res = await git.commitAll(handle, { ref: branch, head: tip.sha }, message, signal);
  if (!res) return { sha: tip.sha, committed: false, filesChanged: 0 };
  for (const w of res.warnings) logger.warn(`checkpoint of ${name}: ${w}`, { name });
  return { sha: res.sha, committed: true, filesChanged: res.filesChanged, ...(res.warnings.length ? { warnings: res.warnings } : {}) };
}

function missingWorktree(name: string): BerthError {
  return new BerthError(
    'GIT_ERROR',
    `the worktree of workspace ${JSON.stringify(name)} is missing (its directory was removed): the branch ${branchOf(name)} still has the committed work; delete the workspace (berth ws delete ${name}) and create it again from that branch if needed`,
  );
}

/**
 * The merge of a workspace into the user's checkout, once the workspace is resolved and the
 * repository lock is held (Workspaces.merge): the checks that keep a failed merge from mixing
 * with the user's work, then git's merge (src/git/checkout.ts). Split out of workspaces.ts.
 */
import { BerthError } from '../errors.js';
import { BRANCH_REF_PREFIX, type BranchTip, type GitRepo, type WorktreeHandle } from '../git/index.js';
import { branchOf } from './names.js';
import type { MergeResult, WorkspaceState } from './types.js';

export interface MergeContext {
  readonly git: GitRepo;
  /** The user's checkout. */
  readonly repo: string;
}

export async function mergeResolved(
  ctx: MergeContext,
  name: string,
  { state, tip, handle }: { state: WorkspaceState; tip: BranchTip; handle: WorktreeHandle | undefined },
  opts: { squash: boolean; message: string | undefined; signal: AbortSignal | undefined },
): Promise<MergeResult> {
  const { squash, signal } = opts;
  const op = await ctx.git.operationInProgress(signal);
  if (op) {
    throw new BerthError('DIRTY_CHECKOUT', `your checkout ${ctx.repo} has ${op} in progress: finish or abort it, then retry`);
  }
  const into = await ctx.git.checkoutBranch(signal);
  if (!into) {
    throw new BerthError('BAD_INPUT', `your checkout ${ctx.repo} has a detached HEAD: check out the branch to merge into (git switch <branch>) and retry`);
  }
  if (into === `${BRANCH_REF_PREFIX}${name}`) {
    throw new BerthError('BAD_INPUT', `your checkout is on ${branchOf(name)} itself: switch to the branch to merge into and retry`);
  }
  const local = await ctx.git.checkoutStatus(signal);
  const tracked = local.staged + local.unstaged + local.conflicted;
  if (tracked > 0) {
    throw new BerthError(
      'DIRTY_CHECKOUT',
      `your checkout ${ctx.repo} has ${tracked} uncommitted change${tracked === 1 ? '' : 's'} to tracked files: commit or stash them (git stash) and retry, so a failed merge cannot mix with your work`,
      { details: local as unknown as Record<string, unknown> },
    );
  }
  const warnings: string[] = [];
  if (handle) {
    const ws = await ctx.git.worktreeStatus(handle, signal);
    if (ws.total > 0) {
      warnings.push(
        `${ws.total} uncommitted change${ws.total === 1 ? ' is' : 's are'} in workspace ${name} and ${ws.total === 1 ? 'is' : 'are'} not merged: run \`berth ws checkpoint ${name}\` first to include ${ws.total === 1 ? 'it' : 'them'}`,
      );
    }
  }
  const intoShort = into.replace(/^refs\/heads\//, '');
  const head = (await ctx.git.checkoutHead(signal)) ?? '';
  const commits = await ctx.git.log(state.rootSha, tip.sha, { limit: 1, signal });
  if (commits.length === 0) {
    return {
      into: intoShort,
      sha: head,
      merged: false,
      squashed: squash,
      warnings: [...warnings, `workspace ${name} has no commits since its base: nothing to merge`],
    };
  }
  const message = opts.message ?? (squash ? `berth: squash workspace ${name}` : `berth: merge workspace ${name}`);
  const sha = await ctx.git.mergeIntoCheckout(`${BRANCH_REF_PREFIX}${name}`, { squash, message, signal });
  if (!sha) {
    return {
      into: intoShort,
      sha: head,
      merged: false,
      squashed: squash,
      warnings: [...warnings, `${intoShort} already contains the changes of workspace ${name}`],
    };
  }
  return { into: intoShort, sha, merged: true, squashed: squash, warnings };
}

/**
 * Workspaces.delete and Workspaces.prune under the repository lock, split out of workspaces.ts.
 * Delete removes the worktree with everything in it, the branch and every note of the name (so
 * leftovers of an interrupted delete or create go too); prune deletes idle workspaces.
 */
import { BerthError } from '../errors.js';
import type { BranchTip, GitRepo, WorktreeEntry } from '../git/index.js';
import type { StoredState } from './corrupt.js';
import { latestPerName } from './helpers.js';
import { branchOf } from './names.js';
import type { DeleteOptions, DeleteResult, PruneOptions, PruneResult, WorkspaceInfo, WorkspaceState } from './types.js';
import { removeWorktree, type DirsContext } from './worktree-dirs.js';

/** What delete and prune need of their Workspaces. */
export interface RemoveContext {
  readonly git: GitRepo;
  readonly dirs: DirsContext;
  states(signal?: AbortSignal): Promise<StoredState[]>;
  info(state: WorkspaceState, tip: BranchTip | undefined, worktrees: readonly WorktreeEntry[], signal?: AbortSignal): Promise<WorkspaceInfo>;
  notFound(name: string, signal?: AbortSignal): Promise<BerthError>;
  find(name: string, signal?: AbortSignal): Promise<WorkspaceInfo | undefined>;
  delete(name: string, opts: DeleteOptions): Promise<DeleteResult>;
}

/** The caller holds the repository lock and has validated the name. */
export async function deleteLocked(ctx: RemoveContext, name: string, opts: DeleteOptions): Promise<DeleteResult> {
  const { signal } = opts;
  const [states, tips, worktrees] = await Promise.all([ctx.states(signal), ctx.git.berthBranches(signal), ctx.git.listWorktrees(signal)]);
  const notes = states.filter((s) => s.name === name);
  const state = latestPerName(notes)[0];
  const tip = tips.get(name);
  if (!state) {
    if (tip) {
      throw new BerthError(
        'WORKSPACE_NOT_FOUND',
        `branch ${branchOf(name)} exists but has no berth state, so berth did not create it (or its state was removed): delete it with \`git branch -D ${branchOf(name)}\` if you no longer need it`,
      );
    }
    throw await ctx.notFound(name, signal);
  }
  const info = await ctx.info(state, tip ?? { sha: state.rootSha, committedAt: Date.parse(state.createdAt) }, worktrees, signal);
  if (opts.beforeRemove) await opts.beforeRemove(info);
  const warnings = await removeWorktree(ctx.dirs, name, state, worktrees, signal);
  await ctx.git.deleteBranch(branchOf(name), signal);
  for (const s of notes) await ctx.git.removeNote(s.rootSha, signal);
  return { name, warnings };
}

/** The caller holds the repository lock and has validated olderThanMs. */
export async function pruneLocked(ctx: RemoveContext, opts: PruneOptions): Promise<PruneResult> {
  const { signal } = opts;
  const now = Date.now();
  const [states, tips] = await Promise.all([ctx.states(signal), ctx.git.berthBranches(signal)]);
  const names = [...new Set(states.map((s) => s.name))].sort();
  const pruned: string[] = [];
  const skipped: { name: string; reason: string }[] = [];
  for (const name of names) {
    if (signal?.aborted) throw new BerthError('ABORTED', 'prune was cancelled', { cause: signal.reason });
    const state = latestPerName(states.filter((s) => s.name === name))[0];
    if (!state) continue;
    if (state.corrupt) {
      skipped.push({ name, reason: `its state note is unreadable (kept at ${state.corrupt.quarantineRef}); delete it explicitly` });
      continue;
    }
    const tip = tips.get(name);
    const lastActivity = Math.max(Date.parse(state.createdAt) || 0, tip?.committedAt ?? 0);
    if (now - lastActivity < opts.olderThanMs) continue;
    if (tip && !opts.force) {
      const info = await ctx.find(name, signal);
      if (info?.dirty) {
        skipped.push({ name, reason: 'uncommitted changes in its worktree (checkpoint it, or prune with force)' });
        continue;
      }
    }
    if (!opts.dryRun) {
      await ctx.delete(name, { ...(opts.beforeRemove ? { beforeRemove: opts.beforeRemove } : {}), ...(signal ? { signal } : {}) });
    }
    pruned.push(name);
  }
  return { pruned, skipped };
}

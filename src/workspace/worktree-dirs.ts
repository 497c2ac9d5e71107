/**
 * The worktree directories of workspaces: where a new one goes (and the checks that keep it out
 * of the user's checkout), undoing a half-made create, and removing one on delete. Split out of
 * workspaces.ts; every function gets the few fields it needs as a DirsContext.
 */
import { mkdir, readdir, realpath, rm } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { BerthError } from '../errors.js';
import { BRANCH_REF_PREFIX, type GitRepo, type WorktreeEntry, type WorktreeHandle } from '../git/index.js';
import { isDir, isInside, registeredWorktree } from './helpers.js';
import { branchOf } from './names.js';
import type { WorkspaceLogger, WorkspaceState } from './types.js';

export interface DirsContext {
  readonly git: GitRepo;
  /** The user's checkout. */
  readonly repo: string;
  readonly worktreesDir: string;
  readonly realDataDir: string;
  readonly logger: WorkspaceLogger;
}

/** Picks and checks the worktree directory; returns its canonical path. */
export async function prepareWorktreeDir(ctx: DirsContext, name: string, requested: string | undefined): Promise<{ path: string; owns: boolean }> {
  if (requested !== undefined) {
    if (typeof requested !== 'string' || !isAbsolute(requested) || requested.includes('\0')) {
      throw new BerthError('BAD_INPUT', `worktreeDir ${JSON.stringify(requested)} must be an absolute path to an existing empty directory`);
    }
    if (!(await isDir(requested))) {
      throw new BerthError('BAD_INPUT', `worktreeDir ${JSON.stringify(requested)} does not exist or is not a directory: create it (empty) first`);
    }
    const path = await realpath(requested);
    if ((await readdir(path)).length > 0) {
      throw new BerthError('BAD_INPUT', `worktreeDir ${JSON.stringify(requested)} is not empty: pass an empty directory`);
    }
    assertOutsideRepo(ctx, path, 'worktreeDir');
    return { path, owns: false };
  }
  await mkdir(ctx.worktreesDir, { recursive: true });
  const path = join(await realpath(ctx.worktreesDir), name);
  assertOutsideRepo(ctx, path, 'the data dir');
  try {
    const entries = await readdir(path);
    if (entries.length > 0) {
      throw new BerthError(
        'BAD_INPUT',
        `directory ${JSON.stringify(path)} already exists and is not empty (left over from an earlier workspace?): remove it and retry`,
      );
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return { path, owns: true };
}

function assertOutsideRepo(ctx: DirsContext, path: string, what: string): void {
  for (const root of [ctx.repo, ctx.git.commonDir]) {
    if (resolve(root) === resolve(path) || isInside(root, path)) {
      throw new BerthError(
        'BAD_INPUT',
        `${what} puts the worktree at ${JSON.stringify(path)}, inside the repository ${JSON.stringify(root)}: worktrees must live outside your checkout (set BERTH_DATA_DIR elsewhere)`,
      );
    }
  }
}

export async function rollbackCreate(
  ctx: DirsContext,
  name: string,
  path: string,
  owns: boolean,
  rootSha: string,
  handle: WorktreeHandle | undefined,
): Promise<void> {
  const steps: [string, () => Promise<unknown>][] = [
    ['worktree', async () => (handle ? (owns ? ctx.git.removeWorktree(path) : ctx.git.detachWorktreeKeepingDir(handle)) : undefined)],
    ['branch', () => ctx.git.deleteBranch(branchOf(name))],
    ['note', () => ctx.git.removeNote(rootSha)],
  ];
  for (const [what, step] of steps) {
    try {
      await step();
    } catch (err) {
      ctx.logger.warn(`rolling back workspace creation: could not remove the ${what}`, { name, error: (err as Error).message });
    }
  }
}

export async function removeWorktree(
  ctx: DirsContext,
  name: string,
  state: WorkspaceState,
  worktrees: readonly WorktreeEntry[],
  signal?: AbortSignal,
): Promise<string[]> {
  const warnings: string[] = [];
  const main = worktrees[0];
  if (main && main.branch === `${BRANCH_REF_PREFIX}${name}`) {
    throw new BerthError('GIT_ERROR', `your checkout ${ctx.repo} has ${branchOf(name)} checked out: switch it to another branch and retry the delete`);
  }
  const other = worktrees.find((w) => w.branch === `${BRANCH_REF_PREFIX}${name}` && resolve(w.path) !== resolve(state.worktree));
  if (other) {
    throw new BerthError(
      'GIT_ERROR',
      `${branchOf(name)} is checked out at ${JSON.stringify(other.path)}, which is not the workspace's worktree: switch that checkout to another branch and retry the delete`,
    );
  }
  const entry = registeredWorktree(state, worktrees, ctx.realDataDir);
  if (entry) {
    const gitDir = await ctx.git.worktreeGitDir(entry.path);
    if (!state.ownsWorktreeDir && gitDir && (await isDir(entry.path))) await ctx.git.detachWorktreeKeepingDir({ path: entry.path, gitDir });
    else await ctx.git.removeWorktree(entry.path, signal);
    return warnings;
  }
  // Not registered: the directory was removed by hand (git then lists it as prunable) or never
  // finished. Only a directory inside our own data dir is ours to remove.
  if (state.ownsWorktreeDir && isInside(ctx.worktreesDir, state.worktree) && (await isDir(state.worktree))) {
    await rm(state.worktree, { recursive: true, force: true });
    warnings.push(`the worktree ${state.worktree} was not registered with git any more; removed the leftover directory`);
  } else {
    warnings.push(`the worktree ${state.worktree} was already gone`);
  }
  return warnings;
}

/**
 * Prepared worktrees: the git half of a warm pool slot. At warm-up (in the background) the pool
 * asks for a worktree DETACHED at the base commit in the slot's empty directory, so the checkout
 * of the files is done before anyone asks for a workspace. Claiming it for workspace N (create.ts)
 * then only verifies the base still resolves to that commit, makes N's root commit (same tree),
 * creates berth/N there and points the worktree's HEAD at it, and writes the note: no file of
 * the worktree is touched. A slot whose base moved is emptied and the cold path runs in it.
 *
 * A prepared worktree is recognised only through git's own records (the admin dir under
 * $GIT_COMMON_DIR/worktrees, see worktree.ts): registered at exactly the slot's path, with a
 * detached HEAD. A workspace's worktree always has its branch attached under berth's lock, so a
 * detached one in a slot directory is never a workspace's, and discarding it loses no work.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '../errors.js';
import { addDetachedWorktree, worktreeByBasenameSync, worktreeHead, type WorktreeHandle } from '../git/index.js';
import { prepareWorktreeDir, type DirsContext } from './worktree-dirs.js';

export interface PreparedWorktree {
  readonly handle: WorktreeHandle;
  /** The commit checked out (detached HEAD). */
  readonly sha: string;
  /** Whether `git status` found changes right after the checkout (see PREPARED_MARK); unknown without the record. */
  readonly dirty?: boolean | undefined;
}

/**
 * A file in the prepared worktree's admin dir ($GIT_COMMON_DIR/worktrees/<id>, host-only: a
 * container sees the git dir read-only, if at all) recording `<sha> <dirty 0|1>` as `git status`
 * found it right after the checkout, so a claim needs no status of its own. Nothing writes to the
 * slot between the checkout and the claim: warm-up ran setup before the checkout, and no agent
 * reaches the container before the claim hands it over. The claim removes the file, so the
 * workspace's admin dir is the one a cold create leaves. git ignores files it does not know there.
 */
export const PREPARED_MARK = 'berth-prepared';

function readMark(handle: WorktreeHandle, sha: string): boolean | undefined {
  try {
    const m = /^([0-9a-f]{40,64}) ([01])\n$/.exec(readFileSync(join(handle.gitDir, PREPARED_MARK), 'utf8'));
    return m && m[1] === sha ? m[2] === '1' : undefined;
  } catch {
    return undefined;
  }
}

/** Removes the record (see PREPARED_MARK) once the worktree is a workspace's. */
export async function dropPreparedMark(handle: WorktreeHandle): Promise<void> {
  await rm(join(handle.gitDir, PREPARED_MARK), { force: true });
}

/** The prepared worktree registered at `dir`, if there is one (see the header). */
export async function findPrepared(ctx: DirsContext, dir: string): Promise<PreparedWorktree | undefined> {
  let path: string;
  try {
    // Sync: see worktreeByBasenameSync (this runs on a claim's path, beside git spawns).
    path = realpathSync(dir);
  } catch {
    return undefined;
  }
  let handle = worktreeByBasenameSync(ctx.git.commonDir, path);
  if (!handle) {
    const gitDir = await ctx.git.worktreeGitDir(path);
    if (!gitDir) return undefined;
    handle = { path, gitDir };
  }
  const head = worktreeHead(handle);
  return head && 'detached' in head ? { handle, sha: head.detached, dirty: readMark(handle, head.detached) } : undefined;
}

/**
 * Check out `baseRef` detached into the existing empty directory `dir` (outside the repository).
 * The caller holds the repository lock. SUBMODULES_UNSUPPORTED when the base has .gitmodules,
 * as create would refuse it anyway.
 */
export async function prepareAt(ctx: DirsContext, dir: string, baseRef: string, signal?: AbortSignal): Promise<PreparedWorktree> {
  const { path } = await prepareWorktreeDir(ctx, 'prepared', dir);
  const probe = await ctx.git.probeBase(baseRef, '.gitmodules', [], signal);
  if (probe.hasPath) {
    throw new BerthError(
      'SUBMODULES_UNSUPPORTED',
      `base ${JSON.stringify(baseRef)} (${probe.sha.slice(0, 12)}) contains .gitmodules: berth does not support submodules yet`,
    );
  }
  const handle = await addDetachedWorktree(ctx.git, path, probe.sha, signal);
  const dirty = (await ctx.git.worktreeStatus(handle, signal)).total > 0;
  await writeFile(join(handle.gitDir, PREPARED_MARK), `${probe.sha} ${dirty ? 1 : 0}\n`, { mode: 0o644 });
  // The claim's git writes then run in launchers forked now, not forked at the claim (src/git/launch.ts).
  await ctx.git.primeWrites();
  return { handle, sha: probe.sha, dirty };
}

/**
 * Remove the prepared worktree at `dir` (its files and git's registration); the directory stays,
 * since a pool container bind-mounts it. A no-op when `dir` holds no prepared worktree, so a
 * workspace's worktree (branch attached) is never touched. Returns whether one was removed.
 */
export async function discardPrepared(ctx: DirsContext, dir: string): Promise<boolean> {
  const found = await findPrepared(ctx, dir);
  if (!found) return false;
  await ctx.git.detachWorktreeKeepingDir(found.handle);
  return true;
}

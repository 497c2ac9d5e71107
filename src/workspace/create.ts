/**
 * Workspaces.create under the repository lock, split out of workspaces.ts. Two ways to the same
 * result (branch berth/<name> at a fresh root commit, the worktree with it checked out, the note):
 *   cold      `git worktree add -b` checks the files out now;
 *   prepared  the caller's directory already holds a worktree detached at the base (prepared.ts):
 *             the branch is created at the root commit (same tree) and the worktree's HEAD is
 *             pointed at it, touching no file. Used when the base still resolves to that commit;
 *             otherwise the prepared worktree is discarded and the cold path runs in its directory.
 * Git spawns dominate: each blocks Node's event loop while it forks (longer the larger the
 * process: child_process.spawn copies its page tables) and then runs a few ms. So the reads go
 * through the batch reader (src/git/batch.ts), the prepared slot's status was taken at prepare
 * time, and a warm claim spawns four processes: the root commit, the branch, the note, and the
 * user's checkout status (for the warning); what does not depend on each other runs side by side,
 * including the caller's claim of the directory (CreateOptions.slot).
 */
import { BerthError } from '../errors.js';
import { BRANCH_REF_PREFIX, attachWorktreeToNewBranch, uniqueToken, type WorktreeHandle } from '../git/index.js';
import type { StoredState } from './corrupt.js';
import { branchOf } from './names.js';
import { discardPrepared, dropPreparedMark, findPrepared, type PreparedWorktree } from './prepared.js';
import { deepFreeze, serializeState } from './state.js';
import type { CreateResult, CreateSlot, WorkspaceInfo, WorkspaceState } from './types.js';
import { prepareWorktreeDir, rollbackCreate, type DirsContext } from './worktree-dirs.js';

export interface CreateContext {
  readonly dirs: DirsContext;
  states(signal?: AbortSignal): Promise<StoredState[]>;
}

export interface CreateRequest {
  readonly name: string;
  readonly baseRef: string;
  readonly extra: Record<string, unknown>;
  /** Where the worktree goes (see CreateOptions.slot); undefined: the default directory. */
  readonly slot: Promise<CreateSlot | undefined>;
  /** See CreateOptions.warnUncommitted. */
  readonly warnUncommitted: boolean;
  readonly signal?: AbortSignal | undefined;
}

/** A prepared worktree found in the requested directory, with its status taken alongside. */
interface Found extends PreparedWorktree {
  readonly dirty: boolean;
}

async function lookPrepared(ctx: CreateContext, req: CreateRequest, slot: CreateSlot | undefined): Promise<Found | undefined> {
  const p = slot?.prepared ? await findPrepared(ctx.dirs, slot.worktreeDir) : undefined;
  if (!p) return undefined;
  // The root commit has the base's tree, so the status against the detached base is the status
  // the workspace will have: recorded at prepare time (PREPARED_MARK), else taken now, side by
  // side with the other reads.
  const dirty = p.dirty ?? (await ctx.dirs.git.worktreeStatus(p.handle, req.signal)).total > 0;
  return { ...p, dirty };
}

/**
 * The caller holds the repository lock and has validated name, base and extra. The slot is
 * settled before this returns or throws (see CreateOptions.slot).
 */
export async function createLocked(ctx: CreateContext, req: CreateRequest): Promise<CreateResult> {
  try {
    return await createIn(ctx, req);
  } finally {
    await req.slot.catch(() => undefined);
  }
}

async function createIn(ctx: CreateContext, req: CreateRequest): Promise<CreateResult> {
  const { name, baseRef, signal } = req;
  const git = ctx.dirs.git;
  const branch = branchOf(name);
  const token = uniqueToken();
  const messageFor = (sha: string) => `berth: start workspace ${name}\n\nBerth-Workspace: ${name}\nBerth-Base: ${sha}\nBerth-Id: ${token}\n`;
  const probing = git.probeBase(baseRef, '.gitmodules', [`${BRANCH_REF_PREFIX}${name}`], signal);
  // The root commit depends on the base alone: made while the rest is read (and the slot
  // claimed), used only if the checks below pass (else it is an unreferenced object, as a
  // failed create leaves anyway).
  const rooting = probing.then((p) => git.commitEmptyOnto(p.sha, messageFor(p.sha), signal));
  rooting.catch(() => undefined);
  // The user's checkout, for the "uncommitted changes are not included" warning: only the
  // result needs it, so it runs alongside the writes too (awaited, and its failure reported, last).
  const checking = req.warnUncommitted ? git.checkoutStatus(signal) : Promise.resolve({ total: 0 });
  checking.catch(() => undefined);
  const [probe, states, slot] = await Promise.all([probing, ctx.states(signal), req.slot]);
  const baseSha = probe.sha;
  if (probe.hasPath) {
    throw new BerthError(
      'SUBMODULES_UNSUPPORTED',
      `base ${JSON.stringify(baseRef)} (${baseSha.slice(0, 12)}) contains .gitmodules: berth does not support repositories with submodules yet; use a base without submodules`,
      { details: { baseRef, baseSha } },
    );
  }
  if (probe.existingRefs.size > 0) {
    throw new BerthError(
      'WORKSPACE_EXISTS',
      `workspace ${JSON.stringify(name)} already exists (branch ${branch}): pick another name, or delete it first (berth ws delete ${name})`,
      { details: { name } },
    );
  }
  const prepared = await lookPrepared(ctx, req, slot);
  const reuse = prepared?.sha === baseSha ? prepared : undefined;
  if (prepared && !reuse) {
    ctx.dirs.logger.debug('the prepared worktree is at another commit than the base: checking out afresh', { name, prepared: prepared.sha, baseSha });
    await discardPrepared(ctx.dirs, prepared.handle.path);
  }
  const { path, owns } = reuse ? { path: reuse.handle.path, owns: false } : await prepareWorktreeDir(ctx.dirs, name, slot?.worktreeDir);

  const rootSha = await rooting;
  // A reused worktree is ours to clean up from here on: a failure empties it like a cold one.
  let handle: WorktreeHandle | undefined = reuse?.handle;
  try {
    const state: WorkspaceState = deepFreeze({
      version: 1 as const,
      name,
      baseRef,
      baseSha,
      rootSha,
      worktree: path,
      ownsWorktreeDir: owns,
      createdAt: new Date().toISOString(),
      extra: req.extra,
    });
    // The note may land before the branch: readers ignore a note whose branch does not exist,
    // and a failure of either step rolls back both.
    const stale = states.filter((s) => s.name === name && s.rootSha !== rootSha).map((s) => s.rootSha);
    const [added, ...rest] = await Promise.allSettled([
      reuse
        ? Promise.all([attachWorktreeToNewBranch(git, reuse.handle, branch, rootSha, signal), dropPreparedMark(reuse.handle)]).then(() => reuse.handle)
        : git.addWorktree(path, branch, rootSha, signal),
      (async () => {
        await git.writeNote(rootSha, serializeState(state), signal);
        // Notes for this name left by a crash or a branch deleted by hand.
        for (const sha of stale) await git.removeNote(sha, signal);
      })(),
    ]);
    if (added.status === 'fulfilled') handle = added.value;
    for (const r of [added, ...rest]) if (r.status === 'rejected') throw r.reason;
    if (!handle) throw new BerthError('GIT_ERROR', `git worktree add did not register ${JSON.stringify(path)}`);

    // git registered the worktree at `path` with the branch checked out a moment ago, under
    // our lock, so there is no need to list worktrees.
    const dirty = reuse ? reuse.dirty : (await git.worktreeStatus(handle, signal)).total > 0;
    const workspace: WorkspaceInfo = deepFreeze({ ...state, worktree: handle.path, branch, repo: ctx.dirs.repo, head: rootSha, dirty });
    return { workspace, warnings: uncommittedWarning((await checking).total, ctx.dirs.repo, baseRef, baseSha) };
  } catch (err) {
    await rollbackCreate(ctx.dirs, name, path, owns, rootSha, handle);
    throw err;
  }
}

function uncommittedWarning(total: number, repo: string, baseRef: string, baseSha: string): string[] {
  if (total === 0) return [];
  const one = total === 1;
  return [
    `${total} uncommitted change${one ? '' : 's'} in your checkout ${repo} ${one ? 'is' : 'are'} not included: the workspace starts from ${baseRef} (${baseSha.slice(0, 12)}); commit ${one ? 'it' : 'them'} first if the workspace needs ${one ? 'it' : 'them'}`,
  ];
}

/**
 * Git workspaces: a workspace N is the branch `berth/N`, a linked worktree outside the user's
 * checkout, and a JSON state note (refs/notes/berth) on the workspace's own root commit — an
 * empty commit on top of the base with a unique trailer, so two workspaces started from the same
 * commit never share a note. The notes are the source of truth for listing; a note whose branch
 * is gone is ignored (and cleaned up by create/delete/prune).
 *
 * Every mutation runs under a cross-process lock on the repository (lock.ts). Reads (list, get,
 * diff, log) do not lock: git's own ref updates are atomic and status runs with
 * --no-optional-locks, so a concurrent writer is never blocked by a reader.
 */
import { join, resolve } from 'node:path';
import { dataDir as resolveDataDir } from '../data-dir.js';
import { BerthError } from '../errors.js';
import { BRANCH_REF_PREFIX, GitRepo, type BranchTip, type WorktreeEntry, type WorktreeHandle } from '../git/index.js';
import { withRepoLock } from './lock.js';
import { mergeResolved } from './merge.js';
import type { DirsContext } from './worktree-dirs.js';
import { deleteLocked, pruneLocked, type RemoveContext } from './remove.js';
import { readStates } from './read-states.js';
import { createLocked } from './create.js';
import { applyExtraPatch, parseExtraPatch } from './extra.js';
import { checkpointResolved } from './checkpoint.js';
import { discardPrepared, findPrepared, prepareAt } from './prepared.js';
import { assertValidName, branchOf } from './names.js';
import { deepFreeze } from './state.js';
import type { StoredState } from './corrupt.js';
import { checkExtra, checkMessage, diffWithNotes, isDir, latestPerName, mapLimit, realpathLoose, registeredWorktree, repoIdOf } from './helpers.js';
import type {
  CheckpointResult,
  CommitInfo,
  CreateOptions,
  CreateResult,
  DeleteOptions,
  DeleteResult,
  DiffOptions,
  LogOptions,
  MergeOptions,
  MergeResult,
  PruneOptions,
  PruneResult,
  WorkspaceInfo,
  WorkspaceLogger,
  WorkspaceState,
  WorkspaceDiff,
} from './types.js';

export interface WorkspacesOptions {
  /** berth's data dir (default: BERTH_DATA_DIR, then the XDG data dir; see src/data-dir.ts). */
  readonly dataDir?: string;
  readonly logger?: WorkspaceLogger;
  /** How long a mutation waits for another process's lock before LOCK_TIMEOUT (default 30 s). */
  readonly lockTimeoutMs?: number;
  /** A lock not refreshed for this long is taken over (its holder died); default 10 s, min 2 s. */
  readonly lockStaleMs?: number;
  /** Upper bound for a single git invocation (default 120 s). */
  readonly gitTimeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** Per-call options shared by the read operations. */
export interface CallOptions {
  readonly signal?: AbortSignal;
}

const DEFAULT_LOCK_TIMEOUT_MS = 30_000;
const DEFAULT_LOCK_STALE_MS = 10_000;
const STATUS_CONCURRENCY = 4;
const DEFAULT_DIFF_MAX_BYTES = 8 * 1024 * 1024;

const noopLogger: WorkspaceLogger = { debug: () => undefined, warn: () => undefined };

export class Workspaces implements AsyncDisposable {
  /** Absolute path of the user's checkout (the repository's main worktree). */
  readonly repo: string;
  /** Stable id of the repository: basename plus a hash of git's common dir. */
  readonly repoId: string;
  readonly dataDir: string;
  readonly #realDataDir: string;
  /** Where default worktrees go: `<dataDir>/worktrees/<repoId>`. */
  readonly worktreesDir: string;
  readonly #git: GitRepo;
  readonly #logger: WorkspaceLogger;
  readonly #lockTimeoutMs: number;
  readonly #lockStaleMs: number;
  #closed = false;

  private constructor(git: GitRepo, options: WorkspacesOptions, dataDir: string, realDataDir: string) {
    this.#git = git;
    this.repo = git.root;
    this.repoId = repoIdOf(git.root, git.commonDir);
    this.dataDir = dataDir;
    this.#realDataDir = realDataDir;
    this.worktreesDir = join(this.dataDir, 'worktrees', this.repoId);
    this.#logger = options.logger ?? noopLogger;
    this.#lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    this.#lockStaleMs = Math.max(2000, options.lockStaleMs ?? DEFAULT_LOCK_STALE_MS);
  }

  /** Opens the repository containing `repoPath` (NOT_A_REPO for non-git paths and bare repos). */
  static async open(repoPath: string, options: WorkspacesOptions = {}): Promise<Workspaces> {
    const git = await GitRepo.discover(repoPath, {
      ...(options.gitTimeoutMs !== undefined ? { timeoutMs: options.gitTimeoutMs } : {}),
      signal: options.signal,
    });
    const dir = resolveDataDir(options.dataDir);
    return new Workspaces(git, options, dir, await realpathLoose(dir));
  }

  /** Ends the repository's batch reader (src/git/batch.ts) and makes later calls fail fast. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#git.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Runs `fn` holding this repository's cross-process lock. Re-entrant within `fn`'s async call
   * chain, so `fn` may call create/delete/updateExtra... on this repository.
   */
  async withLock<T>(fn: () => Promise<T>, opts: CallOptions = {}): Promise<T> {
    this.#assertOpen();
    return withRepoLock(this.#git.commonDir, { timeoutMs: this.#lockTimeoutMs, staleMs: this.#lockStaleMs, signal: opts.signal, logger: this.#logger }, fn);
  }

  // ---- reads ------------------------------------------------------------------------------

  async list(opts: CallOptions = {}): Promise<WorkspaceInfo[]> {
    this.#assertOpen();
    const { signal } = opts;
    const [states, tips, worktrees, gitDirs] = await Promise.all([
      this.#states(signal),
      this.#git.berthBranches(signal),
      this.#git.listWorktrees(signal),
      this.#git.worktreeGitDirs(),
    ]);
    const live = latestPerName(states.filter((s) => tips.has(s.name)));
    const infos = await mapLimit(live, STATUS_CONCURRENCY, (s) => this.#info(s, tips.get(s.name), worktrees, signal, gitDirs));
    return infos.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The workspace, or WORKSPACE_NOT_FOUND naming the ones that exist. */
  async get(name: string, opts: CallOptions = {}): Promise<WorkspaceInfo> {
    const found = await this.find(name, opts);
    if (found) return found;
    throw await this.#notFound(name, opts.signal);
  }

  /** The workspace, or undefined when it does not exist. */
  async find(name: string, opts: CallOptions = {}): Promise<WorkspaceInfo | undefined> {
    this.#assertOpen();
    assertValidName(name);
    const { signal } = opts;
    // No branch, no workspace: one lookup answers that (the common case when opening a new
    // workspace), before the branches and notes are read.
    if (!(await this.#git.hasRef(`${BRANCH_REF_PREFIX}${name}`, signal))) return undefined;
    const tip = (await this.#git.berthBranches(signal)).get(name);
    if (!tip) return undefined;
    const [states, worktrees] = await Promise.all([this.#states(signal), this.#git.listWorktrees(signal)]);
    const state = latestPerName(states.filter((s) => s.name === name))[0];
    if (!state) return undefined;
    return this.#info(state, tip, worktrees, signal);
  }

  /**
   * What the workspace changed relative to its base: the worktree as it is on disk — commits,
   * uncommitted edits and untracked (not ignored) files — against the base commit. This is what a
   * reviewer wants to see before merging; the worktree's index is not touched. When the worktree
   * directory is gone, the committed branch is diffed instead.
   */
  async diff(name: string, opts: DiffOptions = {}): Promise<string> {
    return diffWithNotes(await this.diffText(name, opts));
  }

  /**
   * The diff as `diff` computes it, streamed through a file and capped: at most `maxBytes` of text
   * (default 8 MiB) and no file over the per-file limit is read, so a huge file cannot blow up
   * memory. `truncated` says when something was cut.
   */
  async diffText(name: string, opts: DiffOptions = {}): Promise<WorkspaceDiff> {
    const { state, tip, handle } = await this.#resolve(name, opts.signal);
    const o = { stat: opts.stat ?? false, maxBytes: opts.maxBytes ?? DEFAULT_DIFF_MAX_BYTES, signal: opts.signal };
    if (handle) return this.#git.diffWorktree(handle, state.baseSha, o);
    return this.#git.diffCommits(state.baseSha, tip.sha, o);
  }

  /** Commits on the workspace branch since its base, newest first (berth's root commit excluded). */
  async log(name: string, opts: LogOptions = {}): Promise<CommitInfo[]> {
    const { state, tip } = await this.#resolve(name, opts.signal);
    return this.#git.log(state.rootSha, tip.sha, { limit: opts.limit, signal: opts.signal });
  }

  // ---- mutations --------------------------------------------------------------------------

  async create(name: string, opts: CreateOptions = {}): Promise<CreateResult> {
    const dir = opts.worktreeDir;
    const slot = opts.slot ?? Promise.resolve(dir !== undefined ? { worktreeDir: dir, prepared: opts.prepared ?? false } : undefined);
    try {
      this.#assertOpen();
      assertValidName(name);
      const { signal } = opts;
      const extra = checkExtra(opts.extra ?? {});
      const baseRef = opts.base ?? 'HEAD';
      if (typeof baseRef !== 'string') throw new BerthError('BAD_INPUT', 'base must be a string naming a branch, tag or commit');
      const ctx = { dirs: this.#dirs(), states: (sig?: AbortSignal) => this.#states(sig) };
      const warnUncommitted = opts.warnUncommitted ?? true;
      return await this.withLock(() => createLocked(ctx, { name, baseRef, extra, slot, warnUncommitted, signal }), { ...(signal ? { signal } : {}) });
    } finally {
      // A slot being claimed is settled before create returns or throws (CreateOptions.slot).
      await slot.catch(() => undefined);
    }
  }

  /**
   * Check `base` (default HEAD) out DETACHED into the existing empty directory `dir`, ahead of a
   * `create(name, { worktreeDir: dir, prepared: true })` that then only attaches a branch (the
   * warm pool's slots; see prepared.ts). Returns the commit checked out.
   */
  async prepare(dir: string, opts: { base?: string; signal?: AbortSignal } = {}): Promise<string> {
    this.#assertOpen();
    const { signal } = opts;
    return this.withLock(async () => (await prepareAt(this.#dirs(), dir, opts.base ?? 'HEAD', signal)).sha, { ...(signal ? { signal } : {}) });
  }

  /** The commit `ref` resolves to now (EMPTY_REPO / UNKNOWN_REF as for a create's base). */
  async resolveBase(ref: string, opts: CallOptions = {}): Promise<string> {
    this.#assertOpen();
    return this.#git.resolveCommit(ref, opts.signal);
  }

  /** The commit a prepared (unclaimed) worktree in `dir` has checked out, or undefined when none. */
  async preparedAt(dir: string): Promise<string | undefined> {
    this.#assertOpen();
    return (await findPrepared(this.#dirs(), dir))?.sha;
  }

  /**
   * Remove the prepared worktree in `dir` (files and git's registration), keeping the directory.
   * A workspace's worktree is never touched. Returns whether there was one.
   */
  async discardPrepared(dir: string, opts: CallOptions = {}): Promise<boolean> {
    this.#assertOpen();
    return this.withLock(() => discardPrepared(this.#dirs(), dir), { ...(opts.signal ? { signal: opts.signal } : {}) });
  }

  /** Commits everything in the worktree (untracked files too, .gitignore respected). */
  async checkpoint(name: string, message: string, opts: CallOptions = {}): Promise<CheckpointResult> {
    this.#assertOpen();
    assertValidName(name);
    checkMessage(message);
    const { signal } = opts;
    return this.withLock(async () => checkpointResolved(this.#git, this.#logger, name, await this.#resolve(name, signal), message, signal), {
      ...(signal ? { signal } : {}),
    });
  }

  /**
   * Merges the workspace branch into the branch checked out in the user's checkout: a `--no-ff`
   * merge commit (its history then includes berth's empty root commit), or one squashed commit.
   * Refuses (DIRTY_CHECKOUT) when the checkout has staged or modified tracked files or an
   * operation in progress; on conflict the merge is aborted and MERGE_CONFLICT lists the files.
   * Only committed work is merged: uncommitted worktree changes produce a warning.
   */
  async merge(name: string, opts: MergeOptions = {}): Promise<MergeResult> {
    this.#assertOpen();
    assertValidName(name);
    const { signal } = opts;
    const squash = opts.squash ?? false;
    if (opts.message !== undefined) checkMessage(opts.message);
    return this.withLock(
      async () => {
        const resolved = await this.#resolve(name, signal);
        return mergeResolved({ git: this.#git, repo: this.repo }, name, resolved, { squash, message: opts.message, signal });
      },
      { ...(signal ? { signal } : {}) },
    );
  }

  /**
   * Removes the workspace: `beforeRemove` (e.g. the runner's container removal) first, then the
   * worktree with everything in it, the branch and the note. WORKSPACE_NOT_FOUND when none of
   * them exists. Leftovers of an interrupted delete (a note whose branch is gone) are cleaned up.
   */
  async delete(name: string, opts: DeleteOptions = {}): Promise<DeleteResult> {
    this.#assertOpen();
    assertValidName(name);
    const { signal } = opts;
    return this.withLock(() => deleteLocked(this.#removal(), name, opts), { ...(signal ? { signal } : {}) });
  }

  /**
   * Deletes workspaces idle for at least `olderThanMs` (idle since the later of creation and the
   * branch's last commit). Workspaces with uncommitted changes are kept unless `force`.
   */
  async prune(opts: PruneOptions): Promise<PruneResult> {
    this.#assertOpen();
    const { signal } = opts;
    if (typeof opts.olderThanMs !== 'number' || !Number.isFinite(opts.olderThanMs) || opts.olderThanMs < 0) {
      throw new BerthError('BAD_INPUT', `olderThanMs must be a non-negative number of milliseconds, got ${JSON.stringify(opts.olderThanMs)}`);
    }
    return this.withLock(() => pruneLocked(this.#removal(), opts), { ...(signal ? { signal } : {}) });
  }

  #removal(): RemoveContext {
    return {
      git: this.#git,
      dirs: this.#dirs(),
      states: (signal) => this.#states(signal),
      info: (state, tip, worktrees, signal) => this.#info(state, tip, worktrees, signal),
      notFound: (name, signal) => this.#notFound(name, signal),
      find: (name, signal) => this.find(name, { ...(signal ? { signal } : {}) }),
      delete: (name, opts) => this.delete(name, opts),
    };
  }

  /**
   * Merges `patch` into the workspace's `extra` (a key set to undefined is removed) and returns the
   * new state. Values must survive JSON; the whole extra is capped at 256 KiB.
   */
  async updateExtra(name: string, patch: Readonly<Record<string, unknown>>, opts: CallOptions = {}): Promise<WorkspaceState> {
    this.#assertOpen();
    assertValidName(name);
    const change = parseExtraPatch(name, patch);
    const { signal } = opts;
    return this.withLock(async () => applyExtraPatch(this.#git, (await this.#resolve(name, signal)).state, change, signal), {
      ...(signal ? { signal } : {}),
    });
  }

  // ---- internals --------------------------------------------------------------------------

  #assertOpen(): void {
    if (this.#closed) throw new BerthError('BAD_INPUT', `this Workspaces handle for ${this.repo} is closed: open a new one`);
  }

  /** All berth notes, including ones whose branch is gone (read-states.ts). */
  #states(signal?: AbortSignal): Promise<StoredState[]> {
    return readStates({ git: this.#git, logger: this.#logger, worktreesDir: this.worktreesDir }, signal);
  }

  /** State, branch tip and (when registered) worktree of a live workspace; else WORKSPACE_NOT_FOUND. */
  async #resolve(name: string, signal?: AbortSignal): Promise<{ state: StoredState; tip: BranchTip; handle: WorktreeHandle | undefined }> {
    this.#assertOpen();
    assertValidName(name);
    const [states, tips, worktrees] = await Promise.all([this.#states(signal), this.#git.berthBranches(signal), this.#git.listWorktrees(signal)]);
    const tip = tips.get(name);
    const state = tip ? latestPerName(states.filter((s) => s.name === name))[0] : undefined;
    if (!state || !tip) throw await this.#notFound(name, signal);
    return { state, tip, handle: await this.#handle(state, worktrees) };
  }

  /**
   * The workspace's worktree, only if git itself has it registered at the note's path with
   * berth/<name> checked out: a note (which anyone able to push refs/notes/berth could write) never
   * leads berth to operate on, or delete, some other directory.
   */
  async #handle(state: WorkspaceState, worktrees: readonly WorktreeEntry[], gitDirs?: ReadonlyMap<string, string>): Promise<WorktreeHandle | undefined> {
    const entry = registeredWorktree(state, worktrees, this.#realDataDir);
    if (!entry || !(await isDir(entry.path))) return undefined;
    const gitDir = gitDirs ? gitDirs.get(resolve(entry.path)) : await this.#git.worktreeGitDir(entry.path);
    return gitDir ? { path: entry.path, gitDir } : undefined;
  }

  async #info(
    state: WorkspaceState,
    tip: BranchTip | undefined,
    worktrees: readonly WorktreeEntry[],
    signal?: AbortSignal,
    gitDirs?: ReadonlyMap<string, string>,
  ): Promise<WorkspaceInfo> {
    const handle = await this.#handle(state, worktrees, gitDirs);
    const dirty = handle ? (await this.#git.worktreeStatus(handle, signal)).total > 0 : false;
    return deepFreeze({
      ...state,
      worktree: handle?.path ?? state.worktree,
      branch: branchOf(state.name),
      repo: this.repo,
      head: tip?.sha ?? state.rootSha,
      dirty,
    });
  }

  async #notFound(name: string, signal?: AbortSignal): Promise<BerthError> {
    const existing = (await this.list({ ...(signal ? { signal } : {}) }).catch(() => [])).map((w) => w.name);
    const remedy = existing.length
      ? `existing workspaces: ${existing.slice(0, 20).join(', ')}${existing.length > 20 ? `, ... (${existing.length} in all)` : ''}`
      : `there are no workspaces yet; create one with \`berth ws create ${name}\``;
    return new BerthError('WORKSPACE_NOT_FOUND', `workspace ${JSON.stringify(name)} does not exist in ${this.repo}: ${remedy}`, {
      details: { name, existing },
    });
  }

  #dirs(): DirsContext {
    return { git: this.#git, repo: this.repo, worktreesDir: this.worktreesDir, realDataDir: this.#realDataDir, logger: this.#logger };
  }
}

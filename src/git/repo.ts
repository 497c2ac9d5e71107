/**
 * A repository as berth sees it, and the git operations the workspace library needs on it, each
 * with its own error mapping. Every call goes through `run()`, i.e. the hardened base in run.ts.
 * Worktree operations live in worktree.ts, snapshots of agent-written worktrees in snapshot.ts.
 *
 * Argument safety: workspace names are validated before they reach here (names.ts), refs coming
 * from callers are passed after `--end-of-options` (git >= 2.24), paths are absolute, and commit
 * messages and note contents travel on stdin, so no caller string can be parsed as an option.
 * simple-git's own argument vetting (it refuses --upload-pack, ...) stays on.
 */
import { randomBytes } from 'node:crypto';
import { realpath, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BerthError } from '../errors.js';
import { failure, git, gitDirect, primeGitDirect, type RunOptions, type RunResult } from './run.js';
import { closeLaunchers } from './launch.js';
import { catFileBatch, closeCatFileBatch, notesInTree, type BatchObject } from './batch.js';
import {
  NOTES_REF,
  isSha,
  parseNulRecords,
  type BranchTip,
  type LogEntry,
  type NoteEntry,
  type StatusCounts,
  type WorktreeEntry,
  type WorktreeHandle,
} from './types.js';
import * as wt from './worktree.js';
import * as co from './checkout.js';
import * as notes from './notes.js';
import * as br from './branches.js';
import { commitAll, diffObjects, diffWorktree, type DiffText } from './snapshot.js';

/** Where unreadable state notes are kept (never resolvable as a base: see checkRefArg). */
export const QUARANTINE_REF_PREFIX = 'refs/berth/quarantine/';

export interface GitRepoOptions {
  /** Upper bound for any single git invocation (default 120 s). */
  readonly timeoutMs?: number;
}

export class GitRepo {
  /** Absolute path of the main worktree (the user's checkout). */
  readonly root: string;
  /** Absolute, symlink-free path of git's common dir (shared by all worktrees). */
  readonly commonDir: string;
  readonly timeoutMs: number;

  private constructor(root: string, commonDir: string, timeoutMs: number) {
    this.root = root;
    this.commonDir = commonDir;
    this.timeoutMs = timeoutMs;
  }

  /** Finds the repository containing `path`: NOT_A_REPO for a missing path, non-repo or bare repo. */
  static async discover(path: string, opts: GitRepoOptions & { signal?: AbortSignal | undefined } = {}): Promise<GitRepo> {
    const abs = resolve(path);
    let isDir: boolean;
    try {
      isDir = (await stat(abs)).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) {
      throw new BerthError('NOT_A_REPO', `${JSON.stringify(abs)} does not exist or is not a directory: pass the path of a git checkout (--repo)`);
    }
    const timeoutMs = opts.timeoutMs ?? 120_000;
    const probe = new GitRepo(abs, abs, timeoutMs);
    const res = await probe.run(['rev-parse', '--path-format=absolute', '--git-common-dir'], { cwd: abs, signal: opts.signal, ok: [0, 128] });
    if (res.exitCode !== 0) {
      if (/not a git repository/i.test(res.stderr)) {
        throw new BerthError(
          'NOT_A_REPO',
          `${JSON.stringify(abs)} is not inside a git repository: run \`git init\` there, or pass the path of a git checkout (--repo)`,
          {
            details: { stderr: res.stderr },
          },
        );
      }
      throw failure(['rev-parse'], res, abs);
    }
    const commonDir = await realpathOf(res.stdout.toString('utf8').trim());
    const list = await wt.listWorktreesAt(probe, abs, opts.signal);
    const main = list[0];
    if (!main || main.bare) {
      throw new BerthError(
        'NOT_A_REPO',
        `${JSON.stringify(abs)} is a bare repository: berth needs a checkout to branch from and merge into; clone it and run berth in the clone`,
      );
    }
    return new GitRepo(main.path, commonDir, timeoutMs);
  }

  /** Runs git with the hardened base (run.ts). Non-`ok` exit codes become BerthErrors. */
  run(args: readonly string[], opts: RunOptions): Promise<RunResult> {
    return git(args, opts, this.timeoutMs);
  }

  /** `run` without simple-git (run.ts gitDirect): only for arguments berth built itself. */
  runDirect(args: readonly string[], opts: Omit<RunOptions, 'env' | 'allowFileProtocol'>): Promise<RunResult> {
    return gitDirect(args, opts, this.timeoutMs);
  }

  // ---- refs and objects -------------------------------------------------------------------

  /** True when the repository has at least one ref pointing at a commit. */
  async hasCommits(signal?: AbortSignal): Promise<boolean> {
    const res = await this.run(['for-each-ref', '--count=1', '--format=%(objectname)'], { cwd: this.root, signal });
    return res.stdout.toString('utf8').trim() !== '';
  }

  /** Resolves `ref` to a commit sha: EMPTY_REPO when there are no commits at all, else UNKNOWN_REF. */
  async resolveCommit(ref: string, signal?: AbortSignal): Promise<string> {
    checkRefArg(ref);
    const res = await this.run(['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`], { cwd: this.root, signal, ok: [0, 1, 128] });
    const sha = res.stdout.toString('utf8').trim();
    if (res.exitCode === 0 && isSha(sha)) return sha;
    throw await this.#noSuchBase(ref, { ref, stderr: res.stderr }, signal);
  }

  /** Why `ref` names no commit: EMPTY_REPO when there are no commits at all, else UNKNOWN_REF. */
  async #noSuchBase(ref: string, details: Record<string, unknown>, signal?: AbortSignal): Promise<BerthError> {
    if (!(await this.hasCommits(signal))) {
      return new BerthError(
        'EMPTY_REPO',
        `repository ${JSON.stringify(this.root)} has no commits yet: make a first commit (e.g. \`git commit --allow-empty -m init\`) and retry`,
      );
    }
    return new BerthError(
      'UNKNOWN_REF',
      `base ref ${JSON.stringify(ref)} does not name a commit in ${JSON.stringify(this.root)}: pass a branch, tag or commit sha (see \`git branch -a\`)`,
      { details },
    );
  }

  /**
   * The checks `create` needs before it writes anything, in one request to the batch reader:
   * the base commit, whether its tree has `path` (any kind of entry), and whether each of
   * `refs` exists. The names travel on stdin, one per line, so none can be parsed as an option.
   * Base errors are those of resolveCommit (EMPTY_REPO, UNKNOWN_REF).
   */
  async probeBase(
    ref: string,
    path: string,
    refs: readonly string[],
    signal?: AbortSignal,
  ): Promise<{ sha: string; hasPath: boolean; existingRefs: Set<string> }> {
    checkRefArg(ref);
    for (const r of [path, ...refs]) {
      if (r.length === 0 || /[\0\n]/.test(r)) throw new BerthError('BAD_INPUT', `${JSON.stringify(r)} cannot be looked up`);
    }
    // git's DWIM tries refs/<name> before refs/heads/<name> (gitrevisions(7)), so a short name
    // like berth/kept/x would reach refs/berth/kept/x: probe that spelling too.
    const dwim = ref.split(/[~^@:]/)[0] ?? '';
    const lines = [`${ref}^{commit}`, `${ref}^{commit}:${path}`, ...refs, `refs/${dwim}`];
    const out = await this.batch(lines, signal);
    const dwimHit = out[lines.length - 1];
    if (!dwim.startsWith('refs/') && INTERNAL_REF_RE.test(dwim) && dwimHit) throw internalRef(ref, dwim);
    const found = (i: number): string | undefined => {
      const o = out[i];
      return o ? `${o.oid} ${o.type}` : undefined;
    };
    const base = found(0);
    const sha = base?.endsWith(' commit') ? (base.split(' ')[0] ?? '') : '';
    if (!isSha(sha)) throw await this.#noSuchBase(ref, { ref, output: base ?? 'missing' }, signal);
    const existingRefs = new Set<string>();
    refs.forEach((r, i) => {
      if (found(i + 2)) existingRefs.add(r);
    });
    return { sha, hasPath: found(1) !== undefined, existingRefs };
  }

  /** A commit with `parent`'s tree and `parent` as its only parent (an "empty" commit). */
  async commitEmptyOnto(parent: string, message: string, signal?: AbortSignal): Promise<string> {
    if (!isSha(parent)) throw new BerthError('BAD_INPUT', `${JSON.stringify(parent)} is not a commit id`);
    const res = await this.runDirect(['commit-tree', '-p', parent, '-F', '-', `${parent}^{tree}`], { cwd: this.root, signal, input: message });
    const sha = res.stdout.toString('utf8').trim();
    if (!isSha(sha)) throw new BerthError('GIT_ERROR', `git commit-tree printed ${JSON.stringify(sha)} instead of a commit id`);
    return sha;
  }

  /** Tips of all refs/heads/berth/* branches, keyed by the part after `berth/`. */
  berthBranches(signal?: AbortSignal): Promise<Map<string, BranchTip>> {
    return br.berthBranches(this, signal);
  }

  /** Deletes refs/heads/<branch>; missing branches are fine (delete is idempotent). */
  deleteBranch(branch: string, signal?: AbortSignal): Promise<void> {
    return br.deleteBranch(this, branch, signal);
  }

  // ---- notes ------------------------------------------------------------------------------

  /**
   * Every note in refs/notes/berth (what `git notes list` prints), read from the notes tree
   * through the batch reader: fan-out directories (two hex digits) are walked, one request per
   * level, and a path that spells a full object id is a note.
   */
  async listNotes(signal?: AbortSignal): Promise<NoteEntry[]> {
    return notesInTree((names) => this.batch(names, signal), NOTES_REF);
  }

  /** Whether `ref` (a full refname) exists, through the batch reader. */
  async hasRef(ref: string, signal?: AbortSignal): Promise<boolean> {
    if (!ref.startsWith('refs/')) throw new BerthError('BAD_INPUT', `${JSON.stringify(ref)} is not a full ref name`);
    return (await this.batch([ref], signal))[0] !== undefined;
  }

  /** Looks names up in the repository's long-lived `git cat-file --batch` (batch.ts). */
  batch(names: readonly string[], signal?: AbortSignal): Promise<(BatchObject | undefined)[]> {
    return catFileBatch(this.root, names, { timeoutMs: this.timeoutMs, signal });
  }

  /** Ends this repository's batch reader and git launchers (the next use spawns new ones). */
  close(): void {
    closeCatFileBatch(this.root);
    closeLaunchers(this.root);
  }

  /** Fork git launchers for the next create's writes now, while nothing waits (launch.ts). */
  async primeWrites(): Promise<void> {
    await primeGitDirect(this.root, this.timeoutMs);
  }

  /** Contents of blobs by sha, read through the batch reader; missing ones are absent. */
  async readBlobs(shas: readonly string[], signal?: AbortSignal): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    for (const [sha, o] of await this.readObjects(shas, signal)) if (o.type === 'blob') out.set(sha, o.data);
    return out;
  }

  /** Objects by sha (any type), read through the batch reader; missing ones are absent. */
  async readObjects(shas: readonly string[], signal?: AbortSignal): Promise<Map<string, { type: string; data: Buffer }>> {
    const out = new Map<string, { type: string; data: Buffer }>();
    const wanted = [...new Set(shas)].filter(isSha);
    if (wanted.length === 0) return out;
    const objs = await this.batch(wanted, signal);
    wanted.forEach((sha, i) => {
      const o = objs[i];
      if (o && o.oid === sha) out.set(sha, { type: o.type, data: o.data });
    });
    return out;
  }

  /** Keeps an unreadable note's blob reachable under refs/berth/quarantine/<name>/<object>. */
  quarantineNote(name: string, object: string, blob: string, signal?: AbortSignal): Promise<string> {
    return notes.quarantineNote(this, `${QUARANTINE_REF_PREFIX}${name}/${object}`, blob, signal);
  }

  /** Replaces the note on `object` with `content`, byte for byte (no message clean-up). */
  writeNote(object: string, content: string, signal?: AbortSignal): Promise<void> {
    return notes.writeNote(this, object, content, signal);
  }

  removeNote(object: string, signal?: AbortSignal): Promise<void> {
    return notes.removeNote(this, object, signal);
  }

  /** Diff between two commits (used when a workspace's worktree directory is gone), capped. */
  diffCommits(base: string, tip: string, opts: { stat?: boolean | undefined; maxBytes: number; signal?: AbortSignal | undefined }): Promise<DiffText> {
    return diffObjects(this, base, tip, opts);
  }

  // ---- worktrees (worktree.ts) and snapshots (snapshot.ts) ----------------------------------

  listWorktrees(signal?: AbortSignal): Promise<WorktreeEntry[]> {
    return wt.listWorktreesAt(this, this.root, signal);
  }

  /** The admin dir of the worktree at `path`, from git's records (never from its `.git` file). */
  async worktreeGitDir(path: string): Promise<string | undefined> {
    return (await wt.worktreeGitDirs(this.commonDir)).get(resolve(path));
  }

  worktreeGitDirs(): Promise<Map<string, string>> {
    return wt.worktreeGitDirs(this.commonDir);
  }

  addWorktree(path: string, branch: string, start: string, signal?: AbortSignal): Promise<WorktreeHandle> {
    return wt.addWorktree(this, path, branch, start, signal);
  }

  async removeWorktree(path: string, signal?: AbortSignal): Promise<void> {
    return wt.removeWorktree(this, path, await this.worktreeGitDir(path), signal);
  }

  detachWorktreeKeepingDir(handle: WorktreeHandle): Promise<void> {
    return wt.detachWorktreeKeepingDir(this.commonDir, handle);
  }

  worktreeStatus(handle: WorktreeHandle, signal?: AbortSignal): Promise<StatusCounts> {
    return wt.worktreeStatus(this, handle, signal);
  }

  worktreeBranch(handle: WorktreeHandle, signal?: AbortSignal): Promise<string | undefined> {
    return wt.worktreeBranch(this, handle, signal);
  }

  /** Checkpoint: snapshot the worktree (snapshot.ts) and commit it on `branch`. */
  commitAll(
    handle: WorktreeHandle,
    branch: { readonly ref: string; readonly head: string },
    message: string,
    signal?: AbortSignal,
  ): Promise<{ sha: string; filesChanged: number; warnings: string[] } | undefined> {
    return commitAll(this, handle, branch, message, signal);
  }

  diffWorktree(
    handle: WorktreeHandle,
    base: string,
    opts: { stat?: boolean | undefined; maxBytes: number; signal?: AbortSignal | undefined },
  ): Promise<DiffText> {
    return diffWorktree(this, handle, base, opts);
  }

  async log(exclude: string, tip: string, opts: { limit?: number | undefined; signal?: AbortSignal | undefined }): Promise<LogEntry[]> {
    const args = ['log', '--no-color', '--no-ext-diff', '--no-textconv', '-z', '--format=%H%x1f%an <%ae>%x1f%aI%x1f%s'];
    if (opts.limit !== undefined) args.push(`--max-count=${Math.max(0, Math.floor(opts.limit))}`);
    const res = await this.run([...args, '--end-of-options', tip, `^${exclude}`, '--'], { cwd: this.root, signal: opts.signal });
    return parseNulRecords(res.stdout).map((rec) => {
      const [sha = '', author = '', date = '', ...subject] = rec.replace(/^\n/, '').split('\x1f');
      return { sha, author, date, subject: subject.join('\x1f') };
    });
  }

  // ---- the user's checkout (checkout.ts) ----------------------------------------------------

  checkoutStatus(signal?: AbortSignal): Promise<StatusCounts> {
    return co.checkoutStatus(this, signal);
  }

  /** Name of an operation (merge, rebase, cherry-pick, revert) in progress in the checkout, if any. */
  operationInProgress(signal?: AbortSignal): Promise<string | undefined> {
    return co.operationInProgress(this, signal);
  }

  checkoutBranch(signal?: AbortSignal): Promise<string | undefined> {
    return co.checkoutBranch(this, signal);
  }

  checkoutHead(signal?: AbortSignal): Promise<string | undefined> {
    return co.checkoutHead(this, signal);
  }

  mergeIntoCheckout(ref: string, opts: { squash: boolean; message: string; signal?: AbortSignal | undefined }): Promise<string | undefined> {
    return co.mergeIntoCheckout(this, ref, opts);
  }
}

/** berth's own namespaces: a "base" there is state (notes) or bookkeeping, never a branch. */
const INTERNAL_REF_RE = /^(?:refs\/)?(?:notes|berth)(?:\/|$)/i;

function internalRef(ref: string, name: string): BerthError {
  return new BerthError(
    'UNKNOWN_REF',
    `base ref ${JSON.stringify(ref)} names berth's internal refs (${NOTES_REF}, refs/berth/...), not a branch, tag or commit: pass a branch or tag (use refs/heads/${name.replace(/^refs\//, '')} for a branch of that name)`,
  );
}

function checkRefArg(ref: string): void {
  // No branch, tag or sha starts with '-' (git-check-ref-format(1)); such a "ref" is an option.
  if (ref.length === 0 || ref.length > 1024 || /[\0\n]/.test(ref) || ref.startsWith('-')) {
    throw new BerthError('UNKNOWN_REF', `base ref ${JSON.stringify(ref.slice(0, 100))} is not a valid git ref: pass a branch, tag or commit (e.g. HEAD, main)`);
  }
  // Spelled out in full: refs/notes/... or refs/berth/... (short names are probed in probeBase).
  const name = ref.split(/[~^@:]/)[0] ?? '';
  if (name.startsWith('refs/') && INTERNAL_REF_RE.test(name)) throw internalRef(ref, name);
}

async function realpathOf(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch {
    return resolve(p);
  }
}

/** A short unique token for the root commit's trailer. */
export function uniqueToken(): string {
  return `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
}

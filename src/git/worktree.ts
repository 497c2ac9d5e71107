/**
 * Linked worktrees. A worktree is always addressed through its admin dir
 * ($GIT_COMMON_DIR/worktrees/<id>, gitrepository-layout(5)), found from git's own records, never
 * through the worktree's `.git` file: that file lives in the agent-writable tree and could point
 * git at a repository whose config runs commands on the host.
 */
import { readFileSync } from 'node:fs';
import { readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { BerthError } from '../errors.js';
import type { RunOptions, RunResult } from './run.js';
import { failure, lastLines } from './run.js';
import { isSha, parseStatus, type StatusCounts, type WorktreeEntry, type WorktreeHandle } from './types.js';

/** What these functions need of a GitRepo (a GitRepo satisfies it). */
export interface GitRunner {
  readonly root: string;
  readonly commonDir: string;
  run(args: readonly string[], opts: RunOptions): Promise<RunResult>;
  /** `run` without simple-git's argument vetting: only for arguments berth built itself. */
  runDirect(args: readonly string[], opts: Omit<RunOptions, 'env' | 'allowFileProtocol'>): Promise<RunResult>;
}

/** cwd + env that make git operate on `wt` through its admin dir. */
export function wtOpts(wt: WorktreeHandle): Pick<RunOptions, 'cwd' | 'env'> {
  return { cwd: wt.path, env: { GIT_DIR: wt.gitDir, GIT_WORK_TREE: wt.path } };
}

export async function listWorktreesAt(repo: Pick<GitRunner, 'run'>, cwd: string, signal?: AbortSignal): Promise<WorktreeEntry[]> {
  const res = await repo.run(['worktree', 'list', '--porcelain', '-z'], { cwd, signal });
  const out: WorktreeEntry[] = [];
  let cur: { path?: string; head?: string; branch?: string; bare: boolean } = { bare: false };
  const flush = () => {
    if (cur.path) out.push({ path: cur.path, head: cur.head, branch: cur.branch, bare: cur.bare });
    cur = { bare: false };
  };
  // Records are NUL-terminated lines; an empty line ends a worktree.
  for (const field of res.stdout.toString('utf8').split('\0')) {
    if (field === '') flush();
    else if (field.startsWith('worktree ')) cur.path = field.slice('worktree '.length);
    else if (field.startsWith('HEAD ')) cur.head = field.slice('HEAD '.length);
    else if (field.startsWith('branch ')) cur.branch = field.slice('branch '.length);
    else if (field === 'bare') cur.bare = true;
  }
  flush();
  return out;
}

/** Worktree path -> admin dir, for every linked worktree (one directory scan of git's records). */
export async function worktreeGitDirs(commonDir: string): Promise<Map<string, string>> {
  const admin = join(commonDir, 'worktrees');
  const out = new Map<string, string>();
  let ids: string[];
  try {
    ids = await readdir(admin);
  } catch {
    return out;
  }
  for (const id of ids) {
    try {
      const target = resolve((await readFile(join(admin, id, 'gitdir'), 'utf8')).trim());
      if (basename(target) === '.git') out.set(dirname(target), join(admin, id));
    } catch {
      continue;
    }
  }
  return out;
}

/** `git worktree add -b <branch> <path> <start>`: the branch and the checkout in one step. */
export async function addWorktree(repo: GitRunner, path: string, branch: string, start: string, signal?: AbortSignal): Promise<WorktreeHandle> {
  const res = await repo.run(['worktree', 'add', '--quiet', '-b', branch, path, start], { cwd: repo.root, signal, ok: [0, 128, 255] });
  if (res.exitCode !== 0) {
    if (/already exists/.test(res.stderr) && /branch/i.test(res.stderr)) {
      throw new BerthError('WORKSPACE_EXISTS', `branch ${JSON.stringify(branch)} already exists: pick another name or delete the branch`, {
        details: { stderr: res.stderr },
      });
    }
    if (/already exists/.test(res.stderr)) {
      throw new BerthError('BAD_INPUT', `worktree directory ${JSON.stringify(path)} already exists and is not empty: pass an empty directory or remove it`, {
        details: { stderr: res.stderr },
      });
    }
    throw failure(['worktree', 'add'], res, repo.root);
  }
  const gitDir = (await worktreeGitDirs(repo.commonDir)).get(resolve(path));
  if (!gitDir) throw new BerthError('GIT_ERROR', `git worktree add did not register ${JSON.stringify(path)}`);
  return { path, gitDir };
}

/**
 * Removes a registered worktree and its directory, even with untracked or modified files. When git
 * refuses because the agent rewrote the worktree's `.git` file ("does not point back"), the
 * directory and the admin dir found from git's records are removed directly.
 */
export async function removeWorktree(repo: GitRunner, path: string, gitDir: string | undefined, signal?: AbortSignal): Promise<void> {
  // Twice --force: also removes a worktree someone locked (`git worktree lock`).
  const res = await repo.run(['worktree', 'remove', '--force', '--force', path], { cwd: repo.root, signal, ok: [0, 128] });
  if (res.exitCode === 0) return;
  if (/is not a working tree/.test(res.stderr)) return;
  if (gitDir && /validation failed|does not point back|not a \.git file|\.git.*(?:does not exist|is not)/i.test(res.stderr)) {
    assertAdminDir(repo.commonDir, gitDir);
    await rm(path, { recursive: true, force: true });
    await rm(gitDir, { recursive: true, force: true });
    return;
  }
  throw new BerthError(
    'GIT_ERROR',
    `could not remove worktree ${JSON.stringify(path)}: ${lastLines(res.stderr)}; fix the permissions (files created by a container as another user?) and retry`,
    {
      details: { stderr: res.stderr },
    },
  );
}

function assertAdminDir(commonDir: string, gitDir: string): void {
  const admin = resolve(commonDir, 'worktrees');
  const dir = resolve(gitDir);
  if (dirname(dir) !== admin || basename(dir).length === 0) {
    throw new BerthError('GIT_ERROR', `refusing to remove ${JSON.stringify(dir)}: not a worktree admin dir under ${JSON.stringify(admin)}`);
  }
}

/**
 * Unregisters a worktree whose directory must stay (a caller-provided, possibly bind-mounted
 * directory): empties the directory, then removes only this worktree's admin dir — what
 * `git worktree prune` would do for it, without touching the user's other stale worktrees.
 */
export async function detachWorktreeKeepingDir(commonDir: string, wt: WorktreeHandle): Promise<void> {
  assertAdminDir(commonDir, wt.gitDir);
  for (const entry of await readdir(wt.path)) await rm(join(wt.path, entry), { recursive: true, force: true });
  await rm(resolve(wt.gitDir), { recursive: true, force: true });
}

/** Counts of changes in `wt`; nested repositories and gitlinks are never entered. */
export async function worktreeStatus(repo: GitRunner, wt: WorktreeHandle, signal?: AbortSignal): Promise<StatusCounts> {
  const res = await repo.run(['status', '--porcelain=v1', '-z', '--untracked-files=all', '--ignore-submodules=all', '--no-renames'], {
    ...wtOpts(wt),
    signal,
    noOptionalLocks: true,
  });
  return parseStatus(res.stdout);
}

/** The branch checked out in `wt` (full ref) or undefined when detached. */
export async function worktreeBranch(repo: GitRunner, wt: WorktreeHandle, signal?: AbortSignal): Promise<string | undefined> {
  const res = await repo.run(['symbolic-ref', '--quiet', 'HEAD'], { ...wtOpts(wt), signal, ok: [0, 1] });
  return res.exitCode === 0 ? res.stdout.toString('utf8').trim() : undefined;
}

// ---- prepared worktrees (the warm pool's slots; see src/workspace/prepared.ts) --------------

/**
 * `git worktree add --detach <path> <sha>`: a worktree with the files of `sha` checked out and
 * no branch, in an existing empty directory. The checkout of the files, the slow part of a
 * workspace's creation, then happens before anyone asks for a workspace.
 */
export async function addDetachedWorktree(repo: GitRunner, path: string, sha: string, signal?: AbortSignal): Promise<WorktreeHandle> {
  if (!isSha(sha)) throw new BerthError('BAD_INPUT', `${JSON.stringify(sha)} is not a commit id`);
  const res = await repo.run(['worktree', 'add', '--quiet', '--detach', path, sha], { cwd: repo.root, signal, ok: [0, 128, 255] });
  if (res.exitCode !== 0) throw failure(['worktree', 'add'], res, repo.root);
  const gitDir = (await worktreeGitDirs(repo.commonDir)).get(resolve(path));
  if (!gitDir) throw new BerthError('GIT_ERROR', `git worktree add did not register ${JSON.stringify(path)}`);
  return { path, gitDir };
}

/**
 * The registration of the worktree at `path` when git named its admin dir after the path's
 * basename (what `git worktree add` does unless that name is taken), else undefined (callers
 * then scan with worktreeGitDirs). Synchronous on purpose: two tiny reads on a claim's path cost
 * less than a wait for the libuv threadpool while git processes are being spawned.
 */
export function worktreeByBasenameSync(commonDir: string, path: string): WorktreeHandle | undefined {
  const gitDir = join(commonDir, 'worktrees', basename(path));
  try {
    if (resolve(readFileSync(join(gitDir, 'gitdir'), 'utf8').trim()) === join(resolve(path), '.git')) return { path, gitDir };
  } catch {
    return undefined;
  }
  return undefined;
}

/**
 * What the worktree's HEAD holds, read from its admin dir (git's own record, not the agent-side
 * `.git` file): `{ detached: sha }` or `{ ref: 'refs/heads/...' }`; undefined when unreadable.
 * Synchronous for the same reason as worktreeByBasenameSync.
 */
export function worktreeHead(wt: WorktreeHandle): { detached: string } | { ref: string } | undefined {
  let text: string;
  try {
    text = readFileSync(join(wt.gitDir, 'HEAD'), 'utf8');
  } catch {
    return undefined;
  }
  const line = text.trim();
  const m = /^ref: (refs\/\S+)$/.exec(line);
  if (m?.[1]) return { ref: m[1] };
  return isSha(line) ? { detached: line } : undefined;
}

/**
 * Creates refs/heads/<branch> at `sha` (refusing an existing one: empty old value, see
 * git-update-ref(1)) and points the worktree's HEAD at it. The worktree's index and files stay as
 * they are: the caller guarantees `sha`'s tree is the one checked out (berth's root commit has its
 * base's tree). One tiny git process; HEAD is written the way git writes it (see writeHeadRef).
 */
export async function attachWorktreeToNewBranch(repo: GitRunner, wt: WorktreeHandle, branch: string, sha: string, signal?: AbortSignal): Promise<void> {
  if (!isSha(sha)) throw new BerthError('BAD_INPUT', `${JSON.stringify(sha)} is not a commit id`);
  assertAdminDir(repo.commonDir, wt.gitDir);
  const ref = `refs/heads/${branch}`;
  const [created, attached] = await Promise.allSettled([
    repo.runDirect(['update-ref', '-m', `branch: Created from ${sha}`, '--end-of-options', ref, sha, ''], { cwd: repo.root, signal, ok: [0, 1, 128] }),
    writeHeadRef(wt.gitDir, ref),
  ]);
  if (attached.status === 'rejected') throw attached.reason;
  if (created.status === 'rejected') throw created.reason;
  if (created.value.exitCode !== 0) {
    if (/reference already exists|cannot lock ref/i.test(created.value.stderr)) {
      throw new BerthError('WORKSPACE_EXISTS', `branch ${JSON.stringify(branch)} already exists: pick another name or delete the branch`, {
        details: { stderr: created.value.stderr },
      });
    }
    throw failure(['update-ref', ref], created.value, repo.root);
  }
}

/**
 * Points the admin dir's HEAD at `ref` as `git symbolic-ref` does (gitrepository-layout(5):
 * "ref: <ref>\n"), through git's lock-file protocol: HEAD.lock created exclusively (a concurrent
 * git in that worktree fails instead of being overwritten), then renamed over HEAD. One git
 * process less on a warm claim, where each costs milliseconds.
 */
async function writeHeadRef(gitDir: string, ref: string): Promise<void> {
  const lock = join(gitDir, 'HEAD.lock');
  try {
    await writeFile(lock, `ref: ${ref}\n`, { flag: 'wx', mode: 0o644 });
  } catch (err) {
    throw new BerthError(
      'GIT_ERROR',
      `could not lock ${JSON.stringify(join(gitDir, 'HEAD'))}: ${(err as Error).message}; if no git process is running there, remove ${lock} and retry`,
      { cause: err },
    );
  }
  try {
    await rename(lock, join(gitDir, 'HEAD'));
  } catch (err) {
    await rm(lock, { force: true });
    throw err;
  }
}

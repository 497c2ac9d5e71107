/**
 * The host half of remote workspaces (runner/session/remote.ts): the git bundles that carry a
 * workspace's branch to a volume on another engine and its checkpoints back. Every git call goes
 * through src/git's hardened base.
 *
 * What comes back is agent-influenced content, so a bundle is accepted only if
 *  - it advertises exactly one head, the workspace's own `refs/heads/berth/<name>` (nothing else
 *    of the bundle gets a ref here: the fetch names that one refspec),
 *  - every object passes `transfer.fsckObjects` (malformed trees, `.git` path entries, …),
 *  - its head descends from the branch's current head (checkpoints only append),
 * and the caller bounded its size before it reached the disk (docker/workspace-volume.ts).
 */
import { BRANCH_REF_PREFIX, GitRepo, isSha } from '../git/index.js';
import { BerthError } from '../errors.js';
import type { Workspaces } from './workspaces.js';

const INCOMING_REF_PREFIX = 'refs/berth/remote-in/';

interface Call {
  readonly signal?: AbortSignal | undefined;
}

/** Write a bundle of branch berth/<name> (its full history) to `out`; returns the head it holds. */
export async function bundleBranch(repoPath: string, name: string, out: string, call: Call = {}): Promise<string> {
  const git = await GitRepo.discover(repoPath, call);
  const ref = `${BRANCH_REF_PREFIX}${name}`;
  const head = (await git.run(['rev-parse', '--verify', '--end-of-options', `${ref}^{commit}`], { cwd: git.root, signal: call.signal })).stdout
    .toString('utf8')
    .trim();
  await git.run(['bundle', 'create', '--quiet', out, ref], { cwd: git.root, signal: call.signal });
  return head;
}

export interface AppliedBundle {
  readonly sha: string;
  readonly previous: string;
}

/**
 * Fetch berth/<name> from the bundle file (made in the workspace's volume) and move the host
 * branch and its worktree to it. The worktree must be clean: it mirrors the last checkpoint, and
 * edits made there by hand are never overwritten.
 */
export async function applyWorkspaceBundle(workspaces: Workspaces, name: string, file: string, call: Call = {}): Promise<AppliedBundle> {
  const git = await GitRepo.discover(workspaces.repo, call);
  const ref = `${BRANCH_REF_PREFIX}${name}`;
  const heads = (await git.run(['bundle', 'list-heads', file], { cwd: git.root, signal: call.signal, allowFileProtocol: true })).stdout
    .toString('utf8')
    .split('\n')
    .filter(Boolean);
  const m = heads.length === 1 ? /^([0-9a-f]{40,64}) (\S+)$/.exec(heads[0] as string) : null;
  if (!m || m[2] !== ref) {
    throw new BerthError(
      'UNSAFE_CONTENT',
      `the checkpoint bundle of remote workspace ${JSON.stringify(name)} must hold only ${ref}; it holds ${JSON.stringify(heads)}`,
      {
        details: { heads },
      },
    );
  }
  const sha = m[1] as string;
  const incoming = `${INCOMING_REF_PREFIX}${name}`;
  return workspaces.withLock(async () => {
    const info = await workspaces.get(name, call);
    if (info.dirty) {
      throw new BerthError(
        'DIRTY_CHECKOUT',
        `the host worktree of remote workspace ${JSON.stringify(name)} (${info.worktree}) has local edits: commit or discard them there (it mirrors the last checkpoint), then retry`,
      );
    }
    try {
      // The file protocol is lifted for this one bundle; objects are checked as they arrive.
      await git.run(
        ['-c', 'transfer.fsckObjects=true', 'fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--no-recurse-submodules', file, `+${ref}:${incoming}`],
        { cwd: git.root, signal: call.signal, allowFileProtocol: true },
      );
      if (sha !== info.head) await assertDescends(git, info.head, sha, name, call);
      if (sha !== info.head) await moveWorktree(git, info.worktree, name, sha, call);
      return { sha, previous: info.head };
    } finally {
      await git.run(['update-ref', '-d', incoming], { cwd: git.root, ok: [0, 1] }).catch(() => undefined);
    }
  }, call);
}

async function assertDescends(git: GitRepo, ancestor: string, tip: string, name: string, call: Call): Promise<void> {
  const r = await git.run(['merge-base', '--is-ancestor', '--end-of-options', ancestor, tip], { cwd: git.root, ok: [0, 1], signal: call.signal });
  if (r.exitCode !== 0) {
    throw new BerthError(
      'GIT_ERROR',
      `remote workspace ${JSON.stringify(name)} is at ${tip.slice(0, 12)}, which does not descend from the host branch head ${ancestor.slice(0, 12)}: the volume and the host diverged; restore the workspace to a checkpoint to reseed it`,
    );
  }
}

/** reset --hard of the workspace's own worktree (HEAD is symbolic to its branch, so the branch moves). */
async function moveWorktree(git: GitRepo, worktree: string, name: string, sha: string, call: Call): Promise<void> {
  if (!isSha(sha)) throw new BerthError('INTERNAL', `not a commit id: ${JSON.stringify(sha)}`);
  const gitDir = await git.worktreeGitDir(worktree);
  if (!gitDir)
    throw new BerthError(
      'NOT_FOUND',
      `the host worktree of workspace ${JSON.stringify(name)} (${worktree}) is missing: run \`berth ws repair\` or recreate it`,
    );
  const wt = { cwd: worktree, env: { GIT_DIR: gitDir, GIT_WORK_TREE: worktree } };
  const branch = (await git.run(['symbolic-ref', '--quiet', 'HEAD'], { ...wt, ok: [0, 1], signal: call.signal })).stdout.toString('utf8').trim();
  if (branch !== `${BRANCH_REF_PREFIX}${name}`) {
    throw new BerthError(
      'DIRTY_CHECKOUT',
      `the host worktree of ${JSON.stringify(name)} has ${branch || 'a detached HEAD'} checked out instead of berth/${name}: switch it back and retry`,
    );
  }
  await git.run(['reset', '--hard', '--quiet', sha], { ...wt, signal: call.signal });
}

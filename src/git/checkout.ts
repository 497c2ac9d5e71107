/**
 * Operations on the user's own checkout (the main worktree): its status and branch, and merging
 * a workspace branch into it. Everything runs through the hardened base (run.ts).
 */
import { stat } from 'node:fs/promises';
import { BerthError } from '../errors.js';
import { failure, lastLines } from './run.js';
import { parseNulRecords, parseStatus, type StatusCounts } from './types.js';
import type { GitRunner } from './worktree.js';

export async function checkoutStatus(repo: GitRunner, signal?: AbortSignal): Promise<StatusCounts> {
  const res = await repo.run(['status', '--porcelain=v1', '-z', '--untracked-files=normal'], { cwd: repo.root, signal, noOptionalLocks: true });
  return parseStatus(res.stdout);
}

/** Name of an operation (merge, rebase, cherry-pick, revert) in progress in the checkout, if any. */
export async function operationInProgress(repo: GitRunner, signal?: AbortSignal): Promise<string | undefined> {
  const probes: [string, string][] = [
    ['MERGE_HEAD', 'a merge'],
    ['CHERRY_PICK_HEAD', 'a cherry-pick'],
    ['REVERT_HEAD', 'a revert'],
    ['rebase-merge', 'a rebase'],
    ['rebase-apply', 'a rebase or am'],
  ];
  const res = await repo.run(['rev-parse', '--path-format=absolute', ...probes.flatMap(([p]) => ['--git-path', p])], { cwd: repo.root, signal });
  const paths = res.stdout.toString('utf8').split('\n').filter(Boolean);
  for (let i = 0; i < probes.length; i++) {
    const p = paths[i];
    if (p && (await exists(p))) return probes[i]?.[1];
  }
  return undefined;
}

/** The checkout's current branch (full ref), or undefined when HEAD is detached. */
export async function checkoutBranch(repo: GitRunner, signal?: AbortSignal): Promise<string | undefined> {
  const res = await repo.run(['symbolic-ref', '--quiet', 'HEAD'], { cwd: repo.root, signal, ok: [0, 1] });
  return res.exitCode === 0 ? res.stdout.toString('utf8').trim() : undefined;
}

export async function checkoutHead(repo: GitRunner, signal?: AbortSignal): Promise<string | undefined> {
  const res = await repo.run(['rev-parse', '--verify', '--quiet', 'HEAD'], { cwd: repo.root, signal, ok: [0, 1] });
  return res.exitCode === 0 ? res.stdout.toString('utf8').trim() : undefined;
}

/**
 * Merges `ref` into the checkout's current branch. On conflict the merge is undone (the
 * checkout is left as it was) and MERGE_CONFLICT lists the conflicting paths. Returns the new
 * HEAD, or undefined when there was nothing to merge.
 */
export async function mergeIntoCheckout(
  repo: GitRunner,
  ref: string,
  opts: { squash: boolean; message: string; signal?: AbortSignal | undefined },
): Promise<string | undefined> {
  const { signal } = opts;
  const before = await checkoutHead(repo, signal);
  const common = ['--no-autostash', '--no-verify-signatures', '--no-stat', '--quiet'];
  const args = opts.squash ? ['merge', '--squash', ...common] : ['merge', '--no-ff', '--no-edit', ...common, '-m', opts.message];
  const res = await repo.run([...args, '--end-of-options', ref], { cwd: repo.root, signal, ok: [0, 1, 2, 128] });
  if (res.exitCode !== 0) {
    const text = `${res.stderr}\n${res.stdout.toString('utf8')}`;
    if (/CONFLICT|Automatic merge failed|fix conflicts/i.test(text)) {
      const conflicted = await repo.run(['diff', '--name-only', '--diff-filter=U', '-z'], { cwd: repo.root, signal });
      const files = parseNulRecords(conflicted.stdout);
      await undoMerge(repo, opts.squash);
      throw new BerthError(
        'MERGE_CONFLICT',
        `merging ${JSON.stringify(ref)} conflicts in ${files.length} file(s) (${files.slice(0, 10).join(', ')}${files.length > 10 ? ', ...' : ''}); the merge was aborted and your checkout is unchanged. Resolve it by hand (\`git merge ${ref}\`) or rebase the workspace`,
        { details: { files, stderr: res.stderr } },
      );
    }
    if (/would be overwritten|local changes|untracked working tree files/i.test(text)) {
      await undoMerge(repo, opts.squash).catch(() => undefined);
      throw new BerthError(
        'DIRTY_CHECKOUT',
        `your checkout ${JSON.stringify(repo.root)} has files the merge would overwrite (${lastLines(text, 6)}): commit, stash or move them and retry`,
        {
          details: { stderr: res.stderr },
        },
      );
    }
    throw failure(['merge', ref], res, repo.root);
  }
  if (opts.squash) {
    const staged = await repo.run(['diff', '--cached', '--quiet'], { cwd: repo.root, signal, ok: [0, 1] });
    if (staged.exitCode === 0) {
      await undoMerge(repo, true);
      return undefined;
    }
    await repo.run(['commit', '--quiet', '--no-verify', '--no-edit', '-F', '-'], { cwd: repo.root, signal, input: opts.message });
  }
  const after = await checkoutHead(repo, signal);
  return after === before ? undefined : after;
}

/**
 * A squash merge leaves no MERGE_HEAD, so `git merge --abort` cannot undo it; `reset --merge`
 * undoes both kinds while keeping untouched local files (see git-reset(1), "--merge").
 */
async function undoMerge(repo: GitRunner, squash: boolean): Promise<void> {
  if (!squash) {
    const res = await repo.run(['merge', '--abort'], { cwd: repo.root, ok: [0, 128] });
    if (res.exitCode === 0) return;
  }
  await repo.run(['reset', '--merge', '--quiet'], { cwd: repo.root });
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

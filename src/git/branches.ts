/** berth's branches (refs/heads/berth/*): listing their tips and deleting one. Split out of repo.ts. */
import { BerthError } from '../errors.js';
import { failure } from './run.js';
import { BRANCH_REF_PREFIX, type BranchTip } from './types.js';
import type { GitRunner } from './worktree.js';

/** Tips of all refs/heads/berth/* branches, keyed by the part after `berth/`. */
export async function berthBranches(repo: GitRunner, signal?: AbortSignal): Promise<Map<string, BranchTip>> {
  const res = await repo.run(['for-each-ref', '--format=%(objectname) %(committerdate:unix) %(refname)', BRANCH_REF_PREFIX], {
    cwd: repo.root,
    signal,
  });
  const out = new Map<string, BranchTip>();
  for (const line of res.stdout.toString('utf8').split('\n')) {
    const m = /^([0-9a-f]{40,64}) (\d*) (.+)$/.exec(line);
    if (!m || !m[3]?.startsWith(BRANCH_REF_PREFIX)) continue;
    out.set(m[3].slice(BRANCH_REF_PREFIX.length), { sha: m[1] ?? '', committedAt: Number(m[2] || 0) * 1000 });
  }
  return out;
}

/** Deletes refs/heads/<branch>; missing branches are fine (delete is idempotent). */
export async function deleteBranch(repo: GitRunner, branch: string, signal?: AbortSignal): Promise<void> {
  const res = await repo.run(['branch', '-D', '--end-of-options', branch], { cwd: repo.root, signal, ok: [0, 1] });
  if (res.exitCode === 0 || /not found/.test(res.stderr)) return;
  const where = /checked out at '([^']+)'/.exec(res.stderr);
  if (where) {
    throw new BerthError(
      'GIT_ERROR',
      `branch ${JSON.stringify(branch)} is checked out at ${JSON.stringify(where[1])}: switch that checkout to another branch and retry`,
      {
        details: { stderr: res.stderr },
      },
    );
  }
  throw failure(['branch', '-D', branch], res, repo.root);
}

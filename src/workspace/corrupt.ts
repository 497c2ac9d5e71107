/**
 * Unreadable state notes. A note that does not parse must not make its workspace vanish: list
 * would stop showing it and the runner's gc would then treat its container and worktree as
 * orphans. Instead the workspace is recovered from what git itself records: the root commit's
 * trailers (Berth-Workspace, Berth-Base), its committer date, and the worktree git has registered
 * with berth/<name> checked out. The raw note is copied under refs/berth/quarantine/ first.
 */
import { BRANCH_REF_PREFIX, type GitRepo, type WorktreeEntry } from '../git/index.js';
import { isValidName } from './names.js';
import { deepFreeze } from './state.js';
import type { CorruptState, WorkspaceState } from './types.js';

/** A state as stored, or recovered from an unreadable note (then `corrupt` is set). */
export type StoredState = WorkspaceState & { readonly corrupt?: CorruptState };

export interface UnreadableNote {
  readonly blob: string;
  readonly object: string;
  readonly reason: string;
}

function trailer(message: string, key: string): string | undefined {
  const m = new RegExp(`^${key}: *(\\S+) *$`, 'm').exec(message);
  return m?.[1];
}

/** Recovers the workspaces whose notes are unreadable; notes not on a berth root commit are dropped. */
export async function recoverCorrupt(
  git: GitRepo,
  notes: readonly UnreadableNote[],
  worktrees: readonly WorktreeEntry[],
  ownsDir: (path: string) => boolean,
  signal?: AbortSignal,
): Promise<StoredState[]> {
  if (notes.length === 0) return [];
  const commits = await git.readObjects(
    notes.map((n) => n.object),
    signal,
  );
  const out: StoredState[] = [];
  for (const n of notes) {
    const c = commits.get(n.object);
    if (c?.type !== 'commit') continue;
    const text = c.data.toString('utf8');
    const split = text.indexOf('\n\n');
    const headers = split < 0 ? text : text.slice(0, split);
    const message = split < 0 ? '' : text.slice(split + 2);
    const name = trailer(message, 'Berth-Workspace');
    const baseSha = trailer(message, 'Berth-Base') ?? /^parent (\S+)$/m.exec(headers)?.[1] ?? n.object;
    if (!name || !isValidName(name)) continue;
    const when = Number(/^committer .* (\d+) [+-]\d{4}$/m.exec(headers)?.[1] ?? 0) * 1000;
    const wt = worktrees.slice(1).find((w) => w.branch === `${BRANCH_REF_PREFIX}${name}`);
    const quarantineRef = await git.quarantineNote(name, n.object, n.blob, signal);
    out.push(
      deepFreeze({
        version: 1 as const,
        name,
        baseRef: baseSha,
        baseSha,
        rootSha: n.object,
        worktree: wt?.path ?? '/',
        ownsWorktreeDir: wt ? ownsDir(wt.path) : false,
        createdAt: new Date(when).toISOString(),
        extra: {},
        corrupt: { reason: n.reason, quarantineRef },
      }),
    );
  }
  return out;
}

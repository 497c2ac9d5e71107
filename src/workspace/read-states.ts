/**
 * Every berth state note (refs/notes/berth), including ones whose branch is gone, split out of
 * workspaces.ts. Unreadable notes on a berth root commit come back recovered and marked `corrupt`
 * (corrupt.ts), so the workspace never silently vanishes. The notes tree and the blobs are read
 * through the repository's batch reader (src/git/batch.ts): no git process when it is running.
 */
import type { GitRepo } from '../git/index.js';
import { recoverCorrupt, type StoredState, type UnreadableNote } from './corrupt.js';
import { isInside } from './helpers.js';
import { parseState } from './state.js';
import type { WorkspaceLogger } from './types.js';

export interface StatesContext {
  readonly git: GitRepo;
  readonly logger: WorkspaceLogger;
  /** berth's default worktree directory for this repository (recovery trusts worktrees there). */
  readonly worktreesDir: string;
}

export async function readStates(ctx: StatesContext, signal?: AbortSignal): Promise<StoredState[]> {
  const notes = await ctx.git.listNotes(signal);
  const blobs = await ctx.git.readBlobs(
    notes.map((n) => n.blob),
    signal,
  );
  const out: StoredState[] = [];
  const unreadable: UnreadableNote[] = [];
  for (const n of notes) {
    const buf = blobs.get(n.blob);
    const state = buf ? parseState(buf.toString('utf8')) : undefined;
    if (!state) {
      unreadable.push({ ...n, reason: buf ? 'the state note is not valid berth JSON' : 'the state note blob is missing' });
      continue;
    }
    // A note copied onto another commit is not that commit's state.
    if (state.rootSha !== n.object) {
      ctx.logger.debug('ignoring a note in refs/notes/berth that is not a berth workspace state', { object: n.object });
      continue;
    }
    out.push(state);
  }
  if (unreadable.length === 0) return out;
  const recovered = await recoverCorrupt(ctx.git, unreadable, await ctx.git.listWorktrees(signal), (p) => isInside(ctx.worktreesDir, p), signal);
  for (const s of recovered) ctx.logger.warn(`workspace ${s.name}: ${s.corrupt?.reason}; raw note kept at ${s.corrupt?.quarantineRef}`, { name: s.name });
  return [...out, ...recovered];
}

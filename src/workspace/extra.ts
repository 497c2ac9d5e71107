/**
 * Workspaces.updateExtra's two halves, split out of workspaces.ts: the patch is checked before
 * the repository lock is taken, and applied (one note write) under it.
 */
import { BerthError } from '../errors.js';
import type { GitRepo } from '../git/index.js';
import type { StoredState } from './corrupt.js';
import { assertReadable, checkExtra } from './helpers.js';
import { ExtraPatchSchema, deepFreeze, serializeState } from './state.js';
import type { WorkspaceState } from './types.js';

/** A validated patch: the keys to set and the keys to remove (those set to undefined). */
export interface ExtraChange {
  readonly set: Record<string, unknown>;
  readonly removed: readonly string[];
}

/** BAD_INPUT unless `patch` is an object with string keys whose values survive JSON (within the cap). */
export function parseExtraPatch(name: string, patch: Readonly<Record<string, unknown>>): ExtraChange {
  const parsed = ExtraPatchSchema.safeParse(patch);
  if (!parsed.success) {
    throw new BerthError('BAD_INPUT', `extra patch for ${JSON.stringify(name)} must be an object with string keys: ${parsed.error.message}`);
  }
  const removed = Object.keys(patch).filter((k) => patch[k] === undefined);
  const set = checkExtra(Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)));
  return { set, removed };
}

/** The caller holds the repository lock: writes the state with `change` applied and returns it. */
export async function applyExtraPatch(git: GitRepo, state: StoredState, change: ExtraChange, signal?: AbortSignal): Promise<WorkspaceState> {
  assertReadable(state);
  const extra: Record<string, unknown> = { ...state.extra, ...change.set };
  for (const k of change.removed) delete extra[k];
  const next: WorkspaceState = deepFreeze({ ...structuredClone(state), extra: checkExtra(extra) });
  await git.writeNote(state.rootSha, serializeState(next), signal);
  return next;
}

/** Pure helpers and small fs probes of the workspace library (no git, no locks). */
import { createHash } from 'node:crypto';
import { realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { BerthError } from '../errors.js';
import { BRANCH_REF_PREFIX, type WorktreeEntry } from '../git/index.js';
import { ExtraPatchSchema } from './state.js';
import type { StoredState } from './corrupt.js';
import type { WorkspaceDiff, WorkspaceState } from './types.js';

const MAX_EXTRA_BYTES = 256 * 1024;
const MAX_MESSAGE_BYTES = 64 * 1024;

/**
 * git's registration of the worktree at the note's path, provided it has berth/<name> checked out
 * or lies inside berth's data dir (an agent may have detached its HEAD). A note naming one of the
 * user's own worktrees on another branch therefore never makes it "the workspace's".
 */
export function registeredWorktree(state: WorkspaceState, worktrees: readonly WorktreeEntry[], dataDir: string): WorktreeEntry | undefined {
  return worktrees
    .slice(1)
    .find((w) => resolve(w.path) === resolve(state.worktree) && (w.branch === `${BRANCH_REF_PREFIX}${state.name}` || isInside(dataDir, w.path)));
}

export function repoIdOf(root: string, commonDir: string): string {
  const base =
    basename(root)
      .replace(/[^A-Za-z0-9._-]/g, '_')
      .replace(/^[.]+/, '_')
      .slice(0, 40) || 'repo';
  return `${base}-${createHash('sha256').update(commonDir).digest('hex').slice(0, 10)}`;
}

export function latestPerName<S extends WorkspaceState>(states: readonly S[]): S[] {
  const by = new Map<string, S>();
  for (const s of states) {
    const cur = by.get(s.name);
    if (!cur || s.createdAt > cur.createdAt) by.set(s.name, s);
  }
  return [...by.values()];
}

export function checkExtra(extra: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const parsed = ExtraPatchSchema.safeParse(extra);
  if (!parsed.success) throw new BerthError('BAD_INPUT', `extra must be an object with string keys: ${parsed.error.message}`);
  let text: string | undefined;
  try {
    text = JSON.stringify(parsed.data);
  } catch (err) {
    throw new BerthError('BAD_INPUT', `extra must be JSON-serialisable: ${(err as Error).message}`, { cause: err });
  }
  if (text === undefined) throw new BerthError('BAD_INPUT', 'extra must be JSON-serialisable');
  if (Buffer.byteLength(text) > MAX_EXTRA_BYTES) {
    throw new BerthError(
      'BAD_INPUT',
      `extra is ${Buffer.byteLength(text)} bytes as JSON, over the ${MAX_EXTRA_BYTES}-byte limit: store large data elsewhere and keep a reference`,
    );
  }
  return JSON.parse(text) as Record<string, unknown>;
}

export function checkMessage(message: unknown): asserts message is string {
  if (typeof message !== 'string' || message.trim() === '') {
    throw new BerthError('BAD_INPUT', 'commit message must be a non-empty string');
  }
  if (message.includes('\0')) throw new BerthError('BAD_INPUT', 'commit message must not contain NUL bytes');
  if (Buffer.byteLength(message) > MAX_MESSAGE_BYTES) {
    throw new BerthError('BAD_INPUT', `commit message is ${Buffer.byteLength(message)} bytes, over the ${MAX_MESSAGE_BYTES}-byte limit`);
  }
}

export function isInside(dir: string, path: string): boolean {
  const rel = relative(resolve(dir), resolve(path));
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

/** realpath of the longest existing prefix of `p`, plus the rest (p need not exist yet). */
export async function realpathLoose(p: string): Promise<string> {
  const abs = resolve(p);
  try {
    return await realpath(abs);
  } catch {
    const parent = dirname(abs);
    return parent === abs ? abs : join(await realpathLoose(parent), basename(abs));
  }
}

export async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** WORKSPACE_CORRUPT for a state recovered from an unreadable note: berth will not change it. */
export function assertReadable(state: StoredState): void {
  if (!state.corrupt) return;
  throw new BerthError(
    'WORKSPACE_CORRUPT',
    `workspace ${JSON.stringify(state.name)} has an unreadable state note (${state.corrupt.reason}; the raw note is kept at ${state.corrupt.quarantineRef}): berth will not change it; delete it (berth ws delete ${state.name}) or repair the note by hand`,
    { details: { name: state.name, quarantineRef: state.corrupt.quarantineRef } },
  );
}

/** A diff's text with a closing note for each thing that was cut (Workspaces.diff). */
export function diffWithNotes(d: WorkspaceDiff): string {
  if (!d.truncated) return d.text;
  const notes = [
    ...(d.bytes > d.text.length ? [`[berth: the diff is ${d.bytes} bytes; only the first ${Buffer.byteLength(d.text)} are shown]`] : []),
    ...d.placeholders.map((p) => `[berth: ${p} is larger than the per-file diff limit; its content is not shown]`),
  ];
  return `${d.text}${d.text.endsWith('\n') || d.text === '' ? '' : '\n'}${notes.join('\n')}\n`;
}

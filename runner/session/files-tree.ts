/**
 * Directory-tree steps of the workspace file tools (files.ts): one directory of a list, an entry's
 * listing, and removing a tree without following symlinks. Every directory is opened relative to
 * its parent's handle (files-resolve.ts), never by a path an agent could re-point.
 */
import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import type { z } from 'zod';
import { at, closeDir, dirPath, lstatOrNull, openDirAt, type DirRef, type RootInfo } from './files-resolve.js';
import type { ListEntry, ListOptionsSchema } from './files-types.js';
import { checkAbort, typeOf } from './files-util.js';

/** Directories a recursive list keeps open ahead of time; the rest are re-walked on demand. */
export const LIST_FD_BUDGET = 64;

/** A directory waiting to be listed: an open handle while within budget, else real components to re-walk. */
export interface ListQueueItem {
  readonly display: string;
  readonly dir?: DirRef;
  readonly rel: readonly string[];
}

/**
 * One directory of a list: its entries (filtered, sorted, capped) into `acc.entries`, and for a
 * recursive list its subdirectories onto `acc.queue` (opened ahead while within the fd budget).
 * Returns true when the cap cut the directory short.
 */
export async function listDir(
  dir: DirRef,
  display: string,
  o: z.output<typeof ListOptionsSchema>,
  root: RootInfo,
  acc: { entries: ListEntry[]; queue: ListQueueItem[]; budget: { open: number } },
): Promise<boolean> {
  let names: string[];
  try {
    names = await fs.readdir(dirPath(dir));
  } catch {
    return false;
  }
  names = names.filter((n) => (n.toLowerCase() === '.git' ? o.includeGit : o.includeHidden || !n.startsWith('.'))).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const room = o.maxEntries - acc.entries.length;
  const cut = names.length > room;
  if (cut) names = names.slice(0, room);
  const stats = await Promise.all(names.map((n) => lstatOrNull(at(dir, n)).catch(() => null)));
  for (let i = 0; i < names.length; i++) {
    const st = stats[i];
    if (!st) continue;
    const name = names[i] as string;
    const shown = display ? `${display}/${name}` : name;
    acc.entries.push(await entryOf(dir, name, shown, st));
    if (!o.recursive || !st.isDirectory() || name.toLowerCase() === '.git') continue;
    let child: DirRef | undefined;
    if (acc.budget.open < LIST_FD_BUDGET) {
      child = await openDirAt(dir, name, root).catch(() => undefined);
      if (child) acc.budget.open++;
    }
    acc.queue.push({ display: shown, rel: [...dir.rel, name], ...(child ? { dir: child } : {}) });
  }
  return cut;
}

export async function entryOf(dir: DirRef, name: string, display: string, st: Stats): Promise<ListEntry> {
  const type = typeOf(st);
  const base = { path: display, type, size: st.size, mtimeMs: st.mtimeMs };
  if (type !== 'symlink') return base;
  const target = await fs.readlink(at(dir, name)).catch(() => undefined);
  return target === undefined ? base : { ...base, symlinkTarget: target };
}

/**
 * Remove a directory tree without following symlinks: each subdirectory is opened O_NOFOLLOW
 * relative to its parent's handle, so a directory swapped for a symlink mid-walk is unlinked as
 * a link rather than descended into (what a naive lstat-then-recurse walker gets wrong).
 */
export async function removeTree(parent: DirRef, name: string, root: RootInfo, signal: AbortSignal | undefined): Promise<number> {
  checkAbort(signal, 'delete');
  let dir: DirRef;
  try {
    dir = await openDirAt(parent, name, root);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 0;
    if (code === 'ENOTDIR' || code === 'ELOOP') {
      await fs.unlink(at(parent, name));
      return 1;
    }
    throw err;
  }
  let removed = 0;
  try {
    for (const e of await fs.readdir(dirPath(dir), { withFileTypes: true })) {
      if (e.isDirectory()) {
        removed += await removeTree(dir, e.name, root, signal);
        continue;
      }
      try {
        await fs.unlink(at(dir, e.name));
        removed++;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue;
        // It became a directory after readdir (unlink of a directory is EISDIR on Linux, EPERM elsewhere).
        if (code === 'EISDIR' || code === 'EPERM') removed += await removeTree(dir, e.name, root, signal);
        else throw err;
      }
    }
  } finally {
    await closeDir(dir);
  }
  await fs.rmdir(at(parent, name));
  return removed + 1;
}

/** The checks of an import (import.ts): target name and directory, downloads, the exported state. */
import { readdir, mkdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { GitRepo } from '../../src/git/index.js';
import type { Workspaces } from '../../src/workspace/index.js';
import { parseState } from '../../src/workspace/index.js';
import type { WorkspaceState } from '../../src/workspace/index.js';
import { BerthError } from '../../src/errors.js';
import { archiveFsError } from './tar-io.js';
import type { S3Location } from './config.js';
import { branchTip, isAncestor, readNote } from './git.js';
import { OBJECT_FILES, type Manifest, type ObjectRole } from './manifest.js';
import { downloadObject, objectUrl } from './objects.js';
import type { ObjectStore } from './s3.js';
import type { ImportLimits } from './import.js';

export async function checkTarget(repo: GitRepo, name: string, call: { signal?: AbortSignal | undefined }): Promise<void> {
  if ((await branchTip(repo, name, call)) !== undefined) {
    throw new BerthError(
      'BAD_INPUT',
      `workspace ${JSON.stringify(name)} already exists in ${JSON.stringify(repo.root)} (branch berth/${name}): import under another name (--name) or delete it first`,
      {
        details: { reason: 'exists', name },
      },
    );
  }
}

function isInside(dir: string, path: string): boolean {
  const rel = relative(resolve(dir), resolve(path));
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/** The worktree path, by the same rules as Workspaces.create (see #prepareWorktreeDir there). */
export async function targetWorktree(workspaces: Workspaces, repo: GitRepo, name: string, requested: string | undefined): Promise<string> {
  let path: string;
  if (requested !== undefined) {
    if (!isAbsolute(requested) || requested.includes('\0')) {
      throw new BerthError('BAD_INPUT', `worktree directory ${JSON.stringify(requested)} must be an absolute path to an existing empty directory`);
    }
    try {
      path = await realpath(requested);
      if (!(await stat(path)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    } catch {
      throw new BerthError('BAD_INPUT', `worktree directory ${JSON.stringify(requested)} does not exist or is not a directory: create it (empty) first`);
    }
    if ((await readdir(path)).length > 0)
      throw new BerthError('BAD_INPUT', `worktree directory ${JSON.stringify(requested)} is not empty: pass an empty directory`);
  } else {
    await mkdir(workspaces.worktreesDir, { recursive: true });
    path = join(await realpath(workspaces.worktreesDir), name);
    let entries: string[] = [];
    try {
      entries = await readdir(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw archiveFsError(err, `checking ${JSON.stringify(path)}`);
    }
    if (entries.length > 0) {
      throw new BerthError(
        'BAD_INPUT',
        `directory ${JSON.stringify(path)} already exists and is not empty (left over from an earlier workspace?): remove it, or import under another name (--name)`,
        {
          details: { reason: 'worktree-exists', worktree: path },
        },
      );
    }
  }
  for (const root of [repo.root, repo.commonDir]) {
    if (isInside(root, path)) {
      throw new BerthError(
        'BAD_INPUT',
        `the worktree would be at ${JSON.stringify(path)}, inside the repository ${JSON.stringify(root)}: worktrees must live outside your checkout (set BERTH_DATA_DIR elsewhere)`,
      );
    }
  }
  return path;
}

export type Downloaded = Partial<Record<ObjectRole, string>>;

export async function downloadAll(
  store: ObjectStore,
  loc: S3Location,
  manifest: Manifest,
  tmp: string,
  limits: ImportLimits,
  call: { signal?: AbortSignal | undefined },
): Promise<Downloaded> {
  const out: Downloaded = {};
  for (const obj of manifest.objects) {
    const file = join(tmp, OBJECT_FILES[obj.role]);
    if (!(await downloadObject(store, loc, obj, file, { maxBytes: limits.maxObjectBytes, signal: call.signal }))) {
      if (obj.role === 'session-log') continue;
      throw new BerthError(
        'STORAGE_ERROR',
        `${objectUrl(loc, obj.key)} is listed in the export's manifest but missing from the bucket: the export is incomplete (deleted by hand, or a lifecycle rule); re-export the workspace`,
        {
          details: { reason: 'incomplete', key: obj.key },
        },
      );
    }
    out[obj.role] = file;
  }
  return out;
}

/** The exported state note, checked against the manifest. */
export async function importedState(repo: GitRepo, manifest: Manifest, notesRef: string, call: { signal?: AbortSignal | undefined }): Promise<WorkspaceState> {
  const { rootSha, head, name } = manifest.workspace;
  if (!(await isAncestor(repo, rootSha, head, call))) {
    throw new BerthError('BAD_INPUT', `the export's root commit ${rootSha} is not part of its branch: the export is damaged; re-export the workspace`, {
      details: { reason: 'bundle' },
    });
  }
  const raw = await readNote(repo, rootSha, notesRef, call);
  const state = raw === undefined ? undefined : parseState(raw.toString('utf8'));
  if (state === undefined || state.rootSha !== rootSha || state.name !== name) {
    throw new BerthError(
      'BAD_INPUT',
      `the export's bundle has no valid berth state note for workspace ${JSON.stringify(name)}: the export is damaged; re-export the workspace`,
      {
        details: { reason: 'note' },
      },
    );
  }
  return state;
}

/**
 * A workspace's identity is the note on its root commit. Importing into the repository the export
 * came from, while the original still exists, would make two branches share that root commit
 * (and one note): refuse, unless the note is a leftover of a deleted workspace.
 */
export async function assertRootFree(
  repo: GitRepo,
  manifest: Manifest,
  existing: Buffer | undefined,
  call: { signal?: AbortSignal | undefined },
): Promise<void> {
  if (existing === undefined) return;
  const owner = parseState(existing.toString('utf8'));
  if (owner === undefined) return;
  const tip = await branchTip(repo, owner.name, call);
  if (tip !== undefined && (await isAncestor(repo, manifest.workspace.rootSha, tip, call))) {
    throw new BerthError(
      'BAD_INPUT',
      `this export's root commit already belongs to workspace ${JSON.stringify(owner.name)} in ${JSON.stringify(repo.root)}: a repository holds one copy of a workspace; delete ${owner.name} first, or import into another clone`,
      {
        details: { reason: 'root-taken', owner: owner.name },
      },
    );
  }
}

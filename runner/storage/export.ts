/**
 * `berth ws export`: upload a workspace to an S3-compatible bucket (what an export holds:
 * transfer.ts). Export only reads the local repository and worktree: a failed upload leaves them
 * untouched, and the previous export at the same URL stays valid until the new manifest replaces it.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { GitRepo, NOTES_REF, type WorktreeHandle } from '../../src/git/index.js';
import type { WorkspaceInfo } from '../../src/workspace/index.js';
import { BerthError, isBerthError } from '../../src/errors.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { packFiles } from './pack.js';
import { archiveFsError } from './tar-io.js';
import { keyFor, parseS3Url, resolveStorageConfig, type StorageConfig } from './config.js';
import { listUntracked, readNote, worktreeHead, writeBundle, writeTrackedChanges } from './git.js';
import {
  MANIFEST_FORMAT,
  MANIFEST_NAME,
  MANIFEST_VERSION,
  MAX_MANIFEST_BYTES,
  OBJECT_FILES,
  newExportId,
  previousObjectKeys,
  type Manifest,
  type ManifestObject,
  type ObjectRole,
} from './manifest.js';
import { uploadObject, type ObjectDigest } from './objects.js';
import { ObjectStore } from './s3.js';
import { exportContainerState, type ContainerExportSource } from './container-transfer.js';
import type { ContainerSection } from './container-manifest.js';
import { deadlineError, isOwnError, makeTemp, withTimeout } from './transfer-common.js';

const PRODUCER = 'berth 0.1.0';

export interface ExportOptions {
  /** The workspace as the library reports it (Workspaces.get(name)). */
  readonly workspace: WorkspaceInfo;
  /** s3://bucket/prefix — the export's own "directory". */
  readonly url: string;
  /** Resolved storage settings; default resolveStorageConfig() (environment + defaults). */
  readonly storage?: StorageConfig;
  /** The session log (JSON lines): a file path (skipped when absent) or a stream. */
  readonly sessionLog?: string | Readable;
  /** Container snapshot and volume contents to include (container-transfer.ts containerStateOf). */
  readonly container?: ContainerExportSource;
  /** Parent directory for scratch files (default: the OS temp dir). Always cleaned up. */
  readonly tempDir?: string;
  readonly signal?: AbortSignal;
  /** Whole-export deadline (TIMEOUT). Default: none for exportWorkspace, 10 min on close. */
  readonly timeoutMs?: number;
  readonly logger?: Logger;
}

export interface ExportResult {
  readonly url: string;
  /** Full key of the manifest in the bucket. */
  readonly manifestKey: string;
  readonly manifest: Manifest;
  readonly warnings: readonly string[];
}

/**
 * Upload a workspace. Throws BerthError (STORAGE_ERROR with details.reason, BAD_INPUT, NOT_FOUND,
 * TIMEOUT, ABORTED) or BerthError (git failures). Never modifies the local workspace.
 */
export async function exportWorkspace(opts: ExportOptions): Promise<ExportResult> {
  const signal = withTimeout(opts.signal, opts.timeoutMs);
  try {
    return await exportInner(opts, signal);
  } catch (err) {
    throw deadlineError(err, opts.signal, signal, `export of workspace ${JSON.stringify(opts.workspace.name)}`, opts.timeoutMs);
  }
}

async function exportInner(opts: ExportOptions, signal: AbortSignal | undefined): Promise<ExportResult> {
  const loc = parseS3Url(opts.url);
  const config = opts.storage ?? resolveStorageConfig();
  const logger = opts.logger ?? silentLogger;
  const info = opts.workspace;
  const call = { signal };

  const { repo, wt, head, note } = await exportSource(info, call);

  const store = new ObjectStore(config, loc.bucket, logger);
  let tmp: string | undefined;
  const warnings: string[] = [];
  try {
    tmp = await makeTemp(opts.tempDir, 'export');
    const manifestKey = keyFor(loc, MANIFEST_NAME);
    // Read the previous manifest first: it tells which objects to clean up afterwards, and a
    // wrong key or endpoint fails here, before any local work.
    let previous: Buffer | undefined;
    try {
      previous = await store.getBytes(manifestKey, MAX_MANIFEST_BYTES, call);
    } catch (err) {
      if (!isBerthError(err, 'FILE_TOO_LARGE')) throw err;
    }

    const bundlePath = join(tmp, OBJECT_FILES.bundle);
    await writeBundle(repo, { name: info.name, head: head.sha, rootSha: info.rootSha, note, tmpDir: tmp, out: bundlePath }, call);
    const untracked = await listUntracked(repo, wt, call);
    const patchPaths = { staged: join(tmp, OBJECT_FILES.staged), unstaged: join(tmp, OBJECT_FILES.unstaged) };
    const patchSizes = await writeTrackedChanges(repo, wt, patchPaths, call);
    for (const p of untracked.skipped) warnings.push(`untracked directory ${JSON.stringify(p)} is a nested git repository and was not exported`);

    const exportId = newExportId(new Date(), randomBytes(4).toString('hex'));
    const objects: ManifestObject[] = [];
    const upload = async (role: ObjectRole, source: Readable, contentLength?: number): Promise<void> => {
      const key = `objects/${exportId}/${OBJECT_FILES[role]}`;
      let r: ObjectDigest;
      try {
        // A failure of the source itself (a file vanished) comes back as that, not as the upload.
        r = await uploadObject(store, loc, key, source, {
          what: `the workspace's ${role === 'untracked' ? 'untracked files' : role}`,
          contentType: role === 'untracked' ? 'application/gzip' : 'application/octet-stream',
          signal,
          ...(contentLength !== undefined ? { contentLength } : {}),
        });
      } catch (err) {
        throw isOwnError(err) ? err : archiveFsError(err, `uploading the ${role}`);
      }
      objects.push({ role, key, ...r });
      logger.debug('uploaded', { key, size: r.size });
    };

    // Our own scratch files have a known, fixed length; the tarball and the (possibly still
    // growing) session log do not.
    await upload('bundle', createReadStream(bundlePath), (await stat(bundlePath)).size);
    if (untracked.files.length > 0) {
      const onSkipped = (rel: string, reason: string) => warnings.push(`untracked ${JSON.stringify(rel)} was not exported: ${reason}`);
      await upload('untracked', packFiles(wt.path, untracked.files, { onSkipped, ...(signal ? { signal } : {}) }));
    }
    if (patchSizes.staged > 0) await upload('staged', createReadStream(patchPaths.staged), patchSizes.staged);
    if (patchSizes.unstaged > 0) await upload('unstaged', createReadStream(patchPaths.unstaged), patchSizes.unstaged);
    const log = await sessionLogSource(opts.sessionLog);
    if (log !== undefined) await upload('session-log', log);
    const container = opts.container ? await exportContainerState(opts.container, { store, loc, exportId, signal, logger }) : undefined;

    const manifest = buildManifest(info, head.sha, exportId, untracked, objects, container);
    await store.putBytes(manifestKey, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), { ...call, contentType: 'application/json' });

    const keep = new Set(objects.map((o) => o.key));
    const stale = previousObjectKeys(previous).filter((k) => !keep.has(k));
    try {
      await store.deleteKeys(
        stale.map((k) => keyFor(loc, k)),
        call,
      );
    } catch (err) {
      warnings.push(`the previous export's objects could not be removed (${(err as Error).message}); they are unused and can be deleted by hand`);
    }
    return { url: loc.url, manifestKey, manifest, warnings };
  } finally {
    store.close();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  }
}

/** The workspace's repository, worktree, checked-out head and state note, checked for an export. */
async function exportSource(
  info: WorkspaceInfo,
  call: { signal: AbortSignal | undefined },
): Promise<{ repo: GitRepo; wt: WorktreeHandle; head: { sha: string }; note: Buffer }> {
  const signal = call.signal;
  const branchRef = `refs/heads/${info.branch}`;
  const repo = await GitRepo.discover(info.repo, { signal });
  const gitDir = await repo.worktreeGitDir(info.worktree);
  if (gitDir === undefined) {
    throw new BerthError(
      'NOT_FOUND',
      `the worktree of workspace ${JSON.stringify(info.name)} at ${JSON.stringify(info.worktree)} is missing or not registered with git: nothing to export from it (its branch ${info.branch} can still be pushed with git)`,
      {
        details: { workspace: info.name, worktree: info.worktree },
      },
    );
  }
  const wt: WorktreeHandle = { path: info.worktree, gitDir };
  const head = await worktreeHead(repo, wt, call);
  if (head.branch !== branchRef) {
    throw new BerthError(
      'BAD_INPUT',
      `the worktree of workspace ${JSON.stringify(info.name)} has ${head.branch ? JSON.stringify(head.branch) : 'a detached HEAD'} checked out instead of ${branchRef}: run \`git switch ${info.branch}\` in ${info.worktree} and export again`,
      {
        details: { workspace: info.name },
      },
    );
  }
  const note = await readNote(repo, info.rootSha, NOTES_REF, call);
  if (note === undefined) {
    throw new BerthError(
      'NOT_FOUND',
      `workspace ${JSON.stringify(info.name)} has no state note on its root commit ${info.rootSha} (refs/notes/berth): it was not created by berth or its notes were removed; recreate it with berth ws create`,
      {
        details: { workspace: info.name },
      },
    );
  }
  return { repo, wt, head, note };
}

function buildManifest(
  info: WorkspaceInfo,
  head: string,
  exportId: string,
  untracked: { files: readonly string[]; skipped: readonly string[] },
  objects: ManifestObject[],
  container: ContainerSection | undefined,
): Manifest {
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    exportId,
    createdAt: new Date().toISOString(),
    producer: PRODUCER,
    workspace: { name: info.name, branch: info.branch, head, rootSha: info.rootSha, baseRef: info.baseRef, baseSha: info.baseSha, createdAt: info.createdAt },
    worktree: {
      untrackedFiles: untracked.files.length,
      skipped: untracked.skipped.slice(0, 1000).map((path) => ({ path, reason: 'nested git repository' })),
    },
    objects,
    ...(container ? { container } : {}),
  };
}

async function sessionLogSource(log: string | Readable | undefined): Promise<Readable | undefined> {
  if (log === undefined) return undefined;
  if (typeof log !== 'string') return log;
  try {
    if (!(await stat(log)).isFile()) return undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw archiveFsError(err, `reading the session log ${JSON.stringify(log)}`);
  }
  return createReadStream(log);
}

export type CloseExportOutcome = { readonly ok: true; readonly result: ExportResult } | { readonly ok: false; readonly warning: string; readonly error: Error };

/**
 * The export that runs when a session closes: same as exportWorkspace, but it never throws and is
 * bounded in time (default 10 minutes), so a dead bucket cannot hold up or fail the close. The
 * workspace itself is never touched by an export, so nothing local is lost either way.
 */
export async function exportOnClose(opts: ExportOptions): Promise<CloseExportOutcome> {
  try {
    const result = await exportWorkspace({ ...opts, timeoutMs: opts.timeoutMs ?? 10 * 60_000 });
    return { ok: true, result };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    const warning = `automatic export of workspace ${JSON.stringify(opts.workspace.name)} to ${opts.url} failed: ${error.message} — the local workspace is intact; retry with \`berth ws export ${opts.workspace.name} ${opts.url}\``;
    (opts.logger ?? silentLogger).warn('automatic export failed', { workspace: opts.workspace.name, url: opts.url });
    return { ok: false, warning, error };
  }
}

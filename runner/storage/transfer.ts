/**
 * `berth ws export` / `berth ws import`: move a workspace through an S3-compatible bucket.
 *
 * What an export contains, and why it loses nothing a workspace holds:
 *  - committed work: a git bundle of berth/<name> (full history) and its state note;
 *  - staged and unstaged changes to tracked files (incl. deletions, mode changes, binaries):
 *    two `git diff --binary` patches, re-applied on import to the index and to the worktree, so
 *    the staged/unstaged split survives;
 *  - untracked, non-ignored files (incl. symlinks and executable bits): a streamed tar.gz;
 *  - the session log (JSON lines), when the caller passes one.
 * Not included: ignored files (build output, node_modules: rebuildable by definition), untracked
 * nested repositories (listed in the manifest's worktree.skipped), and the container itself.
 *
 * Export only reads the local repository and worktree: a failed upload leaves them untouched, and
 * the previous export at the same URL stays valid until the new manifest replaces it.
 * Import is all-or-nothing: on any failure the new branch, worktree and note are removed again.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants, createReadStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { GitRepo, NOTES_REF, type WorktreeHandle } from '../../src/git/repo.js';
import { Workspaces } from '../../src/workspace/index.js';
import { assertValidName } from '../../src/workspace/names.js';
import { parseState, serializeState } from '../../src/workspace/state.js';
import type { WorkspaceInfo, WorkspaceState } from '../../src/workspace/types.js';
import { BerthError, isBerthError } from '../../src/errors.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { DEFAULT_ARCHIVE_LIMITS, extractArchive, type ExtractReport } from './archive.js';
import { packFiles } from './pack.js';
import { archiveFsError } from './tar-io.js';
import { keyFor, parseS3Url, resolveStorageConfig, type S3Location, type StorageConfig } from './config.js';
import {
  applyTrackedChanges,
  branchTip,
  bundleHeads,
  deleteRefs,
  dropStaleNotes,
  fetchBundle,
  isAncestor,
  listUntracked,
  readNote,
  worktreeHead,
  writeBundle,
  writeTrackedChanges,
} from './git.js';
import {
  MANIFEST_FORMAT,
  MANIFEST_NAME,
  MANIFEST_VERSION,
  MAX_MANIFEST_BYTES,
  OBJECT_FILES,
  newExportId,
  parseManifest,
  previousObjectKeys,
  type Manifest,
  type ManifestObject,
  type ObjectRole,
} from './manifest.js';
import { downloadObject, objectUrl, uploadObject, type ObjectDigest } from './objects.js';
import { ObjectStore } from './s3.js';
import {
  applyContainerState,
  exportContainerState,
  releaseStaged,
  stageContainerState,
  type ContainerExportSource,
  type ContainerImportReport,
  type ContainerImportTarget,
  type StagedContainerState,
} from './container-transfer.js';

const PRODUCER = 'berth 0.1.0';

// ---------------------------------------------------------------------------------------------
// shared helpers
// ---------------------------------------------------------------------------------------------

function withTimeout(signal: AbortSignal | undefined, timeoutMs: number | undefined): AbortSignal | undefined {
  if (timeoutMs === undefined) return signal;
  const t = AbortSignal.timeout(timeoutMs);
  return signal ? AbortSignal.any([signal, t]) : t;
}

/** A TIMEOUT (not ABORTED) when our own deadline fired rather than the caller's signal. */
function deadlineError(err: unknown, caller: AbortSignal | undefined, combined: AbortSignal | undefined, what: string, timeoutMs: number | undefined): unknown {
  if (combined?.aborted && !caller?.aborted && timeoutMs !== undefined) {
    return new BerthError('TIMEOUT', `${what} did not finish within ${timeoutMs} ms: retry, or raise the timeout for large workspaces`, { cause: err });
  }
  return err;
}

async function makeTemp(parent: string | undefined, label: string): Promise<string> {
  const base = parent ?? tmpdir();
  await mkdir(base, { recursive: true });
  return mkdtemp(join(base, `berth-${label}-`));
}

function isOwnError(err: unknown): boolean {
  return isBerthError(err);
}

// ---------------------------------------------------------------------------------------------
// export
// ---------------------------------------------------------------------------------------------

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
  const branchRef = `refs/heads/${info.branch}`;
  const call = { signal };

  const repo = await GitRepo.discover(info.repo, { signal });
  const gitDir = await repo.worktreeGitDir(info.worktree);
  if (gitDir === undefined) {
    throw new BerthError('NOT_FOUND', `the worktree of workspace ${JSON.stringify(info.name)} at ${JSON.stringify(info.worktree)} is missing or not registered with git: nothing to export from it (its branch ${info.branch} can still be pushed with git)`, {
      details: { workspace: info.name, worktree: info.worktree },
    });
  }
  const wt: WorktreeHandle = { path: info.worktree, gitDir };
  const head = await worktreeHead(repo, wt, call);
  if (head.branch !== branchRef) {
    throw new BerthError('BAD_INPUT', `the worktree of workspace ${JSON.stringify(info.name)} has ${head.branch ? JSON.stringify(head.branch) : 'a detached HEAD'} checked out instead of ${branchRef}: run \`git switch ${info.branch}\` in ${info.worktree} and export again`, {
      details: { workspace: info.name },
    });
  }
  const note = await readNote(repo, info.rootSha, NOTES_REF, call);
  if (note === undefined) {
    throw new BerthError('NOT_FOUND', `workspace ${JSON.stringify(info.name)} has no state note on its root commit ${info.rootSha} (refs/notes/berth): it was not created by berth or its notes were removed; recreate it with berth ws create`, {
      details: { workspace: info.name },
    });
  }

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

    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      exportId,
      createdAt: new Date().toISOString(),
      producer: PRODUCER,
      workspace: {
        name: info.name,
        branch: info.branch,
        head: head.sha,
        rootSha: info.rootSha,
        baseRef: info.baseRef,
        baseSha: info.baseSha,
        createdAt: info.createdAt,
      },
      worktree: {
        untrackedFiles: untracked.files.length,
        skipped: untracked.skipped.slice(0, 1000).map((path) => ({ path, reason: 'nested git repository' })),
      },
      objects,
      ...(container ? { container } : {}),
    };
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

export type CloseExportOutcome =
  | { readonly ok: true; readonly result: ExportResult }
  | { readonly ok: false; readonly warning: string; readonly error: Error };

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

// ---------------------------------------------------------------------------------------------
// import
// ---------------------------------------------------------------------------------------------

export interface ImportLimits {
  /** Entries in the untracked-files archive. */
  readonly maxEntries: number;
  /** Bytes written when extracting untracked files. */
  readonly maxExtractBytes: number;
  /** Bytes of any single downloaded object (bundle, archive, patch, log). */
  readonly maxObjectBytes: number;
}

export const DEFAULT_IMPORT_LIMITS: ImportLimits = Object.freeze({
  maxEntries: DEFAULT_ARCHIVE_LIMITS.maxEntries,
  maxExtractBytes: DEFAULT_ARCHIVE_LIMITS.maxBytes,
  maxObjectBytes: 16 * 1024 ** 3,
});

export interface ImportOptions {
  /** A path inside the checkout that receives the workspace. */
  readonly repo: string;
  readonly url: string;
  /** Name of the new workspace (default: the exported name). */
  readonly name?: string;
  /**
   * Put the worktree in this existing, empty directory (like CreateOptions.worktreeDir). Default:
   * the library's location, <data dir>/worktrees/<repo id>/<name>.
   */
  readonly worktreeDir?: string;
  /** berth's data dir (default: BERTH_DATA_DIR, then the XDG data dir). */
  readonly dataDir?: string;
  /** Where to write the exported session log, if there is one (must not exist yet); a function gets the final name. */
  readonly sessionLogPath?: string | ((name: string) => string);
  /** Restore the export's container snapshot and volumes, if it has them (container-transfer.ts). */
  readonly container?: ContainerImportTarget;
  readonly storage?: StorageConfig;
  readonly limits?: Partial<ImportLimits>;
  readonly tempDir?: string;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
  readonly lockTimeoutMs?: number;
  readonly logger?: Logger;
}

export interface ImportedWorkspace {
  readonly name: string;
  readonly branch: string;
  readonly head: string;
  readonly rootSha: string;
  readonly repo: string;
  readonly worktree: string;
}

export type ImportResult =
  | { readonly restored: false; readonly url: string; readonly reason: string }
  | {
      readonly restored: true;
      readonly url: string;
      readonly workspace: ImportedWorkspace;
      /** The export it came from. */
      readonly from: { readonly name: string; readonly exportId: string; readonly exportedAt: string };
      readonly trackedChanges: { readonly staged: boolean; readonly unstaged: boolean };
      /** What extracting the untracked files wrote, rejected (with reasons) and adjusted. */
      readonly untracked: ExtractReport;
      /** Where the session log was written, if requested and present. */
      readonly sessionLog: string | undefined;
      /** The container snapshot and volumes restored, with `container`. */
      readonly container?: ContainerImportReport;
      readonly warnings: readonly string[];
    };

/**
 * Recreate an exported workspace in `repo` under `name`. A URL with no export behind it resolves
 * to `{ restored: false }`; transport, auth and integrity problems throw. Archive entries that
 * would escape the worktree are not written and come back in `untracked.rejected`.
 */
export async function importWorkspace(opts: ImportOptions): Promise<ImportResult> {
  const signal = withTimeout(opts.signal, opts.timeoutMs);
  try {
    return await importInner(opts, signal);
  } catch (err) {
    throw deadlineError(err, opts.signal, signal, `import from ${opts.url}`, opts.timeoutMs);
  }
}

async function importInner(opts: ImportOptions, signal: AbortSignal | undefined): Promise<ImportResult> {
  const loc = parseS3Url(opts.url);
  if (opts.name !== undefined) assertValidName(opts.name);
  const config = opts.storage ?? resolveStorageConfig();
  const limits: ImportLimits = { ...DEFAULT_IMPORT_LIMITS, ...opts.limits };
  const logger = opts.logger ?? silentLogger;
  const call = { signal };
  const workspaces = await Workspaces.open(opts.repo, {
    ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {}),
    ...(opts.lockTimeoutMs !== undefined ? { lockTimeoutMs: opts.lockTimeoutMs } : {}),
    ...(signal ? { signal } : {}),
    logger,
  });
  const repo = await GitRepo.discover(workspaces.repo, { signal });
  const store = new ObjectStore(config, loc.bucket, logger);
  let tmp: string | undefined;
  let staged: StagedContainerState | undefined;
  try {
    const manifestKey = keyFor(loc, MANIFEST_NAME);
    const bytes = await store.getBytes(manifestKey, MAX_MANIFEST_BYTES, call);
    if (bytes === undefined) return { restored: false, url: loc.url, reason: `no export found at ${loc.url} (no ${MANIFEST_NAME})` };
    const manifest = parseManifest(bytes, `s3://${loc.bucket}/${manifestKey}`);
    const name = opts.name ?? manifest.workspace.name;
    assertValidName(name);
    const callerDir = opts.worktreeDir !== undefined;
    await checkTarget(repo, name, call);
    const worktree = await targetWorktree(workspaces, repo, name, opts.worktreeDir);

    tmp = await makeTemp(opts.tempDir, 'import');
    const files = await downloadAll(store, loc, manifest, tmp, limits, call);
    const warnings: string[] = [];
    if (manifest.objects.some((o) => o.role === 'session-log') && files['session-log'] === undefined) {
      warnings.push('the export lists a session log but it is missing from the bucket; the workspace was restored without it');
    }
    if (manifest.container && opts.container) {
      staged = await stageContainerState(manifest.container, opts.container, { store, loc, tmp, limits, signal });
    } else if (manifest.container && (manifest.container.image || manifest.container.volumes.length > 0)) {
      warnings.push('the export holds container state (a snapshot or volumes) that was not restored: import with container state to get it');
    }
    const bundle = files.bundle as string;
    const expectedHead = `refs/heads/${manifest.workspace.branch}`;
    const heads = await bundleHeads(repo, bundle, call);
    if (!heads.some((h) => h.ref === expectedHead && h.sha === manifest.workspace.head) || !heads.some((h) => h.ref === NOTES_REF)) {
      throw new BerthError('BAD_INPUT', `the bundle in ${loc.url} does not hold ${expectedHead} at ${manifest.workspace.head} and ${NOTES_REF}: the export is damaged; re-export the workspace`, {
        details: { reason: 'bundle', heads },
      });
    }

    return await workspaces.withLock(async () => {
      // Checked again under the lock: a concurrent create may have taken the name meanwhile.
      await checkTarget(repo, name, call);
      const token = randomBytes(6).toString('hex');
      const tmpHead = `refs/berth-import/${token}/head`;
      // Under refs/notes/: `git notes --ref` prefixes anything else with refs/notes/.
      const tmpNotes = `refs/notes/berth-import/${token}`;
      const undo: (() => Promise<unknown>)[] = [];
      const { rootSha, head } = manifest.workspace;
      try {
        await fetchBundle(repo, bundle, [`${expectedHead}:${tmpHead}`, `${NOTES_REF}:${tmpNotes}`], call);
        const state = await importedState(repo, manifest, tmpNotes, call);
        const existing = await readNote(repo, rootSha, NOTES_REF, call);
        await assertRootFree(repo, manifest, existing, call);

        const branch = `berth/${name}`;
        const wt = await repo.addWorktree(worktree, branch, head, signal);
        undo.push(
          () => repo.deleteBranch(branch),
          () => (callerDir ? repo.detachWorktreeKeepingDir(wt) : repo.removeWorktree(worktree)),
        );
        const applied = staged ? await applyContainerState(staged, { repo: { path: repo.root, id: workspaces.repoId }, name, extra: state.extra, undo }) : undefined;
        // createdAt is "created in this repository" (prune measures idleness from it); where it
        // came from is kept in extra.importedFrom.
        const next: WorkspaceState = {
          ...state,
          name,
          worktree,
          ownsWorktreeDir: !callerDir,
          createdAt: new Date().toISOString(),
          extra: {
            ...state.extra,
            ...applied?.extra,
            importedFrom: { name: manifest.workspace.name, url: loc.url, exportId: manifest.exportId, exportedAt: manifest.createdAt, createdAt: state.createdAt },
          },
        };
        await repo.writeNote(rootSha, serializeState(next), signal);
        undo.push(() => (existing === undefined ? repo.removeNote(rootSha) : repo.writeNote(rootSha, existing.toString('utf8'))));
        await dropStaleNotes(repo, name, rootSha, call);

        await applyTrackedChanges(repo, wt, { staged: files.staged, unstaged: files.unstaged }, call);
        let report: ExtractReport = { files: 0, directories: 0, symlinks: 0, bytes: 0, rejected: [], adjusted: [] };
        if (files.untracked !== undefined) {
          report = await extractArchive(createReadStream(files.untracked), worktree, {
            limits: { maxEntries: limits.maxEntries, maxBytes: limits.maxExtractBytes },
            signal,
          });
        }
        let sessionLog: string | undefined;
        if (opts.sessionLogPath !== undefined && files['session-log'] !== undefined) {
          sessionLog = resolve(typeof opts.sessionLogPath === 'function' ? opts.sessionLogPath(name) : opts.sessionLogPath);
          await mkdir(dirname(sessionLog), { recursive: true });
          await copyFile(files['session-log'], sessionLog, fsConstants.COPYFILE_EXCL);
        }
        if (report.rejected.length > 0) {
          warnings.push(`${report.rejected.length} archive entr${report.rejected.length === 1 ? 'y was' : 'ies were'} rejected and not written (see untracked.rejected)`);
        }
        undo.length = 0;
        return {
          restored: true as const,
          url: loc.url,
          workspace: { name, branch, head, rootSha, repo: repo.root, worktree },
          from: { name: manifest.workspace.name, exportId: manifest.exportId, exportedAt: manifest.createdAt },
          trackedChanges: { staged: files.staged !== undefined, unstaged: files.unstaged !== undefined },
          untracked: report,
          sessionLog,
          ...(applied ? { container: applied.report } : {}),
          warnings,
        };
      } catch (err) {
        for (const step of undo.reverse()) {
          try {
            await step();
          } catch (undoErr) {
            logger.warn('rolling back a failed import left something behind', { error: (undoErr as Error).message });
          }
        }
        throw isOwnError(err) ? err : archiveFsError(err, `importing into ${JSON.stringify(worktree)}`);
      } finally {
        await deleteRefs(repo, [tmpHead, tmpNotes]).catch(() => undefined);
      }
    }, signal ? { signal } : {});
  } finally {
    if (staged) await releaseStaged(staged);
    store.close();
    await workspaces.close();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  }
}

async function checkTarget(repo: GitRepo, name: string, call: { signal?: AbortSignal | undefined }): Promise<void> {
  if ((await branchTip(repo, name, call)) !== undefined) {
    throw new BerthError('BAD_INPUT', `workspace ${JSON.stringify(name)} already exists in ${JSON.stringify(repo.root)} (branch berth/${name}): import under another name (--name) or delete it first`, {
      details: { reason: 'exists', name },
    });
  }
}

function isInside(dir: string, path: string): boolean {
  const rel = relative(resolve(dir), resolve(path));
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/** The worktree path, by the same rules as Workspaces.create (see #prepareWorktreeDir there). */
async function targetWorktree(workspaces: Workspaces, repo: GitRepo, name: string, requested: string | undefined): Promise<string> {
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
    if ((await readdir(path)).length > 0) throw new BerthError('BAD_INPUT', `worktree directory ${JSON.stringify(requested)} is not empty: pass an empty directory`);
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
      throw new BerthError('BAD_INPUT', `directory ${JSON.stringify(path)} already exists and is not empty (left over from an earlier workspace?): remove it, or import under another name (--name)`, {
        details: { reason: 'worktree-exists', worktree: path },
      });
    }
  }
  for (const root of [repo.root, repo.commonDir]) {
    if (isInside(root, path)) {
      throw new BerthError('BAD_INPUT', `the worktree would be at ${JSON.stringify(path)}, inside the repository ${JSON.stringify(root)}: worktrees must live outside your checkout (set BERTH_DATA_DIR elsewhere)`);
    }
  }
  return path;
}

type Downloaded = Partial<Record<ObjectRole, string>>;

async function downloadAll(store: ObjectStore, loc: S3Location, manifest: Manifest, tmp: string, limits: ImportLimits, call: { signal?: AbortSignal | undefined }): Promise<Downloaded> {
  const out: Downloaded = {};
  for (const obj of manifest.objects) {
    const file = join(tmp, OBJECT_FILES[obj.role]);
    if (!(await downloadObject(store, loc, obj, file, { maxBytes: limits.maxObjectBytes, signal: call.signal }))) {
      if (obj.role === 'session-log') continue;
      throw new BerthError('STORAGE_ERROR', `${objectUrl(loc, obj.key)} is listed in the export's manifest but missing from the bucket: the export is incomplete (deleted by hand, or a lifecycle rule); re-export the workspace`, {
        details: { reason: 'incomplete', key: obj.key },
      });
    }
    out[obj.role] = file;
  }
  return out;
}

/** The exported state note, checked against the manifest. */
async function importedState(repo: GitRepo, manifest: Manifest, notesRef: string, call: { signal?: AbortSignal | undefined }): Promise<WorkspaceState> {
  const { rootSha, head, name } = manifest.workspace;
  if (!(await isAncestor(repo, rootSha, head, call))) {
    throw new BerthError('BAD_INPUT', `the export's root commit ${rootSha} is not part of its branch: the export is damaged; re-export the workspace`, { details: { reason: 'bundle' } });
  }
  const raw = await readNote(repo, rootSha, notesRef, call);
  const state = raw === undefined ? undefined : parseState(raw.toString('utf8'));
  if (state === undefined || state.rootSha !== rootSha || state.name !== name) {
    throw new BerthError('BAD_INPUT', `the export's bundle has no valid berth state note for workspace ${JSON.stringify(name)}: the export is damaged; re-export the workspace`, {
      details: { reason: 'note' },
    });
  }
  return state;
}

/**
 * A workspace's identity is the note on its root commit. Importing into the repository the export
 * came from, while the original still exists, would make two branches share that root commit
 * (and one note): refuse, unless the note is a leftover of a deleted workspace.
 */
async function assertRootFree(repo: GitRepo, manifest: Manifest, existing: Buffer | undefined, call: { signal?: AbortSignal | undefined }): Promise<void> {
  if (existing === undefined) return;
  const owner = parseState(existing.toString('utf8'));
  if (owner === undefined) return;
  const tip = await branchTip(repo, owner.name, call);
  if (tip !== undefined && (await isAncestor(repo, manifest.workspace.rootSha, tip, call))) {
    throw new BerthError('BAD_INPUT', `this export's root commit already belongs to workspace ${JSON.stringify(owner.name)} in ${JSON.stringify(repo.root)}: a repository holds one copy of a workspace; delete ${owner.name} first, or import into another clone`, {
      details: { reason: 'root-taken', owner: owner.name },
    });
  }
}


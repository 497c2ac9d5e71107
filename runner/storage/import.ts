/**
 * `berth ws import`: recreate an exported workspace (what an export holds: transfer.ts). Import is
 * all-or-nothing: on any failure the new branch, worktree, note, image tag and volumes are removed
 * again. A URL with no export behind it is NOT_FOUND.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants, createReadStream } from 'node:fs';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { GitRepo, NOTES_REF } from '../../src/git/index.js';
import { Workspaces } from '../../src/workspace/index.js';
import { assertValidName } from '../../src/workspace/index.js';
import { serializeState } from '../../src/workspace/index.js';
import type { WorkspaceState } from '../../src/workspace/index.js';
import { BerthError } from '../../src/errors.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { DEFAULT_ARCHIVE_LIMITS, extractArchive, type ExtractReport } from './archive.js';
import { archiveFsError } from './tar-io.js';
import { keyFor, parseS3Url, resolveStorageConfig, type StorageConfig } from './config.js';
import { applyTrackedChanges, bundleHeads, deleteRefs, dropStaleNotes, fetchBundle, readNote } from './git.js';
import { MANIFEST_NAME, MAX_MANIFEST_BYTES, parseManifest, type Manifest } from './manifest.js';
import { ObjectStore } from './s3.js';
import {
  applyContainerState,
  releaseStaged,
  stageContainerState,
  type ContainerImportReport,
  type ContainerImportTarget,
  type StagedContainerState,
} from './container-transfer.js';
import { deadlineError, isOwnError, makeTemp, withTimeout } from './transfer-common.js';
import { assertRootFree, checkTarget, downloadAll, importedState, targetWorktree, type Downloaded } from './import-checks.js';

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
  /**
   * The engine the workspace lands on (its id in a configured engine set): recorded as the state's
   * `extra.engine`, so every later step (and a restarted runner) finds it there. Undefined: none is
   * recorded (it lives on the first engine), and an engine id copied from the exporting side is
   * dropped, since that id means nothing here. `container.docker` should be that engine's client.
   */
  readonly engine?: string;
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

export interface ImportResult {
  /** Always true: a URL without an export is NOT_FOUND (kept so `restored` checks stay valid). */
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
  /** The engine recorded for the workspace (ImportOptions.engine), when one was given. */
  readonly engine?: string;
  readonly warnings: readonly string[];
}

/**
 * Recreate an exported workspace in `repo` under `name`. A URL with no export behind it is
 * NOT_FOUND; transport, auth and integrity problems throw too. Archive entries that
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
    if (bytes === undefined) {
      throw new BerthError(
        'NOT_FOUND',
        `there is no export at ${loc.url} (no s3://${loc.bucket}/${manifestKey}): check the bucket and prefix of the URL, e.g. with \`aws s3 ls ${loc.url}/\``,
        {
          details: { reason: 'no-export', url: loc.url },
        },
      );
    }
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
      throw new BerthError(
        'BAD_INPUT',
        `the bundle in ${loc.url} does not hold ${expectedHead} at ${manifest.workspace.head} and ${NOTES_REF}: the export is damaged; re-export the workspace`,
        {
          details: { reason: 'bundle', heads },
        },
      );
    }

    const ctx: LandContext = { opts, repo, workspaces, manifest, name, worktree, callerDir, staged, files, warnings, loc: loc.url, limits, signal, logger };
    return await workspaces.withLock(() => land(ctx), signal ? { signal } : {});
  } finally {
    if (staged) await releaseStaged(staged);
    store.close();
    await workspaces.close();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  }
}

interface LandContext {
  readonly opts: ImportOptions;
  readonly repo: GitRepo;
  readonly workspaces: Workspaces;
  readonly manifest: Manifest;
  readonly name: string;
  readonly worktree: string;
  readonly callerDir: boolean;
  readonly staged: StagedContainerState | undefined;
  readonly files: Downloaded;
  readonly warnings: string[];
  /** The export's URL. */
  readonly loc: string;
  readonly limits: ImportLimits;
  readonly signal: AbortSignal | undefined;
  readonly logger: Logger;
}

/** Under the repository lock: fetch the bundle, create branch, worktree and note, restore the rest; undo all on failure. */
async function land(c: LandContext): Promise<ImportResult> {
  const { repo, manifest, name, worktree, signal } = c;
  const call = { signal };
  // Checked again under the lock: a concurrent create may have taken the name meanwhile.
  await checkTarget(repo, name, call);
  const token = randomBytes(6).toString('hex');
  const tmpHead = `refs/berth-import/${token}/head`;
  // Under refs/notes/: `git notes --ref` prefixes anything else with refs/notes/.
  const tmpNotes = `refs/notes/berth-import/${token}`;
  const undo: (() => Promise<unknown>)[] = [];
  const { rootSha, head } = manifest.workspace;
  try {
    await fetchBundle(repo, c.files.bundle as string, [`refs/heads/${manifest.workspace.branch}:${tmpHead}`, `${NOTES_REF}:${tmpNotes}`], call);
    const state = await importedState(repo, manifest, tmpNotes, call);
    const existing = await readNote(repo, rootSha, NOTES_REF, call);
    await assertRootFree(repo, manifest, existing, call);

    const branch = `berth/${name}`;
    const wt = await repo.addWorktree(worktree, branch, head, signal);
    undo.push(
      () => repo.deleteBranch(branch),
      () => (c.callerDir ? repo.detachWorktreeKeepingDir(wt) : repo.removeWorktree(worktree)),
    );
    const applied = c.staged
      ? await applyContainerState(c.staged, { repo: { path: repo.root, id: c.workspaces.repoId }, name, extra: state.extra, undo })
      : undefined;
    // createdAt is "created in this repository" (prune measures idleness from it); where it
    // came from is kept in extra.importedFrom.
    const { engine: _exporters, ...extra } = { ...state.extra, ...applied?.extra };
    const next: WorkspaceState = {
      ...state,
      name,
      worktree,
      ownsWorktreeDir: !c.callerDir,
      createdAt: new Date().toISOString(),
      extra: {
        ...extra,
        ...(c.opts.engine !== undefined ? { engine: c.opts.engine } : {}),
        importedFrom: { name: manifest.workspace.name, url: c.loc, exportId: manifest.exportId, exportedAt: manifest.createdAt, createdAt: state.createdAt },
      },
    };
    await repo.writeNote(rootSha, serializeState(next), signal);
    undo.push(() => (existing === undefined ? repo.removeNote(rootSha) : repo.writeNote(rootSha, existing.toString('utf8'))));
    await dropStaleNotes(repo, name, rootSha, call);

    await applyTrackedChanges(repo, wt, { staged: c.files.staged, unstaged: c.files.unstaged }, call);
    const { report, sessionLog } = await restoreFiles(c);
    undo.length = 0;
    return {
      restored: true as const,
      url: c.loc,
      workspace: { name, branch, head, rootSha, repo: repo.root, worktree },
      from: { name: manifest.workspace.name, exportId: manifest.exportId, exportedAt: manifest.createdAt },
      trackedChanges: { staged: c.files.staged !== undefined, unstaged: c.files.unstaged !== undefined },
      untracked: report,
      sessionLog,
      ...(applied ? { container: applied.report } : {}),
      ...(c.opts.engine !== undefined ? { engine: c.opts.engine } : {}),
      warnings: c.warnings,
    };
  } catch (err) {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (undoErr) {
        c.logger.warn('rolling back a failed import left something behind', { error: (undoErr as Error).message });
      }
    }
    throw isOwnError(err) ? err : archiveFsError(err, `importing into ${JSON.stringify(worktree)}`);
  } finally {
    await deleteRefs(repo, [tmpHead, tmpNotes]).catch(() => undefined);
  }
}

/** The untracked files (vetted extraction) and the session log. */
async function restoreFiles(c: LandContext): Promise<{ report: ExtractReport; sessionLog: string | undefined }> {
  let report: ExtractReport = { files: 0, directories: 0, symlinks: 0, bytes: 0, rejected: [], adjusted: [] };
  if (c.files.untracked !== undefined) {
    report = await extractArchive(createReadStream(c.files.untracked), c.worktree, {
      limits: { maxEntries: c.limits.maxEntries, maxBytes: c.limits.maxExtractBytes },
      ...(c.signal ? { signal: c.signal } : {}),
    });
  }
  let sessionLog: string | undefined;
  const logPath = c.opts.sessionLogPath;
  if (logPath !== undefined && c.files['session-log'] !== undefined) {
    sessionLog = resolve(typeof logPath === 'function' ? logPath(c.name) : logPath);
    await mkdir(dirname(sessionLog), { recursive: true });
    await copyFile(c.files['session-log'], sessionLog, fsConstants.COPYFILE_EXCL);
  }
  if (report.rejected.length > 0) {
    c.warnings.push(
      `${report.rejected.length} archive entr${report.rejected.length === 1 ? 'y was' : 'ies were'} rejected and not written (see untracked.rejected)`,
    );
  }
  return { report, sessionLog };
}

/**
 * `berth ws export` / `berth ws import`: move a workspace through an S3-compatible bucket
 * (export.ts, import.ts).
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
export { exportWorkspace, exportOnClose } from './export.js';
export type { ExportOptions, ExportResult, CloseExportOutcome } from './export.js';
export { importWorkspace, DEFAULT_IMPORT_LIMITS } from './import.js';
export type { ImportOptions, ImportResult, ImportedWorkspace, ImportLimits } from './import.js';

/**
 * The shared library's entry: what docker/, pipelines/ and runner/ (and any other program) use of
 * src/. It imports nothing from docker/, pipelines/ or runner/, and neither does any file under
 * src/ except src/index.ts, the Dagger module entry that sits on top of pipelines/
 * (scripts/check-imports.mjs enforces both). Named exports only, grouped by owner.
 */
// errors: the one error class and code table
export {
  agentNextStep,
  asBerthError,
  BerthError,
  ERROR_CODES,
  errorJson,
  isBerthError,
  type BerthErrorCode,
  type ErrorJson,
  type ErrorKind,
} from './errors.js';
// logging
export { createLogger, silentLogger, type Logger, type LogLevel } from './log.js';
// berth's own images (names only; docker/images.ts builds them)
export { builtinImageKey, DEFAULT_IMAGE, IMAGES, type BuiltinImageKey } from './images.js';
// where berth keeps its state
export { dataDir } from './data-dir.js';
// reading agent-controlled trees: the safe walker
export { canWalkSafely, readEntry, walkTree, type EntryKind, type TreeEntry, type WalkTreeOptions } from './fs/index.js';
// reading a project's source for detection and spec resolution
export { LocalSourceReader, type SourceReader } from './source-reader.js';
// git: the one owner of host git calls
export { GitRepo } from './git/index.js';
// projects: berth.yaml, detection, the resolved spec
export {
  detect,
  parseDuration,
  resolveSpec,
  specHash,
  type Detection,
  type Network,
  type Resolved,
  type ResolvedSpec,
  type StepName,
  type Toolchain,
} from './project/index.js';
// workspaces: branch + worktree + notes
export { Workspaces, type CreateOptions, type WorkspaceInfo, type WorkspacesOptions } from './workspace/index.js';

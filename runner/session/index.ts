/** The stateful runner: sessions (workspace containers), persistent shells, processes, pool. */
export { RemoteWorkspaceFiles, type WorkspaceFilesApi } from './files-remote.js';
export { DEFAULT_MAX_BUNDLE_BYTES, remoteSettings, type RemoteConfig, type RemoteOptions } from './remote.js';
export { Runner, DEFAULT_EXEC_TIMEOUT_MS, removeWorkspaceResources } from './runner.js';
export type { RunnerOptions, OpenOptions, SessionSummary, GcReport } from './runner.js';
export { deleteWorkspace } from './delete.js';
export { engineOfInfo, workspaceContainers, workspaceEngine } from './engine-select.js';
export { defaultSessionUser, DEFAULT_SESSION_UID } from './identity.js';
export { Session, DEFAULT_SHELL } from './session.js';
export { Pool } from './pool.js';
export type { PoolOptions, PoolStatus, PoolContainer, Claimed } from './pool.js';
export { closeOnShutdown } from './shutdown.js';
export type { ShutdownOptions } from './shutdown.js';
export type { SessionInfo, SessionCreated } from './session.js';
export { SHELL_NAME_PATTERN, KILL_GRACE_MS } from './shell.js';
export { randomHex } from './shell-pending.js';
export { PROCESS_NAME_PATTERN } from './processes.js';
export { DEFAULT_MAX_OUTPUT_BYTES } from './output.js';
export { STATE_ROOT, SHELLS_DIR, PROCS_DIR, SETUP_DIR, tmpEnvPath } from './protocol.js';
export type { ExecOptions, ExecResult, ProcessInfo, ProcessLog, SetupRecord, SetupReport, ShellInfo, StartProcessOptions, StreamName } from './types.js';
export { removePersistedState, workspaceVolumes } from './workspace-resources.js';
export { checkpointWorkspace, forkWorkspace, listCheckpoints, restoreWorkspace, type PersistenceHost } from './checkpoints.js';
export { commandLogPath, readCommandLog, type CommandLogEntry } from './command-log.js';
export {
  DEFAULT_MAX_FILE_BYTES,
  DeleteOptionsSchema,
  EditRequestSchema,
  ListOptionsSchema,
  ReadOptionsSchema,
  WorkspaceFiles,
  WriteOptionsSchema,
} from './files.js';
export {
  EXTRA_CHECKPOINTS,
  EXTRA_CONTAINER_IMAGE,
  readCheckpoints,
  readContainerImage,
  type CheckpointRecord,
  type ContainerImage,
} from './checkpoint-state.js';

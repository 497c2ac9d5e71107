/** The docker module's public surface: everything other modules may import. */
export { call, docker, imageExists, translateDockerError, type Docker } from './client.js';
export { createContainer, type ContainerBody } from './create.js';
export { type CapProfile } from './hardening.js';
export {
  LABEL,
  RUNNER_VERSION,
  buildLabels,
  cacheVolumeName,
  checkpointImageRepo,
  labelFilter,
  namePart,
  poolContainerName,
  sessionContainerName,
  type Labels,
  type RepoRef,
  workspaceFromContainerName,
  workspaceVolumeName,
} from './labels.js';
export { ownerLabel, reapOrphanContainers } from './reaper.js';
export { usableInstallNetwork } from './networks.js';
export { ensureImageRef, type EnsureOpts } from './ensure.js';
export { pullByteCounter, type PullBytes, type PullProgress } from './pull.js';
export { diskUsage, listCacheEntries, listCaches, pruneCaches, sharedCacheLabels, sharedCacheVolume, type CacheEntry, type CacheVolume } from './caches.js';
export {
  depsImageRef,
  depsFromDf,
  findDepsImage,
  removeDepsImage,
  removeWorkspaceDepsImages,
  saveDepsImage,
  type DepsSnapshot,
  type SaveDeps,
} from './deps.js';
export { cacheableInstall, depsKey, installedIn, manifestDigest, type Cacheable, type DepsKeyInput, type ManifestDigest } from './deps-key.js';
export { ensureImages, imageStatus } from './images.js';
export { readPullRecord } from './image-record.js';
export { IMAGE_LABEL, listBuiltImages } from './toolchains.js';
export { Containers, KEEPALIVE_CMD, type AttachedExec, type MountSpec } from './containers.js';
export { commitContainer, inspectImage, listRepoTags, loadImageArchive, removeImageTag, saveImage, tagImage } from './snapshots.js';
export { ensureWorkspaceVolume, listWorkspaceVolumes, type WorkspaceVolume, volumeTarStream, writeVolumeTar } from './volumes.js';
export {
  EngineSet,
  configFilePath,
  defaultEngine,
  engineHealth,
  isEngineDown,
  parseEngineList,
  parseEnginesEnv,
  sessionCount,
  type Engine,
  type EngineEntry,
  type EngineStatus,
} from './engines.js';
export { ensureImageOn, type CopyImageOptions } from './engines-image.js';
export type { Runtime, RuntimeHealth } from './runtime.js';
export {
  GIT_MOUNT,
  REMOTE_VOLUME_KIND,
  TREE_MOUNT,
  WorkspaceHelper,
  ensureRemoteVolumes,
  remoteVolumeNames,
  remoteVolumesExist,
  removeRemoteVolumes,
  type RemoteVolumes,
} from './workspace-volume.js';

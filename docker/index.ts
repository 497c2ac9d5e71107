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
export { listCaches, pruneCaches, type CacheVolume } from './caches.js';
export { ensureImages, imageStatus } from './images.js';
export { readPullRecord } from './image-record.js';
export { IMAGE_LABEL, listBuiltImages } from './toolchains.js';
export { Containers, KEEPALIVE_CMD, type AttachedExec, type MountSpec } from './containers.js';
export { commitContainer, inspectImage, listRepoTags, loadImageArchive, removeImageTag, saveImage, tagImage } from './snapshots.js';
export { ensureWorkspaceVolume, listWorkspaceVolumes, type WorkspaceVolume, volumeTarStream, writeVolumeTar } from './volumes.js';
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

/** Workspace export/import through S3-compatible storage (issue 6). */
export { exportWorkspace, exportOnClose, importWorkspace, DEFAULT_IMPORT_LIMITS } from './transfer.js';
export type { ExportOptions, ExportResult, CloseExportOutcome, ImportOptions, ImportResult, ImportedWorkspace, ImportLimits } from './transfer.js';
export { resolveStorageConfig, describeStorageConfig, parseS3Url, validateBucketName, bucketNameProblem, keyFor } from './config.js';
export type { StorageConfig, StorageOptions, StorageCredentials, ChecksumMode, S3Location } from './config.js';
export { ObjectStore, translateS3Error } from './s3.js';
export type { StorageFailure, CallOptions } from './s3.js';
export { extractArchive, packFiles, checkEntryPath, DEFAULT_ARCHIVE_LIMITS } from './archive.js';
export type { ArchiveLimits, ExtractReport, RejectedEntry, AdjustedEntry, ExtractOptions } from './archive.js';
export { parseManifest, ManifestSchema, MANIFEST_NAME, MANIFEST_VERSION, OBJECT_FILES } from './manifest.js';
export type { Manifest, ManifestObject, ObjectRole } from './manifest.js';
export { containerStateOf, exportContainerState, stageContainerState, applyContainerState, releaseStaged } from './container-transfer.js';
export type { ContainerExportSource, ContainerImportTarget, ContainerImportReport } from './container-transfer.js';
export { ContainerSectionSchema } from './container-manifest.js';
export type { ContainerSection } from './container-manifest.js';
export { vetVolumeArchive } from './volume-archive.js';
export type { VolumeRestoreReport } from './volume-archive.js';

/**
 * Container state in exports (the manifest's `container` section, container-manifest.ts): the
 * workspace's current container snapshot (`docker save`, streamed as a multipart upload) and the
 * contents of its named volumes (tar.gz each). transfer.ts calls in at three points:
 *
 *   export:  exportContainerState()  after the git objects, before the manifest is written;
 *   import:  stageContainerState()   before the repository lock: download + verify every object,
 *                                    repack the image archive without tags (image-archive.ts),
 *                                    `docker load` it under a fresh staging tag, and vet each
 *                                    volume archive into a clean tar;
 *            applyContainerState()   under the lock, once the new name is certain: tag the image
 *                                    for the new workspace, create and fill its volumes, and return
 *                                    the state fields that point at them. Every step pushes its
 *                                    undo, so a failed import leaves nothing behind;
 *            releaseStaged()         always: drops the staging tag.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { WorkspaceInfo } from '../../src/workspace/index.js';
import { docker as sharedDocker, type Docker } from '../../docker/index.js';
import { Containers } from '../../docker/index.js';
import { checkpointImageRepo, workspaceVolumeName, type Labels, type RepoRef } from '../../docker/index.js';
import { inspectImage, loadImageArchive, removeImageTag, saveImage, tagImage } from '../../docker/index.js';
import { ensureWorkspaceVolume, listWorkspaceVolumes, volumeTarStream, writeVolumeTar } from '../../docker/index.js';
import { BerthError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { EXTRA_CHECKPOINTS, EXTRA_CONTAINER_IMAGE, readCheckpoints, readContainerImage, type CheckpointRecord, type ContainerImage } from '../session/index.js';
import type { ArchiveLimits } from './archive.js';
import { gzipTar } from './tar-io.js';
import type { S3Location } from './config.js';
import { imageObjectKey, volumeObjectKey, type ContainerSection } from './container-manifest.js';
import { downloadObject, objectUrl, uploadObject } from './objects.js';
import type { ObjectStore } from './s3.js';
import { repackImageArchive } from './image-archive.js';
import { vetVolumeArchive, type VolumeRestoreReport } from './volume-archive.js';

/** What to export besides git (see containerStateOf for the usual choice). */
export interface ContainerExportSource {
  readonly docker?: Docker;
  /** The exporting repository (labels of the helper containers). */
  readonly repo: RepoRef;
  /** The snapshot a new container of the workspace starts from. */
  readonly image?: { readonly ref: string; readonly checkpoint: string; readonly baseImage?: string };
  /** Named volumes: the berth.yaml name and Docker's volume name. */
  readonly volumes?: readonly { readonly name: string; readonly volume: string }[];
  /** Extra labels for helper containers (tests tag theirs). */
  readonly labels?: Labels;
}

/** The workspace's current snapshot (if it still exists) and every volume it has. */
export async function containerStateOf(
  client: Docker,
  repo: RepoRef,
  info: Pick<WorkspaceInfo, 'name' | 'extra'>,
  labels: Labels = {},
): Promise<ContainerExportSource> {
  const ci = readContainerImage(info.extra);
  const present = ci ? ((await inspectImage(client, ci.ref)) ?? (ci.imageId ? await inspectImage(client, ci.imageId) : undefined)) : undefined;
  const volumes = (await listWorkspaceVolumes(client, repo, info.name)).map((v) => ({ name: v.name, volume: v.volume }));
  return {
    docker: client,
    repo,
    labels,
    volumes,
    ...(ci && present
      ? { image: { ref: present.tags.includes(ci.ref) ? ci.ref : present.id, checkpoint: ci.checkpoint, ...(ci.baseImage ? { baseImage: ci.baseImage } : {}) } }
      : {}),
  };
}

export interface ExportContext {
  readonly store: ObjectStore;
  readonly loc: S3Location;
  readonly exportId: string;
  readonly signal: AbortSignal | undefined;
  readonly logger: Logger;
}

export async function exportContainerState(src: ContainerExportSource, ctx: ExportContext): Promise<ContainerSection> {
  const client = src.docker ?? sharedDocker();
  const section: { image?: ContainerSection['image']; volumes: ContainerSection['volumes'] } = { volumes: [] };
  if (src.image) {
    const key = imageObjectKey(ctx.exportId);
    const stream = await saveImage(client, src.image.ref);
    const r = await uploadObject(ctx.store, ctx.loc, key, stream, {
      what: `the container snapshot ${src.image.ref}`,
      contentType: 'application/octet-stream',
      signal: ctx.signal,
    });
    section.image = { key, ...r, checkpoint: src.image.checkpoint, ref: src.image.ref, ...(src.image.baseImage ? { baseImage: src.image.baseImage } : {}) };
    ctx.logger.debug('uploaded container snapshot', { key, size: r.size });
  }
  for (const v of [...(src.volumes ?? [])].sort((a, b) => a.name.localeCompare(b.name))) {
    const key = volumeObjectKey(ctx.exportId, v.name);
    const tar = await volumeTarStream(client, src.repo, v.volume, src.labels ?? {});
    const r = await uploadObject(ctx.store, ctx.loc, key, gzipTar(tar), {
      what: `volume ${v.name}`,
      contentType: 'application/octet-stream',
      signal: ctx.signal,
    });
    section.volumes.push({ key, ...r, name: v.name });
    ctx.logger.debug('uploaded volume', { key, size: r.size });
  }
  return section;
}

// ---------------------------------------------------------------------------------------------
// import
// ---------------------------------------------------------------------------------------------

/** Where container state goes on import. */
export interface ContainerImportTarget {
  readonly docker?: Docker;
  /** Extra labels on created volumes and helper containers (tests tag theirs). */
  readonly labels?: Labels;
}

export interface StagedContainerState {
  readonly docker: Docker;
  readonly labels: Labels;
  /** The loaded snapshot; `stagingTag` holds it (against `docker image prune`) until released. */
  readonly image: { readonly id: string; readonly checkpoint: string; readonly baseImage: string | undefined; readonly stagingTag: string } | undefined;
  readonly volumes: readonly { readonly name: string; readonly file: string; readonly report: VolumeRestoreReport }[];
}

export interface ContainerImportReport {
  /** The snapshot's tag for the new workspace. */
  readonly image: string | undefined;
  readonly volumes: readonly { readonly name: string; readonly volume: string; readonly report: VolumeRestoreReport }[];
}

/** downloadObject, where a missing object means the export is incomplete. */
async function download(ctx: StageContext, obj: { key: string; size: number; sha256: string }, file: string): Promise<void> {
  if (!(await downloadObject(ctx.store, ctx.loc, obj, file, { maxBytes: ctx.limits.maxObjectBytes, signal: ctx.signal }))) {
    throw new BerthError(
      'STORAGE_ERROR',
      `${objectUrl(ctx.loc, obj.key)} is listed in the export's manifest but missing from the bucket: the export is incomplete; re-export the workspace`,
      {
        details: { reason: 'incomplete', key: obj.key },
      },
    );
  }
}

/** A tag an exported archive may carry (ignored, never created): only checkpoint snapshots (labels.ts). */
function isCheckpointTag(tag: string): boolean {
  return /^berth-ckpt\/[a-z0-9]+(?:-[a-z0-9]+)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag);
}

export interface StageContext {
  readonly store: ObjectStore;
  readonly loc: S3Location;
  readonly tmp: string;
  readonly limits: Pick<ArchiveLimits, 'maxEntries'> & { readonly maxExtractBytes: number; readonly maxObjectBytes: number };
  readonly signal: AbortSignal | undefined;
}

export async function stageContainerState(section: ContainerSection, target: ContainerImportTarget, ctx: StageContext): Promise<StagedContainerState> {
  const client = target.docker ?? sharedDocker();
  const dir = join(ctx.tmp, 'container');
  await mkdir(dir, { recursive: true });
  const volumes: { name: string; file: string; report: VolumeRestoreReport }[] = [];
  let image: StagedContainerState['image'];
  try {
    for (const v of section.volumes) {
      const gz = join(dir, `volume-${volumes.length}.tar.gz`);
      await download(ctx, v, gz);
      const file = join(dir, `volume-${volumes.length}.tar`);
      const report = await vetVolumeArchive(createReadStream(gz), file, {
        limits: { maxEntries: ctx.limits.maxEntries, maxBytes: ctx.limits.maxExtractBytes },
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      volumes.push({ name: v.name, file, report });
    }
    if (section.image) image = await stageImage(client, section.image, dir, ctx);
  } catch (err) {
    if (image) await releaseStaged({ docker: client, image });
    throw err;
  }
  return { docker: client, labels: target.labels ?? {}, image, volumes };
}

/** Download, repack without tags, load, and hold the snapshot under a fresh staging tag. */
async function stageImage(
  client: Docker,
  obj: NonNullable<ContainerSection['image']>,
  dir: string,
  ctx: StageContext,
): Promise<NonNullable<StagedContainerState['image']>> {
  const file = join(dir, 'image.tar');
  await download(ctx, obj, file);
  const clean = join(dir, 'image.repacked.tar');
  const limits = { maxEntries: ctx.limits.maxEntries, maxBytes: ctx.limits.maxObjectBytes };
  const { id } = await repackImageArchive(file, clean, { limits, allowTag: isCheckpointTag, signal: ctx.signal });
  const repo = `berth-import/${randomBytes(6).toString('hex')}`;
  await loadImageArchive(client, clean, { expectedId: id, repo, tag: 'staged', ...(ctx.signal ? { signal: ctx.signal } : {}) });
  return { id, checkpoint: obj.checkpoint, baseImage: obj.baseImage, stagingTag: `${repo}:staged` };
}

export interface ApplyContext {
  /** The receiving repository and the new workspace's name. */
  readonly repo: RepoRef;
  readonly name: string;
  /** The imported state's extra (its checkpoint list still names the exporter's tags). */
  readonly extra: Readonly<Record<string, unknown>>;
  /** Undo steps of the import; each step this adds reverses one change. */
  readonly undo: (() => Promise<unknown>)[];
}

/**
 * Give the new workspace its snapshot tag and volumes. Returns the extra fields to store: the
 * checkpoint list with image references rewritten (only the exported snapshot travels; other
 * checkpoints lose their image) and the new `containerImage`.
 */
export async function applyContainerState(
  staged: StagedContainerState,
  ctx: ApplyContext,
): Promise<{ extra: Record<string, unknown>; report: ContainerImportReport }> {
  const client = staged.docker;
  const containers = new Containers(client);
  const existing = new Set((await containers.listVolumes({})).map((v) => v.name));
  for (const v of staged.volumes) {
    const vol = workspaceVolumeName(ctx.repo, ctx.name, v.name);
    if (existing.has(vol)) {
      throw new BerthError(
        'BAD_INPUT',
        `volume ${vol} already exists (kept from an earlier workspace named ${JSON.stringify(ctx.name)}?): remove it (docker volume rm ${vol}) or import under another name`,
        {
          details: { reason: 'volume-exists', volume: vol },
        },
      );
    }
  }
  const volumes: ContainerImportReport['volumes'][number][] = [];
  for (const v of staged.volumes) {
    const vol = await ensureWorkspaceVolume(client, ctx.repo, ctx.name, v.name, staged.labels);
    ctx.undo.push(() => containers.removeVolume(vol));
    await writeVolumeTar(client, ctx.repo, vol, createReadStream(v.file), staged.labels);
    volumes.push({ name: v.name, volume: vol, report: v.report });
  }
  let ci: ContainerImage | undefined;
  if (staged.image) {
    const repo = checkpointImageRepo(ctx.repo, ctx.name);
    const tag = staged.image.checkpoint.slice(0, 12);
    const taken = await inspectImage(client, `${repo}:${tag}`);
    if (taken && taken.id !== staged.image.id) {
      throw new BerthError(
        'BAD_INPUT',
        `image tag ${repo}:${tag} already exists with other content (left from an earlier workspace named ${JSON.stringify(ctx.name)}?): remove it (docker rmi ${repo}:${tag}) or import under another name`,
        {
          details: { reason: 'image-exists' },
        },
      );
    }
    await tagImage(client, staged.image.id, repo, tag);
    if (!taken) ctx.undo.push(() => removeImageTag(client, `${repo}:${tag}`));
    ci = {
      ref: `${repo}:${tag}`,
      imageId: staged.image.id,
      checkpoint: staged.image.checkpoint,
      ...(staged.image.baseImage ? { baseImage: staged.image.baseImage } : {}),
    };
  }
  const checkpoints: CheckpointRecord[] = readCheckpoints(ctx.extra).map((r) => {
    const { image: _image, imageId: _id, ...rest } = r;
    return ci && r.sha === ci.checkpoint ? { ...rest, image: ci.ref, imageId: ci.imageId } : rest;
  });
  return {
    extra: { [EXTRA_CHECKPOINTS]: checkpoints, [EXTRA_CONTAINER_IMAGE]: ci },
    report: { image: ci?.ref, volumes },
  };
}

/** Drop the staging tag (the new workspace has its own; on failure the image goes with it). */
export async function releaseStaged(staged: Pick<StagedContainerState, 'docker' | 'image'>): Promise<void> {
  if (staged.image) await removeImageTag(staged.docker, staged.image.stagingTag).catch(() => undefined);
}

/**
 * Per-workspace named volumes (berth.yaml `volumes:`): finding them by label, and moving their
 * contents in and out as tar streams. Contents travel through a short-lived helper container that
 * is created but never started (busybox, network none, no capabilities): Docker mounts a stopped
 * container's volumes for archive requests (GET/PUT /containers/{id}/archive), so no process ever
 * runs next to the data. See https://docs.docker.com/engine/api/v1.41/#operation/ContainerArchive
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { IMAGES } from '../src/images.js';
import { BerthError } from '../src/errors.js';
import { call, imageExists, type Docker } from './client.js';
import { Containers } from './containers.js';
import { createContainer } from './create.js';
import { ownerLabel } from './reaper.js';
import { buildLabels, LABEL, labelFilter, namePart, workspaceVolumeName, type Labels, type RepoRef } from './labels.js';

/** Where the helper container mounts the volume. */
export const HELPER_MOUNT = '/berth-volume';

const HELPER_RESOURCES = { cpus: 0.5, memoryMb: 64, pids: 16 };

export interface WorkspaceVolume {
  /** The name in berth.yaml (`volumes: {data: /data}` → "data"). */
  readonly name: string;
  /** Docker's volume name, berth-vol-<repo>-<workspace>-<name>. */
  readonly volume: string;
  readonly workspace: string;
  readonly labels: Labels;
}

/** Volumes berth created for workspace `workspace` of `repo` (by label), sorted by name. */
export async function listWorkspaceVolumes(client: Docker, repo: RepoRef, workspace: string): Promise<WorkspaceVolume[]> {
  const rows = await new Containers(client).listVolumes(labelFilter({ repo, workspace }));
  return rows
    .filter((v) => v.labels[LABEL.volumeKind] === 'workspace' && v.labels[LABEL.volumeName])
    .map((v) => ({ name: v.labels[LABEL.volumeName] as string, volume: v.name, workspace, labels: v.labels }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Create (or reuse) the labelled volume `name` of a workspace; returns Docker's volume name. */
export async function ensureWorkspaceVolume(client: Docker, repo: RepoRef, workspace: string, name: string, extra: Labels = {}): Promise<string> {
  const vol = workspaceVolumeName(repo, workspace, name);
  await new Containers(client).ensureVolume(vol, {
    ...buildLabels({ role: 'session', repo, workspace, extra }),
    [LABEL.volumeKind]: 'workspace',
    [LABEL.volumeName]: name,
  });
  return vol;
}

/** Runs `fn` with a created-not-started helper container mounting `volume` at HELPER_MOUNT. */
async function withHelper<T>(client: Docker, repo: RepoRef, volume: string, readOnly: boolean, extra: Labels, fn: (id: string) => Promise<T>): Promise<T> {
  if (!(await imageExists(IMAGES.busybox, client))) {
    throw new BerthError('IMAGE_MISSING', `moving volume data needs the helper image ${IMAGES.busybox}: build it with 'berth images build'`);
  }
  const name = `berth-helper-${namePart(repo.id)}-${randomBytes(4).toString('hex')}`;
  // Never started: read-only rootfs, no capabilities, no network, tiny limits.
  const id = await createContainer(
    client,
    { name, image: IMAGES.busybox, entrypoint: ['true'], labels: { ...buildLabels({ role: 'helper', repo, extra }), ...ownerLabel() } },
    { caps: 'none', resources: HELPER_RESOURCES, mounts: [{ type: 'volume', source: volume, target: HELPER_MOUNT, readOnly }], readonlyRootfs: true },
  );
  try {
    return await fn(id);
  } finally {
    await new Containers(client).remove(id).catch(() => undefined);
  }
}

/**
 * The volume's contents as an uncompressed tar stream whose entries are relative to the volume
 * root. Resolves once the stream is open; the helper container is removed when the stream ends
 * or is destroyed.
 */
export async function volumeTarStream(client: Docker, repo: RepoRef, volume: string, extra: Labels = {}): Promise<Readable> {
  let release: () => void = () => undefined;
  const done = new Promise<void>((r) => (release = r));
  let opened!: (s: Readable) => void;
  let failed!: (e: unknown) => void;
  const ready = new Promise<Readable>((res, rej) => ((opened = res), (failed = rej)));
  // The helper lives until the caller has consumed (or dropped) the stream.
  void withHelper(client, repo, volume, true, extra, async (id) => {
    // "<dir>/." archives the directory's contents with entries named "./…" (docker cp semantics).
    const stream = (await call(`read volume ${volume}`, () => client.getContainer(id).getArchive({ path: `${HELPER_MOUNT}/.` }))) as unknown as Readable;
    stream.once('close', release);
    stream.once('end', release);
    stream.once('error', release);
    opened(stream);
    await done;
  }).catch(failed);
  return ready;
}

/**
 * Write an uncompressed tar stream into the volume root (existing files with the same names are
 * replaced; nothing is deleted). The caller has already vetted every entry: Docker applies the tar
 * as given, with its owners and modes.
 */
export async function writeVolumeTar(client: Docker, repo: RepoRef, volume: string, tar: Readable | Buffer, extra: Labels = {}): Promise<void> {
  await withHelper(client, repo, volume, false, extra, async (id) => {
    await call(`write volume ${volume}`, () =>
      client.getContainer(id).putArchive(tar as NodeJS.ReadableStream, { path: HELPER_MOUNT, noOverwriteDirNonDir: true }),
    );
  });
}

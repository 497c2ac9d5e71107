/**
 * Container filesystem snapshots as images: `docker commit` for checkpoints, `docker save` /
 * `docker load` to move one through an export, tagging and untagging. Every Docker call goes
 * through client.ts's `call`, so failures arrive as RunnerErrors.
 *
 * Loading is the dangerous direction: `docker load` creates whatever tags the archive's
 * manifest.json names, so a tampered export could re-point `berth-node:bookworm-1` (or another
 * workspace's checkpoint) at its own content. loadImageArchive() only takes archives repacked
 * without tags (runner/storage/image-archive.ts), checks the id Docker reports, and tags the
 * image itself.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { BerthError } from '../src/errors.js';
import { call, dockerStatus, translateDockerError, type Docker } from './client.js';
import type { Labels } from './labels.js';

export interface ImageInfo {
  /** sha256:… */
  readonly id: string;
  readonly tags: readonly string[];
  readonly labels: Labels;
  readonly size: number;
  readonly created: string;
}

/** The image `ref` (tag or id), or undefined when Docker does not have it. */
export async function inspectImage(client: Docker, ref: string): Promise<ImageInfo | undefined> {
  try {
    const i = await client.getImage(ref).inspect();
    return { id: i.Id, tags: i.RepoTags ?? [], labels: i.Config?.Labels ?? {}, size: i.Size, created: i.Created };
  } catch (err) {
    const status = dockerStatus(err);
    if (status === 404) return undefined;
    throw translateDockerError(err, `inspect image ${ref}`);
  }
}

/**
 * `docker commit` of a container (paused meanwhile, so the snapshot is consistent) into
 * `repo:tag`. Labels are merged over the container's own by the daemon (daemon/commit.go merge()),
 * so a snapshot keeps the container's berth labels plus these. Mounted volumes and the bind-mounted
 * worktree are not part of a commit. Returns the image id.
 */
export async function commitContainer(
  client: Docker,
  containerId: string,
  target: { repo: string; tag: string; labels: Labels; comment?: string },
): Promise<string> {
  const res = (await call(`commit container ${containerId} to ${target.repo}:${target.tag}`, () =>
    client.getContainer(containerId).commit({
      // Query and body both: dockerode would otherwise send everything as the query string.
      _query: { container: containerId, repo: target.repo, tag: target.tag, pause: true, ...(target.comment ? { comment: target.comment } : {}) },
      _body: { Labels: target.labels },
    }),
  )) as { Id?: string };
  if (!res?.Id) throw new BerthError('DOCKER_ERROR', `docker commit of ${containerId} returned no image id`);
  return res.Id;
}

/** Point `repo:tag` at `image` (moves the tag if it exists). */
export async function tagImage(client: Docker, image: string, repo: string, tag: string): Promise<void> {
  await call(`tag image ${image} as ${repo}:${tag}`, () => client.getImage(image).tag({ repo, tag }));
}

/**
 * Remove a tag (the image's layers go only when no other tag or container uses them). False when
 * the tag does not exist; a tag still used by a container is left and reported as false too.
 */
export async function removeImageTag(client: Docker, ref: string): Promise<boolean> {
  try {
    await client.getImage(ref).remove({ force: false, noprune: false });
    return true;
  } catch (err) {
    const s = dockerStatus(err);
    if (s === 404 || s === 409) return false;
    throw translateDockerError(err, `remove image ${ref}`);
  }
}

/** Tags (repo:tag) under an image repository, e.g. every checkpoint of one workspace. */
export async function listRepoTags(client: Docker, repo: string): Promise<string[]> {
  const rows = await call(`list images of ${repo}`, () => client.listImages({ filters: { reference: [repo] } }));
  return rows.flatMap((r) => r.RepoTags ?? []).filter((t) => t.startsWith(`${repo}:`));
}

/** `docker save` of one image as a tar stream (the caller consumes or destroys it). */
export async function saveImage(client: Docker, ref: string): Promise<Readable> {
  return (await call(`save image ${ref}`, () => client.getImage(ref).get())) as unknown as Readable;
}

/** The id a `docker load` answer reports ("Loaded image ID: sha256:…" lines), and any tags it names. */
function loadedFrom(text: string): { ids: string[]; tags: string[] } {
  const ids = [...text.matchAll(/Loaded image ID: (sha256:[0-9a-f]{64})/g)].map((m) => m[1] as string);
  const tags = [...text.matchAll(/Loaded image: ([^\s"\\]+)/g)].map((m) => m[1] as string);
  return { ids, tags };
}

/**
 * `docker load` of an archive that runner/storage/image-archive.ts repacked (no tags, one image
 * whose id is `expectedId`), then tag it `repo:tag`, a name the caller chose. Verifies Docker
 * loaded exactly that id and created no tag of its own, so an archive can never move a tag; a
 * mismatch removes what the load created and fails.
 * See https://docs.docker.com/engine/api/v1.41/#operation/ImageLoad
 */
export async function loadImageArchive(
  client: Docker,
  file: string,
  opts: { expectedId: string; repo: string; tag: string; signal?: AbortSignal },
): Promise<void> {
  const res = (await call('load image', () =>
    client.loadImage(createReadStream(file), { quiet: true, ...(opts.signal ? { abortSignal: opts.signal } : {}) }),
  )) as unknown as Readable;
  // The answer is a JSON message stream; an error inside it still comes with HTTP 200.
  let text = '';
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      if (text.length < 64 * 1024) text += chunk.toString('utf8');
    }
  } catch (err) {
    throw translateDockerError(err, 'load image');
  }
  const error = /"error"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(text);
  if (error) throw new BerthError('DOCKER_ERROR', `docker load failed: ${JSON.parse(`"${error[1]}"`) as string}`, { details: { reason: 'image-load' } });
  const loaded = loadedFrom(text);
  if (loaded.tags.length > 0 || loaded.ids.some((id) => id !== opts.expectedId)) {
    for (const t of loaded.tags) await removeImageTag(client, t).catch(() => undefined);
    throw new BerthError(
      'BAD_INPUT',
      `docker load created ${JSON.stringify([...loaded.tags, ...loaded.ids])} instead of the untagged image ${opts.expectedId}: refusing it; re-export the workspace`,
      {
        details: { reason: 'image-archive' },
      },
    );
  }
  if (!(await inspectImage(client, opts.expectedId)))
    throw new BerthError('DOCKER_ERROR', `docker load reported success but image ${opts.expectedId} is not there`);
  await tagImage(client, opts.expectedId, opts.repo, opts.tag);
}

/**
 * Container filesystem snapshots as images: `docker commit` for checkpoints, `docker save` /
 * `docker load` to move one through an export, tagging and untagging. Every Docker call goes
 * through client.ts's `call`, so failures arrive as RunnerErrors.
 *
 * Loading is the dangerous direction: `docker load` creates whatever tags the archive's
 * manifest.json names, so a tampered export could re-point `berth-node:bookworm-1` (or another
 * workspace's checkpoint) at its own content. inspectImageArchive() reads the archive first and
 * loadImageArchive() refuses any archive whose tags leave the checkpoint namespace or would move
 * an existing tag to other content. See https://docs.docker.com/engine/api/v1.41/#operation/ImageLoad
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';
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

export interface ImageArchiveInfo {
  /** The image id the archive loads as: sha256 of its config (content addressed). */
  readonly id: string;
  readonly repoTags: readonly string[];
}

const MAX_ARCHIVE_MANIFEST_BYTES = 1024 * 1024;

/**
 * Read a `docker save` archive's manifest.json: exactly one image, its config digest and tags.
 * BAD_INPUT when the archive is not a single-image docker-save tar.
 */
export async function inspectImageArchive(file: string): Promise<ImageArchiveInfo> {
  const bad = (why: string, cause?: unknown) =>
    new BerthError('BAD_INPUT', `the exported container image is not a usable docker-save archive (${why}): re-export the workspace`, {
      ...(cause !== undefined ? { cause } : {}),
      details: { reason: 'image-archive' },
    });
  const manifest = await new Promise<Buffer | undefined>((resolve, reject) => {
    let found: Buffer | undefined;
    let failed = false;
    const parser = new Parser({ strict: true });
    const source = createReadStream(file);
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      source.destroy();
      reject(bad(err instanceof Error ? err.message : String(err), err));
    };
    parser.on('entry', (entry: ReadEntry) => {
      if (entry.path !== 'manifest.json' || entry.type !== 'File') return void entry.resume();
      if (entry.size > MAX_ARCHIVE_MANIFEST_BYTES) return fail(new Error(`manifest.json is ${entry.size} bytes`));
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => {
        found = Buffer.concat(chunks);
      });
    });
    parser.on('error', fail);
    parser.on('warn', (code: string, message: string) => {
      if (code === 'TAR_BAD_ARCHIVE' || code === 'TAR_ABORT') fail(new Error(message));
    });
    parser.on('end', () => {
      if (!failed) resolve(found);
    });
    source.on('error', fail);
    source.pipe(parser as unknown as NodeJS.WritableStream);
  });
  if (manifest === undefined) throw bad('no manifest.json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(manifest.toString('utf8'));
  } catch (err) {
    throw bad('manifest.json is not JSON', err);
  }
  if (!Array.isArray(parsed) || parsed.length !== 1) throw bad('it must hold exactly one image');
  const entry = parsed[0] as { Config?: unknown; RepoTags?: unknown };
  const m = typeof entry.Config === 'string' ? /^(?:blobs\/sha256\/)?([0-9a-f]{64})(?:\.json)?$/.exec(entry.Config) : null;
  if (!m) throw bad('its config is not named by a sha256 digest');
  const tags = entry.RepoTags ?? [];
  if (!Array.isArray(tags) || !tags.every((t): t is string => typeof t === 'string')) throw bad('RepoTags is not a list of names');
  return { id: `sha256:${m[1]}`, repoTags: tags };
}

/**
 * `docker load` of an archive checked by inspectImageArchive(): every tag it carries must match
 * `allowTag` and must be absent or already point at the same image id, so loading can never move
 * an existing tag to other content. Resolves with the loaded image id and the tags the load
 * created (which the caller may remove again after re-tagging).
 */
export async function loadImageArchive(
  client: Docker,
  file: string,
  opts: { allowTag: (tag: string) => boolean; signal?: AbortSignal },
): Promise<{ id: string; createdTags: string[] }> {
  const info = await inspectImageArchive(file);
  const createdTags: string[] = [];
  for (const tag of info.repoTags) {
    if (!opts.allowTag(tag)) {
      throw new BerthError('BAD_INPUT', `the exported container image would be tagged ${JSON.stringify(tag)}, outside berth's checkpoint images: refusing to load it (re-export the workspace)`, {
        details: { reason: 'image-archive', tag },
      });
    }
    const existing = await inspectImage(client, tag);
    if (existing && existing.id !== info.id) {
      throw new BerthError('BAD_INPUT', `loading the exported container image would move the existing tag ${JSON.stringify(tag)} to other content: refusing (remove that tag with docker rmi if it is stale, then import again)`, {
        details: { reason: 'image-archive', tag },
      });
    }
    if (!existing) createdTags.push(tag);
  }
  const res = (await call('load image', () => client.loadImage(createReadStream(file), { quiet: true, ...(opts.signal ? { abortSignal: opts.signal } : {}) }))) as unknown as Readable;
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
  const loaded = await inspectImage(client, info.id);
  if (!loaded) throw new BerthError('DOCKER_ERROR', `docker load reported success but image ${info.id} is not there`);
  return { id: info.id, createdTags };
}

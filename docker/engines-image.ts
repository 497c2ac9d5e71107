/**
 * An image on another engine: a pipeline (or session) placed on an engine that lacks its image
 * gets it copied from the local engine, `docker save | docker load` streamed over the two Docker
 * APIs (nothing touches the disk, no registry is involved).
 *
 * Why copy rather than pull or build there: berth's own and toolchain images are built on this
 * machine from berth's Dockerfiles (docker/ensure.ts), an engine that can't see host paths can't
 * take that build context as is, and a registry may be unreachable from it (as on this machine,
 * which reaches no registry at all). The local engine is berth's build cache: ensure the image
 * there as always (build or pull per the spec's policy), then copy it once; the engine keeps it.
 */
import type { Readable } from 'node:stream';
import { BerthError } from '../src/errors.js';
import { call, docker as sharedDocker, imageExists, type Docker } from './client.js';
import { followProgress } from './progress.js';
import { saveImage } from './snapshots.js';

export interface CopyImageOptions {
  /** Where the image is (default: the local engine, DOCKER_HOST). */
  readonly from?: Docker;
  /** Engine id for messages. */
  readonly engineId?: string;
  readonly signal?: AbortSignal;
  /** A line before a copy starts (copies of toolchain images take a while over ssh://). */
  readonly onProgress?: (line: string) => void;
}

/** Make `ref` present on `target`, copying it from `from` when it is missing. True if it copied. */
export async function ensureImageOn(target: Docker, ref: string, opts: CopyImageOptions = {}): Promise<boolean> {
  const from = opts.from ?? sharedDocker();
  if (target === from || (await imageExists(ref, target))) return false;
  const where = opts.engineId ? `engine "${opts.engineId}"` : 'the chosen engine';
  if (!(await imageExists(ref, from))) {
    throw new BerthError(
      'IMAGE_MISSING',
      `image ${JSON.stringify(ref)} is on neither ${where} nor the local engine to copy it from: build it locally ('berth images build') or load it onto ${where}`,
    );
  }
  opts.onProgress?.(`copying image ${ref} to ${where} (docker save | load over the API)`);
  const tar = await saveImage(from, ref);
  const what = `load image ${ref} on ${where}`;
  try {
    const answer = (await call(what, () =>
      target.loadImage(tar as unknown as string, { quiet: true, ...(opts.signal ? { abortSignal: opts.signal } : {}) }),
    )) as unknown as Readable;
    await followProgress(target, answer, (detail, cause) => new BerthError('DOCKER_ERROR', `${what} failed: ${detail}`, { cause }));
  } finally {
    tar.destroy();
  }
  if (!(await imageExists(ref, target))) {
    throw new BerthError('DOCKER_ERROR', `image ${ref} was loaded on ${where} but is not there under that name: load it by hand (docker save | docker load)`);
  }
  return true;
}

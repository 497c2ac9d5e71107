/**
 * Shared by the persistence suites: the runner fixture (test/runner/helpers.ts) plus removal of the
 * images a suite committed or loaded. Committed snapshots inherit the container's labels, so the
 * fixture's test label finds exactly this suite's images.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, readlink, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { Dockerode } from '../helpers/docker.js';
import { TEST_LABEL } from '../runner/helpers.js';

export async function removeLabelledImages(runId: string): Promise<void> {
  const d = new Dockerode();
  const images = await d.listImages({ all: true, filters: { label: [`${TEST_LABEL}=${runId}`] } });
  // Tags first (an image with several tags needs each removed), then the images themselves.
  for (const img of images) {
    for (const tag of img.RepoTags ?? [])
      if (tag !== '<none>:<none>')
        await d
          .getImage(tag)
          .remove({ force: true })
          .catch(() => undefined);
    await d
      .getImage(img.Id)
      .remove({ force: true })
      .catch(() => undefined);
  }
}

export async function imagesLabelled(runId: string): Promise<string[]> {
  const d = new Dockerode();
  const images = await d.listImages({ filters: { label: [`${TEST_LABEL}=${runId}`] } });
  return images.flatMap((i) => i.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
}

/** path → sha256 of content (files), "-> target" (links) or "dir", for a tree minus `skip` names. */
export async function treeDigest(root: string, skip: ReadonlySet<string> = new Set(['.git']), rel = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(join(root, rel))).sort()) {
    if (rel === '' && skip.has(name)) continue;
    const r = rel ? `${rel}/${name}` : name;
    const st = await lstat(join(root, r));
    if (st.isSymbolicLink()) out[r] = `-> ${await readlink(join(root, r))}`;
    else if (st.isDirectory()) Object.assign(out, { [r]: 'dir' }, await treeDigest(root, skip, r));
    else
      out[r] = `${createHash('sha256')
        .update(await readFile(join(root, r)))
        .digest('hex')} ${(st.mode & 0o111) !== 0 ? 'x' : '-'}`;
  }
  return out;
}

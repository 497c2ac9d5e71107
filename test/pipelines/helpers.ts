// Shared by the Docker-backed pipeline suites: fixture copies in temp dirs (each with its own repo
// key, so concurrent suites never count each other's containers) and label-based leak checks.
import { createHash } from 'node:crypto';
import { cp, lstat, mkdtemp, readdir, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Dockerode as Docker } from '../helpers/docker.js';
import { repoKey } from '../../pipelines/index.js';
import { LABEL } from '../../docker/labels.js';
import { IMAGES } from '../../src/images.js';
import type { ResolvedSpec } from '../../src/project/types.js';

export const docker = new Docker();

/** A small resolved spec on busybox with nothing to install; tests override what they exercise. */
export function pipelineSpec(over: Partial<ResolvedSpec> = {}): ResolvedSpec {
  return {
    image: IMAGES.busybox,
    workdir: '/src',
    env: {},
    setup: [],
    install: [],
    steps: { build: [], test: [], lint: [] },
    caches: [],
    volumes: [],
    resources: { cpus: 1, memoryMb: 256, pids: 128 },
    network: 'none',
    user: undefined,
    idleTimeoutMs: 60_000,
    stepTimeoutMs: 60_000,
    pool: { size: 0 },
    toolchain: 'generic',
    packageManager: undefined,
    ...over,
  };
}

export const fixturePath = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

export interface FixtureCopy {
  readonly dir: string;
  /** The repo key the CLI derives for this directory (labels, cache volume names). */
  readonly repo: string;
}

/** Copy a fixture to a fresh temp dir (tests may add files to it; the fixture stays pristine). */
export async function copyFixture(name: string): Promise<FixtureCopy> {
  const parent = await realpath(await mkdtemp(join(tmpdir(), 'berth-pl-')));
  const dir = join(parent, name);
  await cp(fixturePath(name), dir, { recursive: true });
  return { dir, repo: repoKey(dir) };
}

/** Pipeline containers (running or not) labelled with this repo key. */
export async function pipelineContainers(repo: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${LABEL.pipelineRepo}=${repo}`] } });
}

/** Remove what a test's runs left for this repo (ready-deps snapshots; containers only if leaked) and the temp dir. */
export async function cleanup(copy: FixtureCopy): Promise<void> {
  try {
    // Tolerate 404/409: a leaked container may be mid-removal; the leak itself fails its test.
    for (const c of await pipelineContainers(copy.repo))
      await docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => {});
    const { Volumes } = await docker.listVolumes({ filters: { label: [`${LABEL.pipelineRepo}=${copy.repo}`] } });
    for (const v of Volumes ?? []) await docker.getVolume(v.Name).remove();
    // Ready-deps snapshots of this copy's installs (scoped to its repo key).
    for (const img of await docker.listImages({ filters: { label: [`${LABEL.depsScope}=${copy.repo}`] } }))
      await docker
        .getImage(img.Id)
        .remove({ force: true })
        .catch(() => {});
  } finally {
    await rm(join(copy.dir, '..'), { recursive: true, force: true });
  }
}

/** Every path with its mode, size and content hash: equal before and after proves the source was not touched. */
export async function snapshot(dir: string): Promise<string> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const d of (await readdir(join(dir, rel), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = rel === '' ? d.name : `${rel}/${d.name}`;
      const st = await lstat(join(dir, path));
      const hash = d.isFile()
        ? createHash('sha256')
            .update(await readFile(join(dir, path)))
            .digest('hex')
        : '';
      out.push(`${path} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs} ${hash}`);
      if (d.isDirectory()) await walk(path);
    }
  };
  await walk('');
  return out.join('\n');
}

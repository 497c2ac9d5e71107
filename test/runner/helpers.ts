/**
 * Fixtures for the runner suites: real temp git repositories, a per-suite Docker label so cleanup
 * removes exactly what the suite created (other suites run concurrently), and small waits.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';
import { Dockerode } from '../helpers/docker.js';
import type { SpecInput } from '../../src/project/schema.js';
import { IMAGES } from '../../src/images.js';
import { Runner } from '../../runner/session/index.js';
import { makeRepo, makeTempRoot } from '../workspace/helpers/repo.js';

/** The label every runner suite puts on its containers and volumes; value = the suite's run id. */
export const TEST_LABEL = 'dev.berth.test';

export interface Fixture {
  readonly root: string;
  readonly repo: string;
  readonly dataDir: string;
  /** Labels to pass as RunnerOptions.labels. */
  readonly labels: Record<string, string>;
  readonly runId: string;
  git(...args: string[]): string;
  write(rel: string, content: string): void;
  commitAll(message: string): void;
  /** Remove every container and volume carrying this fixture's label, then the temp dir. */
  cleanup(): Promise<void>;
}

export function makeFixture(prefix = 'berth-runner-'): Fixture {
  const { root, repo, dataDir, git, write, commitAll } = makeRepo({ commit: false, root: makeTempRoot(prefix) });
  const runId = `${prefix}${randomBytes(6).toString('hex')}`;
  write('README.md', '# fixture\n');
  write('src/app.txt', 'hello from the fixture\n');
  commitAll('initial commit');
  return {
    root,
    repo,
    dataDir,
    labels: { [TEST_LABEL]: runId },
    runId,
    git,
    write,
    commitAll,
    cleanup: async () => {
      await removeLabelled(runId);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * A suite's fixture and runners (library Runners on its repo, busybox unless told): made before the
 * suite's tests, closed with the fixture's containers and temp dir after them. Call inside a describe.
 */
export function useRunners(prefix: string): { fixture(): Fixture; runner(spec?: SpecInput): Promise<Runner> } {
  let fx: Fixture | undefined;
  const runners: Runner[] = [];
  beforeAll(() => {
    fx = makeFixture(prefix);
  });
  afterAll(async () => {
    for (const r of runners) await r.close().catch(() => undefined);
    await fx?.cleanup();
  });
  const fixture = (): Fixture => {
    if (!fx) throw new Error('useRunners: the fixture exists only while the suite runs');
    return fx;
  };
  return {
    fixture,
    async runner(spec = busyboxSpec()) {
      const f = fixture();
      const r = await Runner.create({ repo: f.repo, dataDir: f.dataDir, labels: f.labels, spec, reconcile: false });
      runners.push(r);
      return r;
    },
  };
}

/** Force-remove containers and volumes labelled TEST_LABEL=runId (and only those). */
export async function removeLabelled(runId: string): Promise<void> {
  await removeByLabels([`${TEST_LABEL}=${runId}`]);
}

/** Fast spec for most suites: busybox, small limits. */
export function busyboxSpec(extra: SpecInput = {}): SpecInput {
  return { image: IMAGES.busybox, resources: { cpus: 1, memoryMb: 256, pids: 256 }, ...extra };
}

export function nodeSpec(extra: SpecInput = {}): SpecInput {
  return { image: IMAGES.node, resources: { cpus: 1, memoryMb: 512, pids: 512 }, ...extra };
}

export async function containerState(idOrName: string): Promise<{ running: boolean; exitCode: number; oomKilled: boolean } | undefined> {
  try {
    const i = await new Dockerode().getContainer(idOrName).inspect();
    return { running: i.State.Running, exitCode: i.State.ExitCode, oomKilled: i.State.OOMKilled };
  } catch {
    return undefined;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Remove containers and volumes labelled with this repository's path (for objects made by a spawned
 * CLI, which cannot carry a test label; a fixture's temp repo path is unique to it).
 */
export async function removeByRepo(repoPath: string): Promise<void> {
  await removeByLabels([`dev.berth.managed=1`, `dev.berth.repo=${repoPath}`]);
}

/** Force-remove the containers (with their anonymous volumes) and volumes carrying all `labels`. */
async function removeByLabels(labels: string[]): Promise<void> {
  const d = new Dockerode();
  const filters = { label: labels };
  const cs = await d.listContainers({ all: true, filters });
  await Promise.all(
    cs.map((c) =>
      d
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => undefined),
    ),
  );
  // Install snapshots of sessions (runner/session/deps.ts) carry the labels of the helper that made them.
  for (const img of await d.listImages({ filters: { label: [...labels, 'dev.berth.role=deps'] } }))
    await d
      .getImage(img.Id)
      .remove({ force: true })
      .catch(() => undefined);
  const vs = await d.listVolumes({ filters });
  await Promise.all(
    (vs.Volumes ?? []).map((v) =>
      d
        .getVolume(v.Name)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
}

/**
 * A warm pool slot's warm-up (pool.ts), as a list of steps run in order. Adding a step (for
 * example installing dependencies into the prepared worktree) is one line in warmSteps(); a step
 * that throws makes the pool remove the container and the slot.
 */
import { readdir } from 'node:fs/promises';
import type { Resolved } from '../../src/project/index.js';
import { buildLabels } from '../../docker/index.js';
import { BerthError } from '../../src/errors.js';
import { CONTAINER_USER } from './container-factory.js';
import type { PoolHost, PoolWorkspaces } from './pool.js';
import { initContainer, runSetup } from './setup.js';

/** The slot being warmed; `id` is set once its container exists. */
export interface WarmSlot {
  readonly resolved: Resolved;
  readonly name: string;
  readonly slot: string;
  readonly slotDir: string;
  readonly user: string;
  id: string | undefined;
}

export interface WarmStep {
  readonly what: string;
  run(slot: WarmSlot): Promise<void>;
}

/** A slot's warm-up, in order. */
export function warmSteps(h: PoolHost, ws: PoolWorkspaces | undefined): WarmStep[] {
  return [
    { what: 'create and start the container', run: (w) => startContainer(h, w) },
    { what: 'state dirs and setup', run: (w) => setup(h, w) },
    { what: 'check the slot is still empty', run: assertSlotEmpty },
    { what: 'check the base out detached', run: (w) => prepareWorktree(h, ws, w) },
  ];
}

async function startContainer(h: PoolHost, w: WarmSlot): Promise<void> {
  const spec = w.resolved.spec;
  w.id = await h.containers.create({
    name: w.name,
    image: spec.image,
    user: CONTAINER_USER,
    env: h.containerEnv(undefined, spec, w.user),
    labels: buildLabels({
      role: 'pool',
      repo: h.repo,
      specHash: w.resolved.hash,
      workdir: spec.workdir,
      user: w.user,
      mountSource: w.slotDir,
      poolSlot: w.slot,
      extra: h.labels,
    }),
    mounts: await h.mountsFor(undefined, spec, w.slotDir),
    spec,
    bindRoots: { dataDir: h.dataDir, worktree: w.slotDir, gitDir: await h.gitDir() },
    hostname: 'berth',
  });
  await h.containers.start(w.id);
}

async function setup(h: PoolHost, w: WarmSlot): Promise<void> {
  const spec = w.resolved.spec;
  const host = { containers: h.containers, containerId: w.id!, user: w.user, workdir: spec.workdir, logger: h.logger };
  await initContainer(host, h.chownPaths(spec));
  // With no install commands nothing is left for the claim: record "done" now, so a claim
  // needs no docker exec at all. (install is not part of the spec hash; a claim whose spec
  // has install commands runs them whatever this marker says, then records "done" itself.)
  await runSetup(host, { setup: spec.setup, install: [], timeoutMs: spec.stepTimeoutMs, status: spec.install.length === 0 ? 'done' : 'setup' });
}

async function assertSlotEmpty(w: WarmSlot): Promise<void> {
  if ((await readdir(w.slotDir)).length === 0) return;
  throw new BerthError(
    'POOL_ERROR',
    `the spec's setup commands wrote into the workdir ${w.resolved.spec.workdir}; a pool slot must stay empty for the worktree. Move those commands to install.`,
  );
}

/**
 * After setup, so no setup command ever sees the files. A base the workspace library refuses
 * (no commits yet, submodules) leaves the slot empty: claims then take the cold git path.
 */
async function prepareWorktree(h: PoolHost, ws: PoolWorkspaces | undefined, w: WarmSlot): Promise<void> {
  if (!ws) return;
  try {
    await ws.prepare(w.slotDir);
  } catch (err) {
    if (!(err instanceof BerthError) || !['EMPTY_REPO', 'SUBMODULES_UNSUPPORTED', 'UNKNOWN_REF'].includes(err.code)) throw err;
    h.logger.debug('warm pool slot left without a worktree', { container: w.name, reason: err.code });
  }
}

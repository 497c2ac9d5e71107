/**
 * One run's shared state and its container lifecycle: labels, cache volumes, creating containers
 * through docker/create.ts (the hardened builder), and removal that teardown can always finish.
 * Every container carries the run's label, so teardown also sweeps what a lost reference missed.
 */
import { randomUUID } from 'node:crypto';
import { call, docker as defaultDocker, translateDockerError, type Docker } from '../../docker/index.js';
import { createContainer, type ContainerBody } from '../../docker/index.js';
import type { CapProfile } from '../../docker/index.js';
import { LABEL, RUNNER_VERSION, sharedCacheLabels } from '../../docker/index.js';
import { ownerLabel } from '../../docker/index.js';
import { BerthError } from '../../src/errors.js';
import { silentLogger, type Logger } from '../../src/log.js';
import type { Plan } from '../plan.js';
import { aborted, isRoot, type PipelineEvent, type RunPlanLocalOptions } from './types.js';

/** The sleep loop that keeps a staged pipeline container up between execs; removal kills it. */
export const KEEPALIVE = ['sh', '-c', 'while :; do sleep 3600; done'];

/**
 * Capabilities of a pipeline container (see docker/hardening.ts). Setup commands, or an install
 * run as root (npm/apt may chown what they unpack), get ROOT_SETUP_CAPS; a non-root plan user
 * otherwise needs only CHOWN, for root to hand the source copy over; a forked `check` step, or a
 * root run with nothing but steps, gets none. Commands of a non-root user have no effective
 * capabilities whatever this set is.
 */
export function pipelineCaps(plan: Plan, part: 'main' | 'fork'): CapProfile {
  if (part === 'fork') return 'none';
  const rootUser = plan.user === undefined || isRoot(plan.user);
  if (plan.setup.length > 0 || (rootUser && plan.install.length > 0)) return 'root-setup';
  return rootUser ? 'none' : 'chown';
}

export class RunContext {
  /** What runs now: the plan, or after a ready-deps hit the plan minus setup/install on the snapshot. */
  plan: Plan;
  /** The plan as given (the result reports its phases and image). */
  readonly original: Plan;
  readonly opts: RunPlanLocalOptions;
  readonly docker: Docker;
  readonly log: Logger;
  readonly runId = randomUUID().replace(/-/g, '').slice(0, 12);
  readonly labels: Record<string, string>;
  readonly tailChars: number;
  aborted = false;
  forkImage: string | undefined;
  /** The install phase's own network, when it has one the engine offers (see usableInstallNetwork). */
  installNetwork: Plan['network'] | undefined;
  /** Containers created by this run, by id. */
  readonly #containers = new Set<string>();
  readonly #removals = new Map<string, Promise<void>>();

  constructor(plan: Plan, opts: RunPlanLocalOptions) {
    this.plan = plan;
    this.original = plan;
    this.opts = opts;
    this.docker = opts.docker ?? defaultDocker();
    this.log = (opts.logger ?? silentLogger).child({ run: this.runId });
    this.tailChars = opts.tailChars ?? 4096;
    this.labels = {
      ...opts.labels,
      ...ownerLabel(),
      [LABEL.managed]: '1',
      [LABEL.role]: 'pipeline',
      [LABEL.runnerVersion]: RUNNER_VERSION,
      [LABEL.pipelineRun]: this.runId,
      [LABEL.pipelineRepo]: plan.repo,
      [LABEL.pipelineTarget]: plan.target,
    };
  }

  emit(event: PipelineEvent): void {
    try {
      this.opts.onOutput?.(event);
    } catch (err) {
      // A throwing callback must not leave containers behind or hide the step's result.
      this.log.warn('onOutput callback threw', { error: (err as Error).message });
    }
  }

  async ensureCaches(): Promise<void> {
    for (const c of this.plan.caches) {
      // Shared per toolchain: no repository label (docker/caches.ts).
      const labels = sharedCacheLabels(this.plan.toolchain, c.name);
      // Creating an existing volume returns it unchanged (no 409), so this is idempotent and safe
      // against a concurrent run creating the same cache.
      await call(`create cache volume ${c.volume}`, () => this.docker.createVolume({ Name: c.volume, Labels: labels }));
    }
  }

  /** Create (not start) a container of this run; `part` is "main" or the forked step's name. */
  async create(
    image: string,
    part: string,
    body: Pick<ContainerBody, 'entrypoint' | 'cmd' | 'user' | 'attachOutput'>,
    network: Plan['network'] = this.plan.network,
  ): Promise<Docker.Container> {
    if (this.aborted) throw aborted();
    const plan = this.plan;
    const id = await createContainer(
      this.docker,
      {
        ...body,
        name: `berth-pipeline-${this.runId}-${part}`,
        image,
        workdir: plan.workdir,
        env: plan.env,
        labels: { ...this.labels, [LABEL.pipelinePart]: part },
      },
      {
        // 'deps' is the container a missed install runs in before its snapshot (pipelines/local/deps.ts).
        caps: pipelineCaps(plan, part === 'main' || part === 'deps' ? 'main' : 'fork'),
        resources: plan.resources,
        network,
        mounts: plan.caches.map((c) => ({ type: 'volume' as const, source: c.volume, target: c.path })),
      },
    );
    this.#containers.add(id);
    // An abort that arrived while create was in flight found nothing to remove yet.
    if (this.aborted) throw aborted();
    return this.docker.getContainer(id);
  }

  /** Create and start a keep-alive container for execs. */
  async start(image: string, part: string, network?: Plan['network']): Promise<Docker.Container> {
    const container = await this.create(image, part, { entrypoint: [KEEPALIVE[0] as string], cmd: KEEPALIVE.slice(1) }, network);
    await this.guard(`start pipeline container ${container.id.slice(0, 12)}`, () => container.start());
    this.log.debug('pipeline container started', { container: container.id.slice(0, 12), role: part });
    return container;
  }

  /** A Docker call; once the run is aborted its failure (container gone) means Aborted. */
  async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.aborted) throw aborted();
    try {
      return await fn();
    } catch (err) {
      if (this.aborted) throw aborted();
      const t = translateDockerError(err, what);
      if (t.code === 'CONTAINER_GONE') {
        throw new BerthError('CONTAINER_DIED', `the pipeline container disappeared during "${what}" (removed from outside berth?).`, { cause: err });
      }
      throw t;
    }
  }

  /**
   * Force-remove a container; one removal per id, shared by every caller (timeout timer, abort,
   * teardown), so teardown can wait for a removal another path started instead of racing it
   * (a second DELETE answers 409 "removal already in progress" while the first is still working).
   */
  remove(id: string): Promise<void> {
    let p = this.#removals.get(id);
    if (!p) {
      p = (async () => {
        try {
          await this.docker.getContainer(id).remove({ force: true, v: true });
        } catch (err) {
          const t = translateDockerError(err, `remove pipeline container ${id.slice(0, 12)}`);
          if (t.code !== 'CONTAINER_GONE') this.log.warn(t.message);
        }
        this.#containers.delete(id);
      })();
      this.#removals.set(id, p);
    }
    return p;
  }

  async removeAll(): Promise<void> {
    await Promise.all([...this.#containers].map((id) => this.remove(id)));
  }

  async teardown(): Promise<void> {
    await this.removeAll();
    await Promise.all(this.#removals.values());
    // Labels are the source of truth: also sweep anything of this run a lost reference missed.
    try {
      const left = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL.pipelineRun}=${this.runId}`] } });
      for (const c of left) this.#removals.delete(c.Id);
      await Promise.all(left.map((c) => this.remove(c.Id)));
    } catch (err) {
      this.log.warn(translateDockerError(err, 'list pipeline containers').message);
    }
    if (this.forkImage) {
      try {
        await this.docker.getImage(this.forkImage).remove({ force: true });
      } catch (err) {
        const t = translateDockerError(err, `remove image ${this.forkImage}`);
        if (t.code !== 'IMAGE_MISSING' && t.code !== 'CONTAINER_GONE') this.log.warn(t.message);
      }
    }
  }
}

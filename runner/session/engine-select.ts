/**
 * The runner's engine selection: which engine a workspace's container lives on, and the
 * per-engine parts (a Containers, a ContainerFactory, a pool) the open/delete/gc steps run with.
 *
 * - A workspace's engine is recorded in its state (`extra.engine`) when it is created on a
 *   configured engine set, and never changes: its container, volumes and snapshots are there.
 *   A workspace without the field (made before engines were configured) lives on the primary
 *   (first) engine.
 * - A new workspace is placed by EngineSet.place (most free capacity among the healthy engines);
 *   `pending` counts this process's placements whose containers don't exist yet, so 20 concurrent
 *   opens spread instead of all seeing the same counts.
 * - The warm pool runs on the primary engine only (its slots are host directories).
 */
import type { WorkspaceInfo, Workspaces } from '../../src/workspace/index.js';
import { Containers, type Engine, type EngineSet } from '../../docker/index.js';
import type { Resolved } from '../../src/project/index.js';
import type { ContainerFactory } from './container-factory.js';
import type { GcReport } from './gc.js';
import type { Claimed } from './pool.js';

/** The workspace-state field naming the engine (WorkspaceState.extra). */
export const EXTRA_ENGINE = 'engine';

export interface PoolPart {
  claim(name: string, resolved: Resolved): Promise<Claimed | undefined>;
  discard(claimed: Claimed): Promise<void>;
  refillSoon(resolved: Resolved): void;
  gc(resolved: Resolved | undefined): Promise<string[]>;
}

/** No warm pool (engines other than the primary). */
const NO_POOL: PoolPart = {
  claim: () => Promise.resolve(undefined),
  discard: () => Promise.resolve(),
  refillSoon: () => undefined,
  gc: () => Promise.resolve([]),
};

export interface EnginePart {
  readonly engine: Engine;
  readonly containers: Containers;
  readonly factory: ContainerFactory;
  readonly pool: PoolPart;
  readonly primary: boolean;
}

export interface Placement {
  readonly part: EnginePart;
  /** True when this open placed a new workspace (the engine must be recorded in its state). */
  readonly placed: boolean;
  /** Ends the pending count of a placement (call once the open has finished, either way). */
  release(): void;
}

export class EngineParts {
  readonly engines: EngineSet;
  readonly #parts = new Map<string, EnginePart>();
  readonly #pending = new Map<string, number>();
  readonly #makeFactory: (containers: Containers) => ContainerFactory;

  constructor(
    engines: EngineSet,
    primary: { containers: Containers; factory: ContainerFactory; pool: PoolPart },
    makeFactory: (c: Containers) => ContainerFactory,
  ) {
    this.engines = engines;
    this.#makeFactory = makeFactory;
    this.#parts.set(engines.primary.id, { engine: engines.primary, ...primary, primary: true });
  }

  part(id: string): EnginePart {
    let p = this.#parts.get(id);
    if (!p) {
      const engine = this.engines.get(id);
      const containers = new Containers(engine.docker);
      p = { engine, containers, factory: this.#makeFactory(containers), pool: NO_POOL, primary: false };
      this.#parts.set(id, p);
    }
    return p;
  }

  all(): EnginePart[] {
    return this.engines.engines.map((e) => this.part(e.id));
  }

  /** The engine id a workspace records, or the primary's. */
  engineIdOf(ws: WorkspaceInfo | undefined): string {
    const id = ws?.extra[EXTRA_ENGINE];
    return typeof id === 'string' && id !== '' ? id : this.engines.primary.id;
  }

  /** The part of an existing workspace (the primary when it does not exist). */
  async of(workspaces: Workspaces, name: string): Promise<EnginePart> {
    if (this.engines.engines.length === 1) return this.part(this.engines.primary.id);
    return this.part(this.engineIdOf(await workspaces.find(name)));
  }

  /** The part an open of `name` runs on: its recorded engine, or a placement for a new workspace. */
  async forOpen(workspaces: Workspaces, name: string): Promise<Placement> {
    const noop = { placed: false, release: () => undefined };
    if (this.engines.engines.length === 1) return { part: this.part(this.engines.primary.id), ...noop };
    const ws = await workspaces.find(name);
    if (ws) return { part: this.part(this.engineIdOf(ws)), ...noop };
    const engine = await this.engines.place(this.#pending);
    this.#pending.set(engine.id, (this.#pending.get(engine.id) ?? 0) + 1);
    let released = false;
    return {
      part: this.part(engine.id),
      placed: true,
      release: () => {
        if (released) return;
        released = true;
        this.#pending.set(engine.id, Math.max(0, (this.#pending.get(engine.id) ?? 1) - 1));
      },
    };
  }
}

/** One report of gc runs on several engines. */
export function mergeGcReports(reports: readonly GcReport[]): GcReport {
  const merged = (k: keyof GcReport) => reports.flatMap((r) => r[k]);
  return {
    removedContainers: merged('removedContainers'),
    removedVolumes: merged('removedVolumes'),
    stoppedIdle: merged('stoppedIdle'),
    skipped: merged('skipped'),
    quarantined: merged('quarantined'),
  };
}

/**
 * The container operations of the engine workspace `name` lives on, for callers that hold no
 * Runner (the CLI's checkpoint/fork/restore). The primary engine's when it does not exist.
 */
export async function workspaceContainers(engines: EngineSet, workspaces: Workspaces, name: string): Promise<Containers> {
  if (engines.engines.length === 1) return new Containers(engines.primary.docker);
  const id = (await workspaces.find(name))?.extra[EXTRA_ENGINE];
  return new Containers(engines.get(typeof id === 'string' && id !== '' ? id : engines.primary.id).docker);
}

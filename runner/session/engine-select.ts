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
 * - The warm pool runs on the primary engine only (its slots are host directories), and not at
 *   all when that engine is remote.
 * - Local or remote is per engine (Engine.remote): each part's ContainerFactory carries the
 *   remote settings exactly when its engine is remote, and every step (open, checkpoint, restore,
 *   files, delete, gc, sync) reads it from the workspace's part, never from a runner-wide flag.
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
  /** A factory for one engine: it builds remote (volume) workspaces exactly when `engine.remote`. */
  readonly #makeFactory: (containers: Containers, engine: Engine) => ContainerFactory;

  constructor(
    engines: EngineSet,
    primary: { containers: Containers; factory: ContainerFactory; pool: PoolPart },
    makeFactory: (c: Containers, engine: Engine) => ContainerFactory,
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
      p = { engine, containers, factory: this.#makeFactory(containers, engine), pool: NO_POOL, primary: false };
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
 * The engine workspace `name` lives on, for callers that hold no Runner (the CLI's checkpoint,
 * fork, restore, sync): its `remote` flag says whether the workspace is a volume there. The
 * primary engine when the workspace does not exist or records none.
 */
export async function workspaceEngine(engines: EngineSet, workspaces: Workspaces, name: string): Promise<Engine> {
  if (engines.engines.length === 1) return engines.primary;
  return engineOfInfo(engines, await workspaces.find(name));
}

/** The engine a workspace's state records (the primary when it records none). */
export function engineOfInfo(engines: EngineSet, info: Pick<WorkspaceInfo, 'extra'> | undefined): Engine {
  const id = info?.extra[EXTRA_ENGINE];
  return engines.get(typeof id === 'string' && id !== '' ? id : engines.primary.id);
}

/** The container operations of the engine workspace `name` lives on (workspaceEngine). */
export async function workspaceContainers(engines: EngineSet, workspaces: Workspaces, name: string): Promise<Containers> {
  return new Containers((await workspaceEngine(engines, workspaces, name)).docker);
}

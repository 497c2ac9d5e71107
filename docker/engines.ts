/**
 * Several Docker engines behind one set: which engines exist (engines-config.ts), one guarded
 * client each (engines-client.ts), their health, and placement of new workspaces.
 *
 * - A new workspace goes to the healthy engine with the most free capacity (maxSessions minus the
 *   session containers its labels show, of any repository). An engine at its maxSessions takes no
 *   more. An engine without a limit is never full, and ranks as if it had DEFAULT_CAPACITY (so a
 *   limited engine with more room still gets work). Ties go to the engine with fewer sessions,
 *   then to the earlier one in the list.
 * - A workspace stays on its engine: the runner records the engine id in the workspace's state.
 * - A pipeline runs on any engine: the one it names, else placed like a workspace (`forPipeline`);
 *   its image is copied there from the local engine when missing (engines-image.ts).
 * - An engine that is down fails its callers with ENGINE_UNAVAILABLE (naming it and its endpoint)
 *   and is skipped by placement; the others keep working.
 */
import type Dockerode from 'dockerode';
import { BerthError } from '../src/errors.js';
import { docker as sharedDocker, type Docker } from './client.js';
import { Containers } from './containers.js';
import { clientOptions, closeEngineClient, engineClient, engineUnavailable, isTransportError } from './engines-client.js';
import { configuredEngines, type EngineEntry } from './engines-config.js';
import { LABEL } from './labels.js';
import { dockerRuntime, type Runtime, type RuntimeHealth } from './runtime.js';

export { configFilePath, configuredEngines, parseEngineList, parseEnginesEnv, type EngineEntry } from './engines-config.js';
export { knownHostsVerifier } from './engines-client.js';

/** The capacity an engine without maxSessions ranks with in placement (it is never full). */
export const DEFAULT_CAPACITY = 32;

/** A health check that takes longer than this counts as down (an ssh:// handshake included). */
export const HEALTH_TIMEOUT_MS = 10_000;

export interface EngineLimits {
  /** Session containers this engine takes; null = no limit. */
  readonly maxSessions: number | null;
}

/** One Docker-API engine berth may place workspaces on. */
export interface Engine {
  readonly id: string;
  readonly docker: Docker;
  /** The engine cannot see this machine's paths: workspaces there live in volumes (remote workspaces). */
  readonly remote: boolean;
  /** As configured (unix:///..., tcp://..., ssh://...), for messages. */
  readonly endpoint: string;
  readonly limits: EngineLimits;
  /** The session-container operations on this engine. */
  readonly runtime: Runtime;
}

export interface EngineStatus {
  readonly id: string;
  readonly endpoint: string;
  readonly remote: boolean;
  readonly health: RuntimeHealth;
  /** Session containers of any repository on the engine (any state); null when it is down. */
  readonly sessions: number | null;
  readonly maxSessions: number | null;
  /** maxSessions - sessions (null: unlimited, or down). */
  readonly free: number | null;
}

function makeEngine(e: EngineEntry): Engine {
  const client = engineClient(e);
  return {
    id: e.id,
    docker: client,
    remote: e.remote ?? !(e.host.startsWith('/') || e.host.startsWith('unix://')),
    endpoint: e.host,
    limits: { maxSessions: e.maxSessions ?? null },
    runtime: dockerRuntime(new Containers(client)),
  };
}

/** BERTH_REMOTE=1 (or true): the single default engine is declared remote (it can't see host paths). */
export function remoteFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.BERTH_REMOTE === '1' || env.BERTH_REMOTE === 'true';
}

/**
 * The one engine of a berth without `engines:`: DOCKER_HOST (or an injected client), unguarded as
 * before. `remote` declares it remote; default BERTH_REMOTE.
 */
export function defaultEngine(client: Docker = sharedDocker(), remote: boolean = remoteFromEnv()): Engine {
  return {
    id: 'default',
    docker: client,
    remote,
    endpoint: process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock',
    limits: { maxSessions: null },
    runtime: dockerRuntime(new Containers(client)),
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what}: no answer within ${ms} ms`), { code: 'ETIMEDOUT' })), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Version and product of an engine; never throws. */
export async function engineHealth(engine: Engine, timeoutMs = HEALTH_TIMEOUT_MS): Promise<RuntimeHealth> {
  try {
    const v = await withTimeout(engine.docker.version(), timeoutMs, `engine ${engine.id} version`);
    const components = (v as Dockerode.DockerVersion & { Components?: { Name?: string }[] }).Components ?? [];
    const podman = components.some((c) => /podman/i.test(c.Name ?? ''));
    return { ok: true, version: v.Version, apiVersion: v.ApiVersion, product: podman ? 'podman' : 'docker', error: null };
  } catch (err) {
    const e = err instanceof BerthError ? err : engineUnavailable(engine.id, engine.endpoint, err);
    return { ok: false, version: null, apiVersion: null, product: null, error: e.message };
  }
}

/** Session containers (of any repository, any state) on an engine: named berth-ws-* and labelled by berth. */
export async function sessionCount(engine: Pick<Engine, 'runtime'>, labels: readonly string[] = []): Promise<number> {
  const rows = await engine.runtime.list({ label: [`${LABEL.managed}=1`, ...labels] });
  return rows.filter((r) => r.name.startsWith('berth-ws-')).length;
}

export class EngineSet {
  readonly engines: readonly Engine[];
  /** True when the list came from `engines:` / BERTH_ENGINES / the caller (not the DOCKER_HOST default). */
  readonly configured: boolean;
  /**
   * Extra `key=value` labels a session must carry to count against capacity. Empty (default):
   * every berth session on the engine counts. Set it when an engine is shared with other berth
   * installations whose sessions should not use up yours (tests scope it to their own label).
   */
  readonly sessionLabels: readonly string[];
  #placing: Promise<unknown> = Promise.resolve();

  constructor(engines: readonly Engine[], configured: boolean, opts: { sessionLabels?: readonly string[] } = {}) {
    if (engines.length === 0) throw new BerthError('ENGINE_CONFIG', 'an engine set needs at least one engine');
    this.engines = Object.freeze([...engines]);
    this.configured = configured;
    this.sessionLabels = Object.freeze([...(opts.sessionLabels ?? [])]);
  }

  /**
   * The configured engines (env, then config file), else the DOCKER_HOST default, declared remote
   * by `remote` (default BERTH_REMOTE); configured engines carry their own flag. Resolved once per call.
   */
  static resolve(env: NodeJS.ProcessEnv = process.env, remote?: boolean): EngineSet {
    const entries = configuredEngines(env);
    return entries ? EngineSet.of(entries) : EngineSet.single(undefined, remote ?? remoteFromEnv(env));
  }

  /** Engines from explicit entries (validated by the caller: parseEngineList). */
  static of(entries: readonly EngineEntry[], opts: { sessionLabels?: readonly string[] } = {}): EngineSet {
    for (const e of entries) clientOptions(e); // fail on unreadable cert/key files now, with ENGINE_CONFIG
    return new EngineSet(entries.map(makeEngine), true, opts);
  }

  /** One engine: the injected client, or DOCKER_HOST; `remote` as in defaultEngine. */
  static single(client?: Docker, remote?: boolean): EngineSet {
    return new EngineSet([defaultEngine(client, remote)], false);
  }

  /** The first engine: where workspaces without a recorded engine live, and the warm pool. */
  get primary(): Engine {
    return this.engines[0]!;
  }

  /** The engine with this id, or ENGINE_CONFIG naming the ids that exist. */
  get(id: string): Engine {
    const e = this.engines.find((x) => x.id === id);
    if (e) return e;
    throw new BerthError(
      'ENGINE_CONFIG',
      `engine "${id}" is not configured (configured: ${this.engines.map((x) => x.id).join(', ')}): add it back to engines: / BERTH_ENGINES, or delete the workspaces that live on it`,
    );
  }

  /**
   * End the kept ssh connections of ssh:// engines (other transports hold nothing open between
   * requests). Idempotent; a later call on an engine dials afresh.
   */
  close(): void {
    for (const e of this.engines) closeEngineClient(e.docker);
  }

  /** Health, version, sessions and capacity of every engine, checked in parallel. */
  async status(timeoutMs = HEALTH_TIMEOUT_MS): Promise<EngineStatus[]> {
    return Promise.all(
      this.engines.map(async (e) => {
        const health = await engineHealth(e, timeoutMs);
        const sessions = health.ok ? await withTimeout(sessionCount(e, this.sessionLabels), timeoutMs, `engine ${e.id} list`).catch(() => null) : null;
        const max = e.limits.maxSessions;
        return {
          id: e.id,
          endpoint: e.endpoint,
          remote: e.remote,
          health,
          sessions,
          maxSessions: max,
          free: max === null || sessions === null ? null : Math.max(0, max - sessions),
        };
      }),
    );
  }

  /**
   * The engine for a new workspace (see the file comment). `pending` counts placements this
   * process made whose containers may not exist yet; calls are serialised so concurrent opens
   * see each other's choice.
   */
  place(pending: ReadonlyMap<string, number> = new Map()): Promise<Engine> {
    const run = this.#placing.then(() => this.#place(pending));
    this.#placing = run.catch(() => undefined);
    return run;
  }

  async #place(pending: ReadonlyMap<string, number>): Promise<Engine> {
    if (this.engines.length === 1) return this.primary;
    return this.get(chooseEngine(await this.status(), pending));
  }

  /**
   * The engine a pipeline runs on: the one named `id` (ENGINE_CONFIG if it is not configured,
   * ENGINE_UNAVAILABLE if it does not answer), else placed like a workspace (most free capacity
   * among the healthy engines; the only one when there is one).
   */
  async forPipeline(id?: string): Promise<Engine> {
    if (id === undefined) return this.place();
    const engine = this.get(id);
    const health = await engineHealth(engine);
    if (!health.ok) {
      throw new BerthError('ENGINE_UNAVAILABLE', `the pipeline can't run on engine "${id}": ${health.error ?? 'it does not answer'} (or pick another engine)`, {
        details: { engine: id, endpoint: engine.endpoint },
      });
    }
    return engine;
  }
}

/** The placement rule (see the file comment) over engine statuses; returns the chosen id. */
export function chooseEngine(rows: readonly EngineStatus[], pending: ReadonlyMap<string, number> = new Map()): string {
  const up = rows.filter((r) => r.health.ok && r.sessions !== null);
  if (up.length === 0) {
    throw new BerthError(
      'ENGINE_UNAVAILABLE',
      `no Docker engine answers: ${rows.map((r) => `"${r.id}" at ${r.endpoint}: ${r.health.error ?? 'no session count'}`).join('; ')}`,
      {
        details: { engines: rows.map((r) => r.id) },
      },
    );
  }
  const scored = up.map((r, i) => {
    const used = r.sessions! + (pending.get(r.id) ?? 0);
    return { r, i, used, free: (r.maxSessions ?? DEFAULT_CAPACITY) - used, full: r.maxSessions !== null && used >= r.maxSessions };
  });
  const open = scored.filter((s) => !s.full);
  if (open.length === 0) {
    throw new BerthError(
      'ENGINES_FULL',
      `every engine that answers is at its session limit: ${scored.map((s) => `"${s.r.id}" ${s.used}/${s.r.maxSessions}`).join(', ')}`,
    );
  }
  open.sort((a, b) => b.free - a.free || a.used - b.used || a.i - b.i);
  return open[0]!.r.id;
}

/** True when `err` is the transport failure of an engine (tests and callers that degrade). */
export function isEngineDown(err: unknown): boolean {
  return (err instanceof BerthError && (err.code === 'ENGINE_UNAVAILABLE' || err.code === 'DOCKER_UNAVAILABLE')) || isTransportError(err);
}

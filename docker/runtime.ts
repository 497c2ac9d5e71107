/**
 * The Runtime seam: "a place that runs session containers", as the runner (runner/session/) uses
 * it. Exactly the calls the runner makes, no more: create/start/stop/kill/remove/rename/inspect and
 * list-by-labels of containers, labelled volumes, and execs (an attached exec for the persistent
 * shell, a one-shot run, a TTY for `berth shell`). Labels are the truth on every runtime: a new
 * runner process rebuilds its view from `list(labelFilter(...))` alone.
 *
 * Implemented today by `Containers` (docker/containers.ts) over any Docker-API engine: the local
 * engine, a second dockerd over a unix socket, tcp:// with TLS, ssh://, and Podman's Docker API
 * where it works (README, Engines). docs/scale.md maps each method onto Kubernetes
 * (agent-sandbox's Sandbox/SandboxClaim, the pod exec WebSocket, PVCs and VolumeSnapshots).
 *
 * Not in the seam (Docker-only, reached through `Containers.docker` by the code that needs it):
 * container snapshots (`docker commit`, checkpoints --with-container), volume archives (export,
 * import), image build/pull and the reaper of pipeline helpers. A Kubernetes runtime replaces
 * those with VolumeSnapshots and the cluster's image pipeline (docs/scale.md).
 */
import type { Duplex } from 'node:stream';
import type {
  AttachedExec,
  CaptureExecOptions,
  ContainerCreateSpec,
  ContainerState,
  ContainerSummary,
  Containers,
  ExecSpec,
  RunExecOptions,
} from './containers.js';
import type { Labels } from './labels.js';

export type { AttachedExec, ContainerCreateSpec, ContainerState, ContainerSummary, ExecSpec } from './containers.js';

export interface Runtime {
  // ---- session containers (sandboxes) -------------------------------------------------------
  /** Create (not start) a hardened, labelled session or pool container; returns its id. */
  create(spec: ContainerCreateSpec): Promise<string>;
  /** Start; one already running is fine. */
  start(id: string): Promise<void>;
  /** Stop (graceful, then KILL after timeoutS); stopped or missing is fine. */
  stop(id: string, timeoutS?: number): Promise<void>;
  kill(id: string, signal?: string): Promise<void>;
  /** Force-remove; false when it did not exist. */
  remove(id: string): Promise<boolean>;
  /** The warm pool's claim: false when the source is gone or the name is taken. */
  rename(id: string, name: string): Promise<boolean>;
  inspect(idOrName: string): Promise<ContainerState | undefined>;
  /** Containers (any state) whose labels match Docker-style `{ label: ['k=v', ...] }` filters. */
  list(filters: Record<string, string[]>): Promise<ContainerSummary[]>;

  // ---- labelled volumes (caches, per-workspace volumes) -----------------------------------------
  ensureVolume(name: string, labels: Labels): Promise<void>;
  removeVolume(name: string): Promise<boolean>;
  listVolumes(filters: Record<string, string[]>): Promise<{ name: string; labels: Labels }[]>;

  // ---- exec ---------------------------------------------------------------------------------
  /** The persistent shell: one long-lived exec with stdin, demuxed stdout/stderr (protocol.ts). */
  attach(
    containerId: string,
    opts: ExecSpec & { onStdout: (b: Buffer) => void; onStderr: (b: Buffer) => void; onEnd: (err?: Error) => void },
  ): Promise<AttachedExec>;
  /** `berth shell` without a docker CLI: an exec with a TTY. */
  attachTty(
    containerId: string,
    opts: ExecSpec,
  ): Promise<{ stream: Duplex; resize(rows: number, cols: number): Promise<void>; exitCode(): Promise<number | null> }>;
  /** A one-shot exec to completion (fresh execs, setup steps, berth's helper scripts). */
  run(containerId: string, opts: RunExecOptions): Promise<{ exitCode: number | null; detached: boolean }>;
  runCapture(containerId: string, opts: CaptureExecOptions): Promise<{ exitCode: number | null; stdout: string; stderr: string }>;
}

/** What an engine reports about itself (`berth engines`, placement). */
export interface RuntimeHealth {
  readonly ok: boolean;
  /** Server version ("20.10.24", or Podman's), null when down. */
  readonly version: string | null;
  readonly apiVersion: string | null;
  /** "docker" or "podman" (from the version's components), null when down. */
  readonly product: string | null;
  readonly error: string | null;
}

/** Compile-time proof that the Docker implementation provides the whole seam. */
export const dockerRuntime = (c: Containers): Runtime => c;

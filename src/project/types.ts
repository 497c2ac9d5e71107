/**
 * The resolved spec: everything an executor or the runner needs to build a workspace's container
 * and run its steps. Produced by resolveSpec() (call options > berth.yaml > detected > defaults),
 * deeply frozen, and paired with a stable hash.
 */
export type Network = 'none' | 'bridge' | 'host';
export type StepName = 'build' | 'test' | 'lint';
export type Toolchain = 'node' | 'python' | 'go' | 'rust' | 'make' | 'generic';

export interface CacheMount {
  /** Stable name; executors key the volume by (toolchain/name, repo). */
  readonly name: string;
  /** Absolute path inside the container. */
  readonly path: string;
}

export interface ResolvedSpec {
  readonly image: string;
  /** Absolute container path where the source/worktree lives. Default /workspace. */
  readonly workdir: string;
  readonly env: Readonly<Record<string, string>>;
  /** Image-level commands, run once per container before the source matters (pool containers run these). */
  readonly setup: readonly string[];
  /** Commands run once the source is present (e.g. `npm ci`). */
  readonly install: readonly string[];
  /** Step commands; an empty list means the step is not defined. */
  readonly steps: Readonly<Record<StepName, readonly string[]>>;
  /** Toolchain caches (npm, pip, go build cache ...), mounted as shared volumes. */
  readonly caches: readonly CacheMount[];
  /** Named per-workspace volumes that persist with the workspace (issue: persistence). */
  readonly volumes: readonly CacheMount[];
  readonly resources: {
    readonly cpus: number;
    readonly memoryMb: number;
    readonly pids: number;
  };
  /** Network of setup, steps, sessions and agent commands. */
  readonly network: Network;
  /**
   * Network of the pipelines' install phase (dependency installs). resolveSpec always sets it
   * (default bridge); undefined, in a hand-built spec, means "same as network".
   */
  readonly installNetwork?: Network;
  /** Set when the image is built from the repository's Dockerfile (`build:`); `image` is then its tag. */
  readonly build?: {
    readonly dockerfile: string;
    readonly context: string;
    readonly args: Readonly<Record<string, string>>;
    readonly target?: string | undefined;
  };
  /** When to pull `image` from its registry (berth's own images are built, never pulled). Default missing. */
  readonly pull?: 'missing' | 'always' | 'never';
  /** "uid:gid" or a user name; undefined means "the host user's uid:gid". */
  readonly user: string | undefined;
  readonly idleTimeoutMs: number;
  /** Per-step timeout for pipelines. */
  readonly stepTimeoutMs: number;
  readonly pool: { readonly size: number };
  /** What detection found (informational; not part of the hash). */
  readonly toolchain: Toolchain;
  readonly packageManager: 'npm' | 'pnpm' | 'yarn' | undefined;
}

export interface Resolved {
  readonly spec: ResolvedSpec;
  /** sha256 (hex, 16 chars) over the container-shaping fields; the warm pool's key. */
  readonly hash: string;
  /** Path of the berth.yaml that was read, if any. */
  readonly configFile: string | undefined;
  /** Field -> which layer supplied it: 'call' | 'file' | 'detected' | 'default'. */
  readonly origins: Readonly<Record<string, 'call' | 'file' | 'detected' | 'default'>>;
}

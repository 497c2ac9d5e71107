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
  /**
   * Binds from devcontainer.json `mounts`, each a path inside the repository, bound from the same
   * path inside the workspace's worktree. Absent when there are none.
   */
  readonly binds?: readonly { readonly source: string; readonly target: string; readonly readOnly: boolean }[];
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
  /** Field -> which layer supplied it: 'call' | 'file' | 'devcontainer' | 'detected' | 'default'. */
  readonly origins: Readonly<Record<string, 'call' | 'file' | 'devcontainer' | 'detected' | 'default'>>;
  /** Each origin in words, for `berth spec --explain`: the berth.yaml path, the devcontainer.json path, the detection evidence. */
  readonly sources: Readonly<Record<string, string>>;
  /** What devcontainer.json contributes beyond the spec, when the tree has one. */
  readonly devcontainer?: ResolvedDevcontainer;
}

export interface ResolvedDevcontainer {
  /** Relative to the repository root. */
  readonly file: string;
  /** onCreate, updateContent, postCreate, postStart, in that order (only those present). */
  readonly lifecycle: readonly LifecycleStage[];
  /** Runs on the host, only with --allow-host-commands. */
  readonly initialize: LifecycleStage | undefined;
  readonly features: readonly string[];
  /** What devcontainer.json asked for that berth does not apply, and why. */
  readonly warnings: readonly string[];
  /**
   * Set when the image comes from devcontainer.json: the same spec with the detected toolchain
   * image instead, used when the devcontainer's image can't be pulled or built (unless --strict-image).
   */
  readonly fallback?: Resolved;
}

export interface LifecycleStage {
  readonly hook: 'initializeCommand' | 'onCreateCommand' | 'updateContentCommand' | 'postCreateCommand' | 'postStartCommand';
  /** `name` is the key in the object form (whose commands run in parallel). */
  readonly commands: readonly { readonly name: string | undefined; readonly command: string }[];
  readonly parallel: boolean;
}

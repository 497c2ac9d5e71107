/** What a Runner is created with (runner.ts). */
import type { SpecInput } from '../../src/project/index.js';
import type { Docker, EngineSet, Labels } from '../../docker/index.js';
import type { Logger } from '../../src/log.js';
import type { PoolOptions } from './pool.js';
import type { RemoteOptions } from './remote.js';

export const DEFAULT_EXEC_TIMEOUT_MS = 10 * 60_000;

export interface RunnerOptions {
  /** Path inside the user's repository (its checkout is found from here). */
  readonly repo: string;
  /** berth's data dir (default: BERTH_DATA_DIR, then the XDG data dir). Created/tightened to 0700. */
  readonly dataDir?: string;
  readonly logger?: Logger;
  /** One engine by its client (tests); ignored when `engines` is given. */
  readonly docker?: Docker;
  /**
   * The engines workspaces are placed on (docker/engines.ts). Default: `engines:` in berth's
   * config or BERTH_ENGINES, else DOCKER_HOST as the one engine.
   */
  readonly engines?: EngineSet;
  /** Call-level spec overrides (highest precedence, same shape as berth.yaml). */
  readonly spec?: SpecInput;
  /** Extra labels put on every container and volume this runner creates (tests tag theirs). */
  readonly labels?: Labels;
  /** Default timeout of one command (ExecOptions.timeoutMs), default 10 min. */
  readonly execTimeoutMs?: number;
  /** Reap containers of deleted workspaces at start (default true). */
  readonly reconcile?: boolean;
  /**
   * The repository's git directory inside session containers, at the same absolute path, so the
   * worktree's `.git` file resolves and `git status/diff/log` work there. 'readonly' (default):
   * writes (commit, branch) fail with "Read-only file system" — agents checkpoint through berth,
   * and can't rewrite your refs. 'none': no git in the container.
   */
  readonly gitInContainer?: 'readonly' | 'none';
  /** Warm pool settings; the target size defaults to the spec's pool.size. */
  readonly pool?: PoolOptions;
  /**
   * Declares the single default engine remote (runner/session/remote.ts): it cannot see host
   * paths, so its workspaces live in volumes, seeded and checkpointed through git bundles. Default:
   * env BERTH_REMOTE=1, else local. Configured engines (`engines`, BERTH_ENGINES) carry their own
   * `remote` flag and ignore this switch; its maxBundleBytes applies to every remote engine.
   */
  readonly remote?: boolean | RemoteOptions;
}

/**
 * berth's one error class and its one code table. Every layer (git, Docker, the library, the
 * runner, pipelines) throws `BerthError`; callers branch on `code`, never on message text. The
 * message diagnoses and quotes the bad value; the table adds, per code, how the CLI exits, a remedy
 * for a person and the next step for an agent. `errorJson()` is the one JSON shape, used by the CLI's
 * `--json`, MCP results and the library alike.
 */

/** How a failure is classified; the CLI maps it to an exit code (see `exitKind`). */
export type ErrorKind = 'input' | 'not_found' | 'conflict' | 'environment' | 'failed' | 'cancelled' | 'internal';

interface CodeInfo {
  readonly kind: ErrorKind;
  /** What a person can do about it; shown after the message when the message has no remedy. */
  readonly remedy: string;
  /** What an agent should call next (MCP); undefined when the message already says it. */
  readonly agent?: string;
}

const RETRY_REOPEN = 'Retry the call: berth reopens the workspace container on the next call (files in the worktree are intact).';

/** The code table. Add a code here, and only here. */
export const ERROR_CODES = {
  // input
  BAD_INPUT: { kind: 'input', remedy: 'fix the value named in the message and retry', agent: 'Fix the argument named above and retry.' },
  INVALID_NAME: {
    kind: 'input',
    remedy: "use a-z, 0-9, '.', '_' or '-' (max 63)",
    agent: 'Pick a name of lowercase letters, digits, ".", "_" or "-", or omit it to get a generated one.',
  },
  SPEC_YAML: {
    kind: 'input',
    remedy: 'fix berth.yaml at the line and column shown',
    agent: "The berth.yaml in the user's checkout is invalid: tell the user; you cannot fix it from the workspace.",
  },
  DEVCONTAINER_INVALID: {
    kind: 'input',
    remedy: 'fix devcontainer.json at the line and column shown, or override the field in berth.yaml',
    agent: "The devcontainer.json in the user's checkout is invalid or unsafe: tell the user; you cannot fix it from the workspace.",
  },
  SPEC_INVALID: {
    kind: 'input',
    remedy: 'fix the berth.yaml field named in the message',
    agent: "The berth.yaml in the user's checkout is invalid: tell the user; you cannot fix it from the workspace.",
  },
  STEP_UNDEFINED: {
    kind: 'input',
    remedy: 'define the step in berth.yaml (steps:) or run the command with `berth exec`',
    agent: "The step is not defined in the berth.yaml of the user's checkout: run the command with exec instead, or ask the user to define the step.",
  },
  PATH_OUTSIDE: { kind: 'input', remedy: 'use a path inside the workspace', agent: 'Use a path inside the workspace, relative to its root.' },
  PATH_INVALID: {
    kind: 'input',
    remedy: 'use a relative path without NUL bytes or control characters',
    agent: 'Use a path inside the workspace, relative to its root.',
  },
  PATH_PROTECTED: {
    kind: 'input',
    remedy: "leave the worktree's .git to berth",
    agent: "That path is managed by berth (the worktree's .git); leave it alone and use checkpoint to commit.",
  },
  FILE_TOO_LARGE: {
    kind: 'input',
    remedy: 'read the file in parts',
    agent: 'Read it in parts with startLine/endLine, or inspect it with exec (e.g. head, grep).',
  },
  EDIT_NO_MATCH: {
    kind: 'input',
    remedy: 'copy the search text exactly from the file',
    agent: 'Call file_read to see the current text, then retry file_edit with search copied exactly (whitespace and line breaks included).',
  },
  EDIT_AMBIGUOUS: { kind: 'input', remedy: 'pick one match by its ID, or make the search text longer' },
  UNSAFE_CONTENT: {
    kind: 'input',
    remedy: 'remove the unsafe entry named in the message (berth refuses it to protect the host)',
    agent: 'berth refused content that could reach the host (a nested repository, a special file, or a hostile archive entry): remove it and retry.',
  },
  CHECKPOINT_TOO_LARGE: {
    kind: 'input',
    remedy: 'remove the large files from the remote workspace (or raise remote.maxBundleBytes / BERTH_REMOTE_MAX_BUNDLE_BYTES), then checkpoint again',
    agent: 'The checkpoint is too large to bring back to the host: delete or .gitignore the large files (build output, data), then checkpoint again.',
  },
  MOUNT_REFUSED: {
    kind: 'input',
    remedy: "berth binds only the workspace worktree, its data dir and the repository's git dir (read-only), never a socket",
    agent: 'berth refused to mount a host path into the container: tell the user; this is not something you can change from the workspace.',
  },
  // not found
  NOT_A_REPO: { kind: 'not_found', remedy: 'run berth from a git checkout or pass --repo' },
  EMPTY_REPO: { kind: 'not_found', remedy: 'make a first commit, then retry' },
  UNKNOWN_REF: { kind: 'not_found', remedy: 'pass an existing branch, tag or commit' },
  WORKSPACE_NOT_FOUND: {
    kind: 'not_found',
    remedy: 'list workspaces with `berth ws list`',
    agent: 'Call workspace_list to see the workspaces, or workspace_create to make one.',
  },
  NOT_FOUND: {
    kind: 'not_found',
    remedy: 'check the name with the matching list command',
    agent: 'Call workspace_list to see the workspaces, or workspace_create to make one.',
  },
  FILE_NOT_FOUND: {
    kind: 'not_found',
    remedy: 'check the path',
    agent: 'Check the path with file_list; paths are relative to the workspace root (or absolute under the container workdir).',
  },
  PROCESS_NOT_FOUND: {
    kind: 'not_found',
    remedy: 'list processes with `berth ps`',
    agent: 'Call process_list to see the background processes of this workspace.',
  },
  // conflict
  WORKSPACE_EXISTS: {
    kind: 'conflict',
    remedy: 'pick another name, or delete the existing workspace',
    agent: 'Use the existing workspace, or call workspace_create with another name (or no name for a generated one).',
  },
  WORKSPACE_CORRUPT: {
    kind: 'conflict',
    remedy: 'the workspace state note is unreadable (kept under refs/berth/quarantine/): delete the workspace, or restore the note by hand',
    agent: "This workspace's berth state is corrupt: ask the user to repair or delete it (berth ws delete).",
  },
  SUBMODULES_UNSUPPORTED: { kind: 'conflict', remedy: 'berth does not manage submodules: use a repository without them' },
  MERGE_CONFLICT: { kind: 'conflict', remedy: 'resolve the conflict in the checkout, or merge with --squash after rebasing the workspace' },
  DIRTY_CHECKOUT: { kind: 'conflict', remedy: 'commit or stash the changes in the checkout first' },
  LOCK_TIMEOUT: {
    kind: 'conflict',
    remedy: 'another berth process holds the lock: retry when it finishes',
    agent: 'Another berth process is working on this repository: retry in a few seconds.',
  },
  SHELL_BUSY: {
    kind: 'conflict',
    remedy: 'wait for the running command, or use another shell',
    agent: 'Another command is still running in that shell: wait for it, pass another shell name, or use fresh: true.',
  },
  // environment and infrastructure (kind "environment" = something the machine lacks: CLI exit 3)
  DOCKER_UNAVAILABLE: {
    kind: 'environment',
    remedy: 'start Docker (`berth doctor` shows what is wrong)',
    agent: 'Docker is not reachable: ask the user to start it (`berth doctor` shows what is wrong).',
  },
  DOCKER_ERROR: { kind: 'failed', remedy: 'check the Docker engine (`berth doctor`), then retry' },
  ENGINE_UNAVAILABLE: {
    kind: 'environment',
    remedy: 'start that engine (or fix its endpoint in `engines:` / BERTH_ENGINES); `berth engines` shows which engines answer',
    agent:
      'The Docker engine this workspace lives on is down: its other workspaces are unaffected. Tell the user; retry this workspace once they have restarted that engine (its files are kept there), or work in another workspace.',
  },
  ENGINE_CONFIG: {
    kind: 'input',
    remedy: 'fix the engine entry named in the message (berth config `engines:` or BERTH_ENGINES; see the README, Engines)',
    agent: "berth's engine configuration is invalid: tell the user; you cannot fix it from the workspace.",
  },
  ENGINES_FULL: {
    kind: 'conflict',
    remedy: 'delete workspaces you no longer need (berth ws delete), raise maxSessions, or add an engine',
    agent: 'Every Docker engine is at its session limit: reuse an existing workspace, or ask the user to delete old ones.',
  },
  IMAGE_MISSING: {
    kind: 'environment',
    remedy: 'build or pull the image (`berth images build`, `berth doctor`)',
    agent: 'The container image is not available: ask the user to run `berth images build` (or `berth doctor`).',
  },
  IMAGE_BUILD_FAILED: {
    kind: 'failed',
    remedy: 'read the build output above, fix the cause, and rebuild',
    agent: 'The container image is not available: ask the user to run `berth images build` (or `berth doctor`).',
  },
  REGISTRY_NOT_FOUND: {
    kind: 'not_found',
    remedy: 'check the image reference (registry, repository, tag) or build the image locally',
    agent: 'The image named in the spec does not exist in its registry: tell the user the reference is wrong.',
  },
  REGISTRY_UNAUTHORIZED: {
    kind: 'environment',
    remedy: 'log in to the registry (`docker login <registry>`) or fix the credentials in the Docker config',
    agent: 'The registry refused the credentials for the image: ask the user to log in (`docker login`).',
  },
  REGISTRY_UNREACHABLE: {
    kind: 'environment',
    remedy: 'check the network to the registry, or use an image that is already local (`pull: never`)',
    agent: 'The image registry cannot be reached from this machine: ask the user, or use a local image.',
  },
  GIT_ERROR: { kind: 'failed', remedy: "read git's message above; `git status` in the checkout shows the repository state" },
  STORAGE_ERROR: { kind: 'failed', remedy: 'check the bucket, endpoint and credentials' },
  FS_ERROR: { kind: 'failed', remedy: 'check the path and its permissions' },
  DAGGER_ERROR: { kind: 'failed', remedy: 'check the Dagger engine (`dagger core version`)' },
  POOL_ERROR: { kind: 'failed', remedy: 'run `berth pool drain`, then retry' },
  // the workspace's container or a command failed
  CONTAINER_GONE: { kind: 'failed', remedy: 'retry: berth recreates the container', agent: RETRY_REOPEN },
  CONTAINER_DIED: { kind: 'failed', remedy: 'retry: berth restarts the container', agent: RETRY_REOPEN },
  SESSION_CLOSED: { kind: 'failed', remedy: 'retry: berth reopens the session', agent: RETRY_REOPEN },
  SETUP_FAILED: {
    kind: 'failed',
    remedy: 'read the setup output above and fix berth.yaml',
    agent: 'The setup/install commands of berth.yaml failed; the output above says why. Tell the user if it is not something you changed.',
  },
  DEVCONTAINER_IMAGE: {
    kind: 'environment',
    remedy:
      "make the devcontainer's image available (pull or build it), drop --strict-image to fall back to the detected toolchain image, or set image: in berth.yaml",
    agent: "The devcontainer's image cannot be pulled or built here and --strict-image forbids the fallback: tell the user.",
  },
  LIFECYCLE_FAILED: {
    kind: 'failed',
    remedy: 'read the command output above; fix the devcontainer.json lifecycle command, or drop --strict-lifecycle to keep the workspace anyway',
    agent: 'A devcontainer.json lifecycle command failed and --strict-lifecycle was set; the output above says why. Tell the user.',
  },
  STEP_FAILED: { kind: 'failed', remedy: 'read the step output above' },
  // cancelled
  TIMEOUT: { kind: 'cancelled', remedy: 'raise the timeout, or make the command faster' },
  ABORTED: { kind: 'cancelled', remedy: 'retry when you want it to finish', agent: 'The call was cancelled before it finished.' },
  INTERNAL: {
    kind: 'internal',
    remedy: 'retry once; if it fails again, report it with the log',
    agent: "Retry once; if it fails again, tell the user (details are in berth's log).",
  },
} as const satisfies Record<string, CodeInfo>;

export type BerthErrorCode = keyof typeof ERROR_CODES;

export interface ErrorJson {
  readonly code: BerthErrorCode;
  readonly message: string;
  readonly remedy: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export class BerthError extends Error {
  override readonly name = 'BerthError';
  readonly code: BerthErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;
  readonly #remedy: string | undefined;

  constructor(code: BerthErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown>; remedy?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options?.details;
    this.#remedy = options?.remedy;
  }

  get kind(): ErrorKind {
    return ERROR_CODES[this.code].kind;
  }

  /** A remedy given at the throw site wins over the table's. */
  get remedy(): string {
    return this.#remedy ?? ERROR_CODES[this.code].remedy;
  }

  toJSON(): ErrorJson {
    return { code: this.code, message: this.message, remedy: this.remedy, ...(this.details ? { details: this.details } : {}) };
  }
}

export function isBerthError(e: unknown, code?: BerthErrorCode): e is BerthError {
  return e instanceof BerthError && (code === undefined || e.code === code);
}

/** Any thrown value as a BerthError: foreign errors become INTERNAL, keeping the original as cause. */
export function asBerthError(err: unknown): BerthError {
  if (err instanceof BerthError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new BerthError('INTERNAL', message, { cause: err });
}

/** The one JSON shape of an error (CLI `--json`, MCP, library callers). */
export function errorJson(err: unknown): ErrorJson {
  return asBerthError(err).toJSON();
}

/** The next step an agent should take, from the table (MCP renders it after the message). */
export function agentNextStep(err: BerthError): string | undefined {
  const info: CodeInfo = ERROR_CODES[err.code];
  return info.agent;
}

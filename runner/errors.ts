/**
 * The runner's one error class. Callers branch on `code`, never on message text. Messages say what
 * went wrong, quote the bad value, and end with the remedy.
 */
export type RunnerErrorCode =
  | 'DOCKER_UNAVAILABLE'
  | 'DOCKER_ERROR'
  | 'IMAGE_MISSING'
  | 'IMAGE_BUILD_FAILED'
  | 'CONTAINER_GONE'
  | 'CONTAINER_DIED'
  | 'SESSION_CLOSED'
  | 'SHELL_BUSY'
  | 'TIMEOUT'
  | 'ABORTED'
  | 'PATH_OUTSIDE'
  | 'PATH_INVALID'
  | 'FILE_NOT_FOUND'
  | 'FILE_TOO_LARGE'
  | 'PATH_PROTECTED'
  | 'FS_ERROR'
  | 'EDIT_NO_MATCH'
  | 'EDIT_AMBIGUOUS'
  | 'PROCESS_NOT_FOUND'
  | 'POOL_ERROR'
  | 'SETUP_FAILED'
  | 'LOCK_TIMEOUT'
  | 'BAD_INPUT'
  | 'STORAGE_ERROR'
  | 'NOT_FOUND'
  | 'STEP_UNDEFINED'
  | 'STEP_FAILED'
  | 'DAGGER_ERROR';

export class RunnerError extends Error {
  override readonly name = 'RunnerError';
  readonly code: RunnerErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: RunnerErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options?.details;
  }
}

export function isRunnerError(e: unknown, code?: RunnerErrorCode): e is RunnerError {
  return e instanceof RunnerError && (code === undefined || e.code === code);
}

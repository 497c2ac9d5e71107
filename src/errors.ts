/**
 * The workspace library's one error class. Callers branch on `code`; the message diagnoses, quotes
 * the bad value and ends with the remedy.
 */
export type BerthErrorCode =
  | 'INVALID_NAME'
  | 'NOT_A_REPO'
  | 'EMPTY_REPO'
  | 'UNKNOWN_REF'
  | 'WORKSPACE_EXISTS'
  | 'WORKSPACE_NOT_FOUND'
  | 'SUBMODULES_UNSUPPORTED'
  | 'MERGE_CONFLICT'
  | 'DIRTY_CHECKOUT'
  | 'LOCK_TIMEOUT'
  | 'ABORTED'
  | 'TIMEOUT'
  | 'GIT_ERROR'
  | 'SPEC_YAML'
  | 'SPEC_INVALID'
  | 'BAD_INPUT';

export class BerthError extends Error {
  override readonly name = 'BerthError';
  readonly code: BerthErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: BerthErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options?.details;
  }
}

export function isBerthError(e: unknown, code?: BerthErrorCode): e is BerthError {
  return e instanceof BerthError && (code === undefined || e.code === code);
}

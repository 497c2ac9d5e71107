/**
 * The one reader of the engine's JSON progress streams (image build, pull, load, import).
 *
 * The engine answers these calls with HTTP 200 and reports a failure as an `error` / `errorDetail`
 * event inside the stream, and dockerode's `followProgress` calls back with success all the same,
 * so every event is checked here and a stream that carried one fails.
 * https://github.com/apocas/dockerode/issues/639 and https://github.com/apocas/docker-modem/pull/146
 */
import type { Docker } from './client.js';

/** One event of a progress stream, as the engine sends it (every field optional). */
export interface ProgressEvent {
  /** Layer id (pull) or image id. */
  id?: string;
  status?: string;
  /** Build output and `docker load` results ("Loaded image ID: …"). */
  stream?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string; code?: number };
}

/**
 * How a caller words a failed stream, in its own error code: `cause` is the stream's own error
 * (the connection broke, the call was aborted); it is absent when the engine reported the
 * failures inside the stream, whose messages `detail` then joins with "; ".
 */
export type ProgressFailure = (detail: string, cause?: Error) => Error;

/** The failure an event reports, if it is an error event. */
function eventFailure(e: ProgressEvent): string | undefined {
  return e.error ?? e.errorDetail?.message;
}

/**
 * Read `stream` to its end. `onEvent` sees every event that is not a failure, in order; the
 * promise rejects with `fail(…)` when the stream broke or any event was a failure.
 */
export function followProgress(client: Docker, stream: NodeJS.ReadableStream, fail: ProgressFailure, onEvent?: (e: ProgressEvent) => void): Promise<void> {
  const failures: string[] = [];
  return new Promise((resolve, reject) => {
    client.modem.followProgress(
      stream,
      (err: Error | null) => {
        if (err) reject(fail(err.message, err));
        else if (failures.length) reject(fail(failures.join('; ')));
        else resolve();
      },
      (e: ProgressEvent) => {
        const failure = eventFailure(e);
        if (failure) failures.push(failure);
        else onEvent?.(e);
      },
    );
  });
}

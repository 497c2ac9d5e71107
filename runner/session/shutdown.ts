/**
 * Graceful shutdown for a process hosting a Runner: on SIGTERM, SIGINT or (optionally) stdin EOF,
 * close the runner (detach shells, stop the session containers, which stay resumable) within a
 * bound, then exit. A second signal exits at once.
 */
import type { Logger } from '../../src/log.js';
import type { Runner } from './runner.js';

export interface ShutdownOptions {
  /** Upper bound for runner.close() before giving up (default 15 s). */
  readonly timeoutMs?: number;
  /** Also shut down when stdin ends (stdio servers: the client went away). */
  readonly stdin?: boolean;
  /** false: leave the containers running for another runner process (default true: stop them). */
  readonly stop?: boolean;
  readonly logger?: Logger;
  /** Called with the exit code (0 closed in time, 1 timed out or failed, 130 second signal); default process.exit. */
  readonly exit?: (code: number) => void;
}

/** Install the handlers; returns a function that removes them. */
export function closeOnShutdown(runner: Runner, opts: ShutdownOptions = {}): () => void {
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const timeoutMs = opts.timeoutMs ?? 15_000;
  let shuttingDown = false;
  const onTrigger = (why: string) => {
    if (shuttingDown) {
      opts.logger?.warn('second shutdown request; exiting now', { why });
      exit(130);
      return;
    }
    shuttingDown = true;
    opts.logger?.info('shutting down', { why });
    let timer: NodeJS.Timeout | undefined;
    const bounded = new Promise<number>((resolve) => {
      timer = setTimeout(() => resolve(1), timeoutMs);
    });
    const closing = runner.close({ stop: opts.stop ?? true }).then(
      () => 0,
      (err: unknown) => {
        opts.logger?.error('closing the runner failed', { error: String(err) });
        return 1;
      },
    );
    void Promise.race([closing, bounded]).then((code) => {
      clearTimeout(timer);
      if (code !== 0) opts.logger?.warn('shutdown did not finish cleanly', { timeoutMs });
      exit(code);
    });
  };
  const onTerm = () => onTrigger('SIGTERM');
  const onInt = () => onTrigger('SIGINT');
  const onEnd = () => onTrigger('stdin closed');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  if (opts.stdin) {
    process.stdin.on('end', onEnd);
    process.stdin.resume();
  }
  return () => {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    if (opts.stdin) {
      process.stdin.off('end', onEnd);
      process.stdin.pause();
    }
  };
}

/**
 * Per-(repo, workspace) cross-process lock for the runner's find-or-create of containers, setup,
 * close and removal. The repository lock of the workspace library serialises git mutations of the
 * whole repo; this one only serialises work on one workspace's container, so slow setup commands
 * in one workspace never block another. proper-lockfile: atomic mkdir + mtime refresh, so a holder
 * killed with SIGKILL is taken over after `staleMs`.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { BerthError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';

export interface LockOptions {
  readonly timeoutMs?: number;
  readonly staleMs?: number;
  readonly signal?: AbortSignal | undefined;
  readonly logger?: Logger;
}

export function lockDir(dataDir: string): string {
  return join(dataDir, 'locks');
}

export async function withLock<T>(dataDir: string, key: string, opts: LockOptions, fn: () => Promise<T>): Promise<T> {
  const release = await acquire(dataDir, key, opts);
  try {
    return await fn();
  } finally {
    await release().catch((err: unknown) => opts.logger?.warn('releasing a workspace lock failed', { key, error: String(err) }));
  }
}

/** Try once: the release function, or undefined when someone else holds the lock. */
export async function tryLock(dataDir: string, key: string, opts: LockOptions = {}): Promise<(() => Promise<void>) | undefined> {
  try {
    return await acquire(dataDir, key, { ...opts, timeoutMs: 0 });
  } catch (err) {
    if (err instanceof BerthError && err.code === 'LOCK_TIMEOUT') return undefined;
    throw err;
  }
}

async function acquire(dataDir: string, key: string, opts: LockOptions): Promise<() => Promise<void>> {
  const dir = lockDir(dataDir);
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${key}.lock`);
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  let delay = 25;
  for (;;) {
    if (opts.signal?.aborted) {
      throw new BerthError('ABORTED', `waiting for the lock of ${key} was cancelled`, { cause: opts.signal.reason });
    }
    try {
      return await lockfile.lock(path, {
        realpath: false,
        lockfilePath: path,
        stale: Math.max(2000, opts.staleMs ?? 10_000),
        retries: 0,
        // The default rethrows from a timer and would crash the process.
        onCompromised: (err) => opts.logger?.warn('a workspace lock was compromised (refresh stalled)', { key, error: err.message }),
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') {
        throw new BerthError('STORAGE_ERROR', `cannot take the lock ${path}: ${(err as Error).message}. Check that the data dir is writable.`, { cause: err });
      }
      if (Date.now() >= deadline) {
        throw new BerthError(
          'LOCK_TIMEOUT',
          `another berth process has held the lock of ${key} for over ${timeoutMs} ms (${path}); retry when it finishes, or remove the lock directory if no berth process is running`,
        );
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 500);
    }
  }
}

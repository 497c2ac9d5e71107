/**
 * The cross-process lock that serialises every mutation of a repository's workspaces (branches,
 * worktrees and the refs/notes/berth ref, which `git notes` rewrites without a compare-and-swap).
 *
 * proper-lockfile takes the lock with an atomic mkdir and keeps refreshing its mtime while held;
 * a holder that died without releasing (SIGKILL, power loss) stops refreshing, so after `staleMs`
 * the next process treats the lock as stale and takes it over. Waiting is bounded by `timeoutMs`.
 *
 * Re-entrancy: code running inside the locked function (in the same async call chain) may call
 * other locking operations on the same repository without deadlocking — e.g. a delete hook that
 * records something with updateExtra(). The marker is an AsyncLocalStorage token that is switched
 * off on release, so stray callbacks scheduled from inside cannot outlive the lock.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { BerthError } from '../errors.js';
import type { WorkspaceLogger } from './types.js';

export const LOCK_DIR_NAME = 'berth.lock';

export interface RepoLockOptions {
  /** Give up waiting after this long (LOCK_TIMEOUT). */
  readonly timeoutMs: number;
  /** A lock not refreshed for this long belongs to a dead process (min 2000). */
  readonly staleMs: number;
  readonly signal?: AbortSignal | undefined;
  readonly logger?: WorkspaceLogger | undefined;
}

interface HeldToken {
  readonly key: string;
  active: boolean;
}

const held = new AsyncLocalStorage<readonly HeldToken[]>();
/**
 * Locked sections running now. Once the last one ends the store is disabled again: on Node 20 an
 * enabled AsyncLocalStorage keeps a hook on every promise of the process for good, which cost the
 * MCP exec hot path (no lock in it) about a tenth of its CPU. The next run() re-enables it.
 */
let sections = 0;

/** Path of the lock directory for a repository whose git common dir is `commonDir`. */
export function lockPath(commonDir: string): string {
  return join(commonDir, LOCK_DIR_NAME);
}

export async function withRepoLock<T>(commonDir: string, opts: RepoLockOptions, fn: () => Promise<T>): Promise<T> {
  const key = lockPath(commonDir);
  const tokens = held.getStore() ?? [];
  if (tokens.some((t) => t.key === key && t.active)) return fn();

  const release = await acquire(key, opts);
  const token: HeldToken = { key, active: true };
  sections++;
  try {
    return await held.run([...tokens, token], fn);
  } finally {
    token.active = false;
    if (--sections === 0) held.disable();
    try {
      await release();
    } catch (err) {
      // Already compromised (reported via onCompromised) or removed by hand: nothing left to free.
      opts.logger?.warn('releasing the repository lock failed', { lock: key, error: (err as Error).message });
    }
  }
}

async function acquire(key: string, opts: RepoLockOptions): Promise<() => Promise<void>> {
  const deadline = Date.now() + opts.timeoutMs;
  let delay = 25;
  for (;;) {
    if (opts.signal?.aborted)
      throw new BerthError('ABORTED', `waiting for the repository lock ${JSON.stringify(key)} was cancelled`, { cause: opts.signal.reason });
    try {
      return await lockfile.lock(key, {
        // The lock is a directory of its own; it does not guard an existing file.
        realpath: false,
        lockfilePath: key,
        stale: opts.staleMs,
        retries: 0,
        onCompromised: (err) => {
          // The default throws from a timer and would crash the process. Being compromised means
          // our refreshes stalled past staleMs and another process may have taken over.
          opts.logger?.warn('the repository lock was compromised (refresh stalled); another berth process may have taken it over', {
            lock: key,
            error: err.message,
          });
        },
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') {
        throw new BerthError(
          'GIT_ERROR',
          `could not create the repository lock ${JSON.stringify(key)}: ${(err as Error).message}; check that the .git directory is writable`,
          {
            cause: err,
          },
        );
      }
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new BerthError(
        'LOCK_TIMEOUT',
        `another berth process has held the repository lock ${JSON.stringify(key)} for more than ${opts.timeoutMs} ms: retry when it finishes; a crashed holder's lock expires by itself after ${opts.staleMs} ms`,
        { details: { lock: key, timeoutMs: opts.timeoutMs } },
      );
    }
    // Jittered backoff so two waiters do not retry in lock step.
    const wait = Math.min(left, delay + Math.floor(Math.random() * delay));
    delay = Math.min(delay * 2, 250);
    try {
      await sleep(wait, undefined, opts.signal ? { signal: opts.signal } : undefined);
    } catch {
      // Aborted: reported at the top of the loop.
    }
  }
}

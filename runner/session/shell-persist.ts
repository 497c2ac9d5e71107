/**
 * When a persistent shell's env goes to its state dir on the writable layer (protocol.ts: the save
 * after each command goes to the container's tmpfs, which a container restart loses).
 */
import { performance } from 'node:perf_hooks';

/**
 * How often a busy shell writes its env to the state dir, and how long an idle one waits to write
 * an unwritten command's. A container killed outright loses the commands since the last write; a
 * shell's own death loses nothing.
 */
export const PERSIST_MS = 250;

export class PersistSchedule {
  /** performance.now() of the last write; -Infinity for a new shell (its first command writes). */
  #at = -Infinity;
  /** A command ended since that write. */
  #unwritten = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #writeIdle: () => boolean;

  /** `writeIdle`: send the write to the shell if it is attached and idle; false when it is not. */
  constructor(writeIdle: () => boolean) {
    this.#writeIdle = writeIdle;
  }

  /** A new shell: its first command writes. */
  reset(): void {
    this.#at = -Infinity;
  }

  /** Whether the command about to be sent also writes (`__b_post ... P`): PERSIST_MS after the last write. */
  due(): boolean {
    const now = performance.now();
    if (now - this.#at < PERSIST_MS) return false;
    this.#at = now;
    return true;
  }

  /** A command ended; `wrote`: it carried the write. Otherwise the write follows once the shell is idle. */
  ended(wrote: boolean): void {
    this.#unwritten = !wrote;
    if (!wrote) this.#arm();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** A shell busy when this fires is written after its command ends (ended() arms this again). */
  #arm(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#unwritten || !this.#writeIdle()) return;
      this.#unwritten = false;
      this.#at = performance.now();
    }, PERSIST_MS);
    this.#timer.unref();
  }
}

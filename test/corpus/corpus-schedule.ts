/**
 * Runs corpus cases a few at a time, and some alone.
 *
 * Why http-server runs alone: its own code sets a 120 *millisecond* idle timeout on every server
 * socket (lib/http-server.js: `this.server.setTimeout(120)`, meant as the 120 seconds its `-t`
 * option documents; Node's unit is ms). A test process whose event loop stalls longer than that
 * between accepting a connection and reading its request (CPU contention, GC, module loading) has
 * the socket destroyed by Node's socketOnTimeout before the request is read, and the client sees
 * "socket hang up" / ECONNRESET. Measured on the host with no container at all: `node
 * test/main.test.js` fails 9 of 20 runs at load 12 on 2 cores; a traced failure shows the server
 * destroying the unanswered socket from socketOnTimeout. Neither berth's hardening nor the network
 * mode is involved (the same failures occur with `docker run --network none` and `host`). Running
 * the case with no other corpus case in flight keeps the suite's own load off it.
 *
 * commander runs alone for the same kind of reason: its jest suite spawns node subprocesses under
 * jest's 5 s per-test timeout (tests/command.executableSubcommand.inspect.test.js), which a
 * contended CPU exceeds ("Exceeded timeout of 5000 ms"; measured at load 22 on 2 cores while its
 * two paths ran side by side).
 */
export const RUNS_ALONE: ReadonlySet<string> = new Set(['http-server', 'commander']);

export const runsAlone = (name: string): boolean => RUNS_ALONE.has(name);

/** A counting semaphore whose exclusive tasks take every slot. */
export class CaseScheduler {
  readonly slots: number;
  #busy = 0;
  #exclusive = false;
  readonly #waiting: { alone: boolean; start: () => void }[] = [];

  constructor(slots: number) {
    this.slots = slots;
  }

  async run<T>(alone: boolean, fn: () => Promise<T>): Promise<T> {
    await new Promise<void>((start) => {
      this.#waiting.push({ alone, start });
      this.#pump();
    });
    try {
      return await fn();
    } finally {
      this.#busy--;
      this.#exclusive = false;
      this.#pump();
    }
  }

  /** First come, first served: a waiting exclusive task holds back the shared ones behind it. */
  #pump(): void {
    for (;;) {
      const next = this.#waiting[0];
      if (!next || this.#exclusive) return;
      if (next.alone ? this.#busy > 0 : this.#busy >= this.slots) return;
      this.#waiting.shift();
      this.#busy++;
      this.#exclusive = next.alone;
      next.start();
    }
  }
}

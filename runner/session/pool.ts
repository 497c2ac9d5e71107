/**
 * The warm pool: containers pre-started per (repository, spec hash) with the image-level setup
 * already run, so opening a NEW workspace skips container creation and setup.
 *
 * Each pool container bind-mounts an EMPTY per-slot host directory (<dataDir>/pool/<repoId>/<slot>)
 * at the workdir. Claiming one for workspace W:
 *   1. take the container's claim lock (a lock file in the data dir, without waiting: a busy one
 *      means another claimant, so try the next container), check it still has its pool name, and
 *      rename it to W's session name (sessionContainerName). The lock is needed because a Docker
 *      rename is not a compare-and-swap: the daemon resolves the old name before it locks the
 *      container, so two concurrent renames of one container both succeed, the second stealing it
 *      (moby daemon/rename.go). Under the lock, check-then-rename is atomic across processes;
 *   2. take W's worktree IN the slot directory, which the container already sees at the workdir
 *      (no remount, no restart). Warm-up checked the base (HEAD) out there DETACHED ahead of time
 *      (src/workspace/prepared.ts), so the claim only makes W's root commit, creates berth/W at it
 *      and attaches the worktree's HEAD, without touching a file. If HEAD moved since, the slot's
 *      worktree is discarded and the files are checked out afresh (the cold path, in the slot).
 *      open.ts runs step 1 side by side with the git reads and W's root commit, which do not
 *      depend on the slot; the branch and the note are written once the claim has succeeded;
 *   3. run the spec's install commands, if any (state dirs and setup were done at warm-up; with no
 *      install commands the claim runs no docker exec at all).
 *
 * Labels can't change after create, so a claimed container keeps role=pool and no workspace
 * label. Its identity is its NAME: every lookup (open, list, gc, delete) goes by
 * sessionContainerName(), and `dev.berth.mount-source` (the slot directory, now the worktree) is
 * checked against the workspace's worktree on open. Unclaimed pool containers are the ones whose
 * name is still berth-pool-…; gc removes those built from a stale spec hash, stopped ones, and
 * any beyond the target size.
 *
 * Refill (fill) runs in the background, never on a claim's path: it creates containers up to the
 * target and re-prepares the worktree of any ready slot whose commit is no longer HEAD's; gc does
 * the same for the slots it keeps and removes prepared worktrees that no container mounts (left
 * by a claim that crashed after the rename).
 *
 * A prepared worktree is made by berth on the host and is mounted only in its unclaimed pool
 * container, where nothing but warm-up's setup (before the checkout) has run: no agent can reach
 * it before the claim hands the container over.
 *
 * Limits: specs with per-workspace `volumes` are not pooled (a volume is named after its workspace
 * and must be mounted at create); setup commands must not write into the workdir (the slot must
 * stay empty for the worktree).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, realpath, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Resolved } from '../../src/project/index.js';
import type { Containers, MountSpec } from '../../docker/index.js';
import { LABEL, labelFilter, poolContainerName, sessionContainerName, type Labels, type RepoRef } from '../../docker/index.js';
import { BerthError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { tryLock, withLock } from './lock.js';
import { warmSteps, type WarmSlot } from './pool-warm.js';

export interface PoolOptions {
  /** Target number of warm containers per spec hash; default: the spec's pool.size. */
  readonly size?: number;
  /** Refill in the background after a claim (default true). */
  readonly autoRefill?: boolean;
}

/** What the pool needs to build containers (runner/session/container-factory.ts implements it). */
export interface PoolHost {
  readonly repo: RepoRef;
  readonly dataDir: string;
  readonly containers: Containers;
  readonly logger: Logger;
  readonly labels: Labels;
  userFor(spec: Resolved['spec']): string;
  containerEnv(name: string | undefined, spec: Resolved['spec'], user: string): Record<string, string>;
  mountsFor(name: string | undefined, spec: Resolved['spec'], source: string): Promise<MountSpec[]>;
  chownPaths(spec: Resolved['spec']): string[];
  gitDir(): Promise<string | undefined>;
}

export interface PoolContainer {
  readonly id: string;
  readonly name: string;
  readonly slot: string;
  readonly state: string;
  readonly specHash: string;
}

export interface PoolStatus {
  readonly specHash: string;
  readonly target: number;
  /** Unclaimed, running containers for the current spec hash. */
  readonly ready: number;
  /** Unclaimed containers of this repository (any hash, any state). */
  readonly containers: readonly PoolContainer[];
  /** Why the current spec cannot be pooled, if it can't. */
  readonly unsupported: string | null;
}

export interface Claimed {
  readonly containerId: string;
  readonly slotDir: string;
  /** The slot may hold a prepared worktree: pass `prepared: true` to Workspaces.create. */
  readonly prepared: boolean;
  /** The container's run as inspected under the claim lock (open reports it without asking again). */
  readonly run: { readonly startedAt: string; readonly oomKilled: boolean };
}

/** The git side of a slot (src/workspace's Workspaces implements it). */
export interface PoolWorkspaces {
  prepare(dir: string, opts?: { base?: string; signal?: AbortSignal }): Promise<string>;
  preparedAt(dir: string): Promise<string | undefined>;
  discardPrepared(dir: string, opts?: { signal?: AbortSignal }): Promise<boolean>;
  /** The commit `ref` resolves to (the base a slot is prepared at). */
  resolveBase(ref: string, opts?: { signal?: AbortSignal }): Promise<string>;
}

export class Pool {
  readonly #h: PoolHost;
  readonly #opts: PoolOptions;
  #refill: Promise<void> | undefined;
  #closed = false;

  readonly #ws: PoolWorkspaces | undefined;
  /**
   * Unclaimed containers per spec hash as this process last listed or warmed them: a claim tries
   * these first instead of listing (a Docker list costs a warm open ~20 ms). Only a hint: the claim
   * lock's inspect decides (the name must still be the pool name, the container running), and a
   * claim whose hints all fail lists afresh.
   */
  readonly #known = new Map<string, PoolContainer[]>();

  /** Without `workspaces`, slots stay empty and each claim checks the files out (the cold git path). */
  constructor(host: PoolHost, opts: PoolOptions, workspaces?: PoolWorkspaces) {
    this.#h = host;
    this.#opts = opts;
    this.#ws = workspaces;
  }

  target(resolved: Resolved): number {
    return Math.max(0, Math.floor(this.#opts.size ?? resolved.spec.pool.size));
  }

  /** Why this spec can't use the pool (null when it can). */
  unsupported(resolved: Resolved): string | null {
    if (resolved.spec.volumes.length > 0) return 'the spec has per-workspace volumes, which must be mounted when the container is created';
    return null;
  }

  dir(): string {
    return join(this.#h.dataDir, 'pool', this.#h.repo.id);
  }

  /** Unclaimed pool containers of this repository (optionally of one spec hash). */
  async list(specHash?: string): Promise<PoolContainer[]> {
    const rows = await this.#h.containers.list(labelFilter({ role: 'pool', repo: this.#h.repo, ...(specHash ? { specHash } : {}) }));
    const out = rows
      .filter((r) => r.name.startsWith('berth-pool-'))
      .map((r) => ({ id: r.id, name: r.name, slot: r.labels[LABEL.poolSlot] ?? '', state: r.state, specHash: r.labels[LABEL.specHash] ?? '' }));
    if (specHash !== undefined) this.#known.set(specHash, []);
    else this.#known.clear();
    for (const c of out) if (c.state === 'running') this.#remember(c);
    return out;
  }

  async status(resolved: Resolved): Promise<PoolStatus> {
    const containers = await this.list();
    return {
      specHash: resolved.hash,
      target: this.target(resolved),
      ready: containers.filter((c) => c.specHash === resolved.hash && c.state === 'running').length,
      containers,
      unsupported: this.unsupported(resolved),
    };
  }

  /**
   * Take a warm container for workspace `name` by renaming it (see the header). Returns undefined
   * when none is ready; the caller then creates a container the slow way.
   */
  async claim(name: string, resolved: Resolved): Promise<Claimed | undefined> {
    if (this.unsupported(resolved) || this.target(resolved) === 0) return undefined;
    // The containers known here first (see #known), then, if none of them could be taken, a
    // fresh list without those: another process may have warmed some.
    const hinted = [...(this.#known.get(resolved.hash) ?? [])];
    const got = hinted.length > 0 ? await this.#claimOne(name, resolved, hinted) : undefined;
    if (got) return got;
    const listed = (await this.list(resolved.hash)).filter((c) => c.state === 'running' && !hinted.some((h) => h.id === c.id));
    return this.#claimOne(name, resolved, listed);
  }

  /** Claim the first of `ready` that can be taken (see claim). */
  async #claimOne(name: string, resolved: Resolved, ready: PoolContainer[]): Promise<Claimed | undefined> {
    // Random order: concurrent claimants mostly try different containers first.
    ready.sort(() => Math.random() - 0.5);
    const target = sessionContainerName(this.#h.repo, name);
    for (const c of ready) {
      // Tried once, it is no longer a hint: taken now, or by someone else, or unusable.
      this.#forget(c);
      const got = await this.#claimLocked(c, async (st) => {
        const slotDir = st.labels[LABEL.mountSource];
        // A container warmed for another session user (e.g. root, before sessions ran unprivileged) must not serve.
        if (!st.running || !slotDir || st.labels[LABEL.user] !== this.#h.userFor(resolved.spec)) return undefined;
        if (!(await this.#h.containers.rename(c.id, target))) return undefined;
        return { containerId: c.id, slotDir, prepared: this.#ws !== undefined, run: { startedAt: st.startedAt, oomKilled: st.oomKilled } };
      });
      if (got) {
        this.#h.logger.info('claimed a warm pool container', { workspace: name, container: c.name });
        return got;
      }
    }
    return undefined;
  }

  #remember(c: PoolContainer): void {
    this.#known.set(c.specHash, [...(this.#known.get(c.specHash) ?? []), c]);
  }

  #forget(c: PoolContainer): void {
    const list = this.#known.get(c.specHash);
    if (list)
      this.#known.set(
        c.specHash,
        list.filter((k) => k.id !== c.id),
      );
  }

  /**
   * Run `fn` holding `c`'s claim lock, if the lock is free and `c` still carries its pool name
   * (nobody claimed it before); otherwise undefined without waiting.
   */
  async #claimLocked<T>(c: PoolContainer, fn: (st: NonNullable<Awaited<ReturnType<Containers['inspect']>>>) => Promise<T | undefined>): Promise<T | undefined> {
    const release = await tryLock(this.#h.dataDir, `claim-${c.name}`, { logger: this.#h.logger });
    if (!release) return undefined;
    try {
      const st = await this.#h.containers.inspect(c.id);
      if (!st || st.name !== c.name) return undefined;
      return await fn(st);
    } finally {
      await release();
    }
  }

  /** Remove a claimed container's leftovers after a failed open (container, empty slot dir). */
  async discard(claimed: Claimed): Promise<void> {
    await this.#h.containers.remove(claimed.containerId);
    // A claim that failed before its workspace existed leaves the prepared worktree behind.
    if (claimed.prepared) await this.#ws?.discardPrepared(claimed.slotDir).catch(() => undefined);
    await rmdir(claimed.slotDir).catch(() => undefined);
  }

  /** Start a background refill up to the target (no-op when one is running or the pool is off). */
  refillSoon(resolved: Resolved): void {
    if (this.#closed || this.#opts.autoRefill === false || this.target(resolved) === 0 || this.unsupported(resolved)) return;
    this.#refill ??= this.fill(resolved)
      .then(
        () => undefined,
        (err: unknown) => this.#h.logger.warn('warm pool refill failed', { error: String(err) }),
      )
      .finally(() => (this.#refill = undefined));
  }

  /**
   * Create warm containers until `size` (default: the target) unclaimed running ones exist for the
   * spec's hash. Serialised across processes by a per-(repo, hash) lock, so they never overshoot.
   * Returns the names created.
   */
  async fill(resolved: Resolved, opts: { size?: number; signal?: AbortSignal } = {}): Promise<string[]> {
    const why = this.unsupported(resolved);
    if (why) throw new BerthError('POOL_ERROR', `this repository's spec can't use the warm pool: ${why}. Remove pool.size from berth.yaml.`);
    const want = Math.max(0, Math.floor(opts.size ?? this.target(resolved)));
    const key = `pool-${this.#h.repo.id}-${resolved.hash}`;
    return withLock(this.#h.dataDir, key, { signal: opts.signal, logger: this.#h.logger }, async () => {
      const created: string[] = [];
      const ready = (await this.list(resolved.hash)).filter((c) => c.state === 'running');
      // Slots warmed before HEAD moved get a fresh checkout now, not on a claim's path.
      await this.#refreshSlots(ready.slice(0, want), opts.signal);
      let have = ready.length;
      while (have < want && !this.#closed && !opts.signal?.aborted) {
        created.push(await this.#warmOne(resolved));
        have++;
      }
      return created;
    });
  }

  async #warmOne(resolved: Resolved): Promise<string> {
    const slot = randomBytes(6).toString('hex');
    await mkdir(join(this.dir(), slot), { recursive: true });
    // The worktree is later created in this directory; Workspaces records its realpath.
    const slotDir = await realpath(join(this.dir(), slot));
    const w: WarmSlot = {
      resolved,
      slot,
      slotDir,
      name: poolContainerName(this.#h.repo, resolved.hash, slot),
      user: this.#h.userFor(resolved.spec),
      id: undefined,
    };
    try {
      for (const step of warmSteps(this.#h, this.#ws)) await step.run(w);
      this.#h.logger.info('warm pool container ready', { container: w.name });
      if (w.id) {
        this.#remember({ id: w.id, name: w.name, slot, state: 'running', specHash: resolved.hash });
      }
      return w.name;
    } catch (err) {
      if (w.id) await this.#h.containers.remove(w.id).catch(() => undefined);
      await this.#ws?.discardPrepared(slotDir).catch(() => undefined);
      await rm(slotDir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Re-prepare ready slots whose worktree is not at HEAD's commit (claimed under their claim lock). */
  async #refreshSlots(ready: readonly PoolContainer[], signal?: AbortSignal): Promise<void> {
    const ws = this.#ws;
    if (!ws || ready.length === 0) return;
    const head = await ws.resolveBase('HEAD', { ...(signal ? { signal } : {}) }).catch(() => undefined);
    if (!head) return;
    for (const c of ready) {
      if (this.#closed || signal?.aborted) return;
      if (!c.slot) continue;
      const dir = join(this.dir(), c.slot);
      const at = await ws.preparedAt(dir);
      if (at === head) continue;
      // Under the claim lock, so a claimant never takes the slot mid-refresh.
      await this.#claimLocked(c, async () => {
        if (at !== undefined) await ws.discardPrepared(dir);
        if ((await readdir(dir)).length === 0) await ws.prepare(dir);
        this.#h.logger.debug('re-prepared a warm pool slot at HEAD', { container: c.name, was: at, now: head });
        return true;
      });
    }
  }

  /**
   * Remove unclaimed pool containers that are stale (another spec hash), not running, or beyond
   * the target; then slot directories no container uses and that are empty. Returns names removed.
   */
  async gc(resolved: Resolved | undefined): Promise<string[]> {
    const removed: string[] = [];
    const all = await this.list();
    const target = resolved ? this.target(resolved) : 0;
    const kept: PoolContainer[] = [];
    let keep = 0;
    for (const c of all) {
      const current = resolved && c.specHash === resolved.hash && c.state === 'running' && !this.unsupported(resolved);
      if (current && keep < target) {
        keep++;
        kept.push(c);
        continue;
      }
      // Claimed for removal the way a workspace claims one, so a concurrent claim can't lose it.
      const gone = await this.#claimLocked(c, async () => ((await this.#h.containers.remove(c.id)) ? true : undefined));
      if (!gone) continue;
      removed.push(c.name);
      if (c.slot) await this.#removeSlot(join(this.dir(), c.slot));
    }
    await this.#refreshSlots(kept);
    await this.#sweepSlots();
    return removed;
  }

  /** A slot of a removed pool container: its prepared worktree (git's registration too), then the dir. */
  async #removeSlot(dir: string): Promise<void> {
    await this.#ws?.discardPrepared(dir).catch((err: unknown) => this.#h.logger.warn('could not discard a prepared worktree', { dir, error: String(err) }));
    await rm(dir, { recursive: true, force: true });
  }

  /**
   * Slot dirs no container mounts: empty ones (left by deleted pooled workspaces) are removed, and
   * so is a prepared worktree (a claim crashed between the rename and the branch, and the open
   * that found the orphaned container removed it). A workspace's worktree is never touched:
   * discardPrepared ignores one with a branch, and rmdir only removes an empty directory.
   */
  async #sweepSlots(): Promise<void> {
    const slots = await readdir(this.dir()).catch(() => [] as string[]);
    if (slots.length === 0) return;
    const rows = await this.#h.containers.list(labelFilter({ repo: this.#h.repo }));
    const used = new Set(rows.map((r) => r.labels[LABEL.mountSource]).filter(Boolean));
    for (const s of slots) {
      const p = join(this.dir(), s);
      const real = await realpath(p).catch(() => p);
      if (used.has(real) || used.has(p)) continue;
      await this.#ws?.discardPrepared(p).catch(() => undefined);
      await rmdir(p).catch(() => undefined); // only succeeds when empty: never touches a worktree
    }
  }

  /** Stop background refills (waits for the one in flight). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#refill;
  }
}

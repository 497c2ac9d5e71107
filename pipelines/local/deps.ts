/**
 * Ready dependencies for the local executor. Before anything runs, the run's deps key is computed
 * (docker/deps-key.ts: image id, setup/install commands, env, workdir, user, the source's
 * manifests, scoped to the repository). A hit swaps the plan for one that starts from the snapshot
 * image with no setup and no install: the source is copied over the snapshot's workdir, which
 * holds only what the install produced (node_modules ...). A miss installs in a container of its
 * own (on the install network), deletes the source copy from it, commits it as the snapshot, and
 * then runs the steps exactly as a hit would, so a first and a second run execute the same way.
 */
import { cacheableInstall, depsImageRef, depsKey, findDepsImage, inspectImage, installedIn, manifestDigest, saveDepsImage } from '../../docker/index.js';
import { call, type Docker } from '../../docker/index.js';
import { BerthError, isBerthError } from '../../src/errors.js';
import type { PhaseName, Plan } from '../plan.js';
import type { RunContext } from './context.js';
import { execIn, runPhase } from './exec.js';
import { copySource, type Listing } from './staged.js';
import { formatBytes, formatMs, type PhaseCache, type PhaseResult } from './types.js';

export interface DepsLookup {
  readonly key: string;
  readonly image: string;
  readonly hit: boolean;
  readonly lookupMs: number;
}

/** The run's deps key and whether its snapshot exists; undefined when the install is not cacheable (says why). */
export async function lookupDeps(ctx: RunContext, listing: Listing): Promise<DepsLookup | undefined> {
  const plan = ctx.plan;
  if (ctx.opts.depsCache === false || plan.install.length === 0) return undefined;
  const install = plan.install.map((c) => c.display);
  const ok = cacheableInstall(install);
  const skip = (reason: string) => {
    ctx.emit({ type: 'info', message: `install: not cached (${reason})` });
    return undefined;
  };
  if (!ok.ok) return skip(ok.reason);
  const t0 = Date.now();
  const image = await inspectImage(ctx.docker, plan.image);
  if (!image) return undefined;
  // What is copied counts (.gitignore/.dockerignore honoured): an ignored node_modules stays home.
  const installed = listing.entries.find((e) => listing.kinds.get(e) === 'dir' && (e === 'node_modules' || e.endsWith('/node_modules')));
  if (installed) return skip(installedIn(installed));
  const m = await manifestDigest(ctx.opts.source, ok.ecosystems, { signal: ctx.opts.signal, installedIgnored: true });
  if (m.uncacheable) return skip(m.uncacheable);
  // Go's and Cargo's downloads stay in the package-cache volumes, not in the snapshot: a pruned
  // (re-created) cache must miss.
  const extra = ok.ecosystems.some((e) => e === 'go' || e === 'rust') ? await cacheStamps(ctx.docker, plan) : '';
  const key = depsKey({
    scope: plan.repo,
    imageId: image.id,
    toolchain: plan.toolchain,
    setup: plan.setup.map((c) => c.display),
    install,
    env: plan.env,
    workdir: plan.workdir,
    user: plan.user,
    manifests: m.digest,
    extra,
  });
  const hit = (await findDepsImage(ctx.docker, plan.repo, key)) !== undefined;
  return { key, image: depsImageRef(plan.repo, key), hit, lookupMs: Date.now() - t0 };
}

async function cacheStamps(client: Docker, plan: Plan): Promise<string> {
  const out: string[] = [];
  for (const c of plan.caches) {
    const v = (await call(`inspect volume ${c.volume}`, () => client.getVolume(c.volume).inspect())) as { CreatedAt?: string };
    out.push(`${c.volume}@${v.CreatedAt ?? ''}`);
  }
  return out.join(',');
}

/** Start the rest of the run from the snapshot: the plan loses setup and install (recorded as cached). */
export function useSnapshot(ctx: RunContext, deps: DepsLookup, phases: Map<PhaseName, PhaseResult>): void {
  const { installNetwork: _dropped, ...rest } = ctx.plan;
  ctx.plan = { ...rest, image: deps.image, setup: [], install: [] };
  ctx.installNetwork = undefined;
  if (!deps.hit) return;
  const cache: PhaseCache = { hit: true, key: deps.key, image: deps.image };
  for (const name of ['setup', 'install'] as const) {
    if (ctx.original[name].length === 0) continue;
    const line = `${name}: cached (key ${deps.key})`;
    phases.set(name, { name, outcome: 'passed', exitCode: 0, durationMs: name === 'install' ? deps.lookupMs : 0, commands: [], tail: `${line}\n`, cache });
  }
  ctx.emit({
    type: 'info',
    message: `install: cached (key ${deps.key}, image ${deps.image}); skipped ${ctx.original.install.map((c) => c.display).join(' && ')}`,
  });
}

/**
 * A miss: setup, source copy and install in a container of their own; on success the source copy
 * is deleted from it and the rest committed as the snapshot. Returns false when a phase failed
 * (its result is in `phases`; nothing is saved).
 */
export async function buildSnapshot(ctx: RunContext, deps: DepsLookup, listing: Listing, phases: Map<PhaseName, PhaseResult>): Promise<boolean> {
  const plan = ctx.plan;
  const box = await ctx.start(plan.image, 'deps', ctx.installNetwork);
  if (plan.setup.length > 0) {
    const r = await runPhase(ctx, box, 'setup', plan.setup, undefined, false);
    phases.set('setup', r);
    if (r.outcome !== 'passed') return false;
  }
  await copySource(ctx, box, listing);
  ctx.emit({ type: 'info', message: `copied source: ${listing.files} files, ${formatBytes(listing.bytes)}` });
  const r = await runPhase(ctx, box, 'install', plan.install, plan.user, false);
  if (r.outcome !== 'passed') {
    phases.set('install', r);
    return false;
  }
  const t0 = Date.now();
  await dropSource(ctx, box, listing);
  await ctx.guard('save the ready dependencies', () =>
    saveDepsImage(ctx.docker, box.id, { scope: plan.repo, key: deps.key, toolchain: plan.toolchain, install: plan.install.map((c) => c.display) }),
  );
  await ctx.remove(box.id);
  ctx.emit({ type: 'info', message: `install: saved as ${deps.image} in ${formatMs(Date.now() - t0)}; the next run with key ${deps.key} skips it` });
  const cache: PhaseCache = { hit: false, key: deps.key, image: deps.image, saved: true };
  phases.set('install', { ...r, cache });
  const setup = phases.get('setup');
  if (setup) phases.set('setup', { ...setup, cache });
  return true;
}

/** Longest argv (bytes) handed to one `rm`/`rmdir` exec: well under Linux's ARG_MAX. */
const ARGV_BYTES = 96 * 1024;

/**
 * Delete the copied source from the install container, so the snapshot holds only what the
 * install made: a later run copies its own source over it, and a file deleted from the source
 * must not come back from the snapshot.
 */
async function dropSource(ctx: RunContext, box: Docker.Container, listing: Listing): Promise<void> {
  const files = listing.entries.filter((e) => listing.kinds.get(e) !== 'dir');
  // Deepest first, so a directory is empty (unless the install wrote into it) when its turn comes.
  const dirs = listing.entries.filter((e) => listing.kinds.get(e) === 'dir').sort((a, b) => b.split('/').length - a.split('/').length);
  const opts = { user: ctx.plan.user, phase: 'install' as PhaseName, stream: false, timeoutMs: ctx.plan.timeoutMs };
  for (const [script, list] of [
    ['rm -f -- "$@"', files],
    ['rmdir -- "$@" 2>/dev/null; exit 0', dirs],
  ] as const) {
    for (const batch of batches(list)) {
      const res = await execIn(ctx, box, ['sh', '-c', script, 'berth-drop-source', ...batch], opts);
      if (res.exitCode !== 0) {
        throw new BerthError(
          'DOCKER_ERROR',
          `removing the source copy from the install container failed (exit ${res.exitCode}); rerun it ('berth cache prune --match <repo>' clears broken snapshots)`,
        );
      }
    }
  }
}

function* batches(list: readonly string[]): Generator<string[]> {
  let cur: string[] = [];
  let bytes = 0;
  for (const p of list) {
    if (cur.length > 0 && bytes + p.length + 1 > ARGV_BYTES) {
      yield cur;
      cur = [];
      bytes = 0;
    }
    cur.push(p);
    bytes += p.length + 1;
  }
  if (cur.length > 0) yield cur;
}

/** A failed lookup (an unreadable manifest) only costs the cache: the run installs as before. */
export async function lookupDepsSafely(ctx: RunContext, listing: Listing): Promise<DepsLookup | undefined> {
  try {
    return await lookupDeps(ctx, listing);
  } catch (err) {
    if (isBerthError(err, 'ABORTED')) throw err;
    ctx.emit({ type: 'info', message: `install: not cached (${(err as Error).message})` });
    return undefined;
  }
}

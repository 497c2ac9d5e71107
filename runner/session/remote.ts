/**
 * Remote workspaces: for an engine that cannot see the host's paths (ssh://, tcp://, a local
 * engine declared `remote: true` in engines:, or the single default engine declared remote with
 * `BERTH_REMOTE=1` / `Runner.create({ remote: true })`). Each workspace follows its own engine. The
 * workspace's branch and host worktree exist as for a local workspace, but the session works on
 * a copy of the branch in two volumes on the engine (docker/workspace-volume.ts):
 *
 *   seed        host: `git bundle create` of berth/<name> → archive PUT into a helper container →
 *               helper: init the git volume, fetch the bundle, check the branch out into the tree
 *               volume (as the session user, so the agent owns its files).
 *   checkpoint  helper: `git add -A` + commit with berth's identity → `git bundle create` of the
 *               new commits → archive GET, size-bounded → host: fetch with fsck into a temporary
 *               ref, fast-forward the branch and its worktree (src/workspace/remote-git.ts).
 *   restore     checkpoint the pending work, restore the host branch as for a local workspace, then
 *               reseed the volume at the restored commit (reset --hard + clean).
 *
 * Trust: the tree volume is agent-written. berth's git in the helper never reads anything the
 * agent can write as configuration: GIT_DIR is the git volume (read-only in the session), the
 * tree's `.git` is ignored, and every call carries src/git's SAFE_CONFIG (no hooks, fsmonitor,
 * pager, external diff, protocols) with system/global config off.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FALLBACK_EMAIL, FALLBACK_NAME, SAFE_CONFIG } from '../../src/git/index.js';
import { applyWorkspaceBundle, bundleBranch, type Workspaces, type WorkspaceInfo } from '../../src/workspace/index.js';
import type { Containers, Labels, RepoRef, RemoteVolumes } from '../../docker/index.js';
import { ensureRemoteVolumes, GIT_MOUNT, remoteVolumeNames, remoteVolumesExist, removeRemoteVolumes, TREE_MOUNT, WorkspaceHelper } from '../../docker/index.js';
import { BerthError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { numericOwner, type Owner } from './identity.js';

/** Largest checkpoint bundle brought back to the host by default (BERTH_REMOTE_MAX_BUNDLE_BYTES). */
export const DEFAULT_MAX_BUNDLE_BYTES = 512 * 1024 * 1024;

export interface RemoteOptions {
  /** Largest checkpoint bundle accepted from the volume, in bytes (default 512 MiB). */
  readonly maxBundleBytes?: number;
}

/**
 * Settings of remote workspaces, resolved once per Runner. Whether a workspace IS remote is its
 * engine's `remote` flag (docker/engines.ts), never a runner-wide switch: a runner may hold local
 * (bind-mounted) and remote (volume) workspaces at once, on different engines.
 */
export interface RemoteConfig {
  readonly maxBundleBytes: number;
}

/** The settings: `remote` option's maxBundleBytes > BERTH_REMOTE_MAX_BUNDLE_BYTES > 512 MiB. */
export function remoteSettings(opt: boolean | RemoteOptions | undefined, env: NodeJS.ProcessEnv = process.env): RemoteConfig {
  const fromEnv = env.BERTH_REMOTE_MAX_BUNDLE_BYTES ? Number(env.BERTH_REMOTE_MAX_BUNDLE_BYTES) : undefined;
  const max = (typeof opt === 'object' ? opt.maxBundleBytes : undefined) ?? fromEnv ?? DEFAULT_MAX_BUNDLE_BYTES;
  if (!Number.isSafeInteger(max) || max <= 0) {
    throw new BerthError('BAD_INPUT', `remote maxBundleBytes must be a positive integer, got ${JSON.stringify(max)} (BERTH_REMOTE_MAX_BUNDLE_BYTES)`);
  }
  return Object.freeze({ maxBundleBytes: max });
}

/**
 * The runner's `remote` option as the flag of its single default engine: undefined leaves it to
 * BERTH_REMOTE (docker/engines.ts remoteFromEnv). Configured engines carry their own flag.
 */
export function remoteFlag(opt: boolean | RemoteOptions | undefined): boolean | undefined {
  return opt === undefined ? undefined : opt !== false;
}

/** What the remote operations need from a Runner. */
export interface RemoteHost {
  readonly repo: RepoRef;
  readonly containers: Containers;
  readonly workspaces: Workspaces;
  readonly labels: Labels;
  readonly logger: Logger;
  readonly remote: RemoteConfig | undefined;
}

/** The label value recorded as a remote session container's mount source. */
export function remoteMountSource(repo: RepoRef, name: string): string {
  return `volume:${remoteVolumeNames(repo, name).tree}`;
}

/** The session user as numbers: files in the volumes are created as this user. */
export function remoteOwner(user: string): Owner {
  const o = numericOwner(user);
  if (!o) {
    throw new BerthError(
      'BAD_INPUT',
      `remote workspaces need a numeric session user ("uid:gid"), got spec.user ${JSON.stringify(user)}: set user: "1000:1000" in berth.yaml`,
    );
  }
  return o;
}

/** `sh` function `g`: git with SAFE_CONFIG on the git volume and the tree, nothing else read. */
const GIT_FN = `g() { git ${[
  ...SAFE_CONFIG,
  'protocol.file.allow=always',
  'safe.directory=*',
  'core.bare=false',
  `user.name=${FALLBACK_NAME}`,
  `user.email=${FALLBACK_EMAIL}`,
]
  .map((c) => `-c '${c}'`)
  .join(' ')} "$@"; }`;

const GIT_ENV: Readonly<Record<string, string>> = {
  GIT_DIR: GIT_MOUNT,
  GIT_WORK_TREE: TREE_MOUNT,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_ATTR_NOSYSTEM: '1',
  GIT_TERMINAL_PROMPT: '0',
  HOME: '/nonexistent',
  LC_ALL: 'C',
};

/**
 * The tree's `.git` file: git in the session finds the (read-only) git volume through it. Written
 * to a fresh mktemp file and renamed over `.git` (mv -T), so a `.git` the agent made a symlink is
 * replaced rather than followed, and a `.git` directory it made is left alone.
 */
const DOTGIT = `t=$(mktemp ${TREE_MOUNT}/.git.berth.XXXXXX) && printf 'gitdir: ${GIT_MOUNT}\\n' > "$t" && { mv -T -f "$t" ${TREE_MOUNT}/.git 2>/dev/null || rm -f "$t"; }`;

/** $1 = branch ref, $2 = commit: fetch seed.bundle, check the commit out, drop everything else. */
const SEED_SCRIPT = `set -eu
${GIT_FN}
cd ${TREE_MOUNT}
[ -f ${GIT_MOUNT}/HEAD ] || { g init -q; g config --unset core.worktree || true; }
g fetch -q --update-head-ok --no-tags --no-write-fetch-head ${GIT_MOUNT}/seed.bundle "+$1:$1"
rm -f ${GIT_MOUNT}/seed.bundle ${GIT_MOUNT}/out.bundle
g symbolic-ref HEAD "$1"
g reset -q --hard "$2"
g clean -q -d -f -f
${DOTGIT}`;

/**
 * $1 = branch ref, $2 = commit message, $3 = the host branch head, $4 = the bundle size limit.
 * Prints "<committed 0|1> <files changed> <head> <bundle bytes or ->". A bundle over the limit
 * undoes this call's commit (soft reset): the work stays pending in the tree, so removing the big
 * files and checkpointing again brings the rest back without the big blobs in its history.
 */
const CHECKPOINT_SCRIPT = `set -eu
${GIT_FN}
cd ${TREE_MOUNT}
rm -f ${GIT_MOUNT}/out.bundle
g add -A
files=$(g diff --cached --name-only -z | tr -cd '\\000' | wc -c)
committed=0
if ! g diff --cached --quiet; then g commit -q --no-verify -m "$2"; committed=1; fi
head=$(g rev-parse --verify HEAD)
size=-
if [ "$head" != "$3" ]; then g bundle create -q ${GIT_MOUNT}/out.bundle "$1" --not "$3"; size=$(stat -c %s ${GIT_MOUNT}/out.bundle); fi
if [ "$size" != - ] && [ "$size" -gt "$4" ]; then
  rm -f ${GIT_MOUNT}/out.bundle
  [ "$committed" = 1 ] && { g reset -q --soft HEAD~1; head=$(g rev-parse --verify HEAD); }
fi
echo "$committed $files $head $size"`;

function helperFailed(what: string, name: string, r: { exitCode: number | null; stderr: string }): BerthError {
  return new BerthError(
    'GIT_ERROR',
    `${what} of remote workspace ${JSON.stringify(name)} failed in the helper container (exit ${r.exitCode}): ${r.stderr.trim().slice(-600)}`,
  );
}

/**
 * Make sure the workspace's volumes exist and hold its branch; seeds them from the host branch
 * when they don't. Returns true when this call created (seeded) them.
 */
export async function ensureRemoteTree(h: RemoteHost, ws: WorkspaceInfo, user: string, signal?: AbortSignal): Promise<boolean> {
  const client = h.containers.docker;
  if (await remoteVolumesExist(client, h.repo, ws.name)) return false;
  const volumes = await ensureRemoteVolumes(client, h.repo, ws.name, h.labels);
  try {
    await seedVolumes(h, ws.name, volumes, user, { fresh: true, ...(signal ? { signal } : {}) });
  } catch (err) {
    await removeRemoteVolumes(client, h.repo, ws.name).catch(() => undefined);
    throw err;
  }
  h.logger.info('seeded remote workspace volumes', { workspace: ws.name, volumes: [volumes.tree, volumes.git] });
  return true;
}

/** Put the host branch's bundle into the git volume and check its head out into the tree. */
async function seedVolumes(h: RemoteHost, name: string, volumes: RemoteVolumes, user: string, o: { fresh: boolean; signal?: AbortSignal }): Promise<string> {
  const owner = remoteOwner(user);
  const tmp = await mkdtemp(join(tmpdir(), 'berth-seed-'));
  const helper = await WorkspaceHelper.start(h.containers.docker, h.repo, volumes, h.labels);
  try {
    const file = join(tmp, 'seed.bundle');
    const head = await bundleBranch(h.repo.path, name, file, { signal: o.signal });
    if (o.fresh) {
      // New volumes are root-owned: hand their roots to the session user (nothing is in them yet).
      const r = await helper.run(`chmod 0755 ${TREE_MOUNT} ${GIT_MOUNT} && chown "$1" ${TREE_MOUNT} ${GIT_MOUNT}`, [`${owner.uid}:${owner.gid}`], {
        user: '0:0',
      });
      if (r.exitCode !== 0) throw helperFailed('preparing the volumes', name, r);
    }
    await helper.putFile(GIT_MOUNT, 'seed.bundle', createReadStream(file), (await stat(file)).size, owner);
    const r = await helper.run(SEED_SCRIPT, [`refs/heads/berth/${name}`, head], { user: `${owner.uid}:${owner.gid}`, env: GIT_ENV, ...sig(o.signal) });
    if (r.exitCode !== 0) throw helperFailed('seeding', name, r);
    return head;
  } finally {
    await helper.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

export interface RemoteCheckpoint {
  readonly sha: string;
  readonly committed: boolean;
  readonly filesChanged: number;
}

/**
 * Commit the volume's tree and bring the new commits to the host branch (and its worktree).
 * The caller holds the workspace's container lock.
 */
export async function checkpointRemote(h: RemoteHost, name: string, message: string, user: string, signal?: AbortSignal): Promise<RemoteCheckpoint> {
  const cfg = h.remote;
  if (!cfg) throw new BerthError('INTERNAL', 'checkpointRemote on a local runner');
  const info = await h.workspaces.get(name, sig(signal));
  const client = h.containers.docker;
  if (!(await remoteVolumesExist(client, h.repo, name))) {
    // Never opened on this engine: the host branch is all there is.
    return { sha: info.head, committed: false, filesChanged: 0 };
  }
  const owner = remoteOwner(user);
  const helper = await WorkspaceHelper.start(client, h.repo, remoteVolumeNames(h.repo, name), h.labels);
  const tmp = await mkdtemp(join(tmpdir(), 'berth-ckpt-'));
  try {
    const r = await helper.run(CHECKPOINT_SCRIPT, [`refs/heads/berth/${name}`, message, info.head, String(cfg.maxBundleBytes)], {
      user: `${owner.uid}:${owner.gid}`,
      env: GIT_ENV,
      ...sig(signal),
    });
    const m = /^([01]) (\d+) ([0-9a-f]{40,64}) (\d+|-)$/m.exec(r.stdout);
    if (r.exitCode !== 0 || !m) throw helperFailed('checkpoint', name, r);
    const [, committed, files, head, size] = m as unknown as [string, string, string, string, string];
    if (size === '-') return { sha: head, committed: committed === '1', filesChanged: Number(files) };
    const what = `the checkpoint of remote workspace ${JSON.stringify(name)}`;
    if (Number(size) > cfg.maxBundleBytes) {
      throw new BerthError(
        'CHECKPOINT_TOO_LARGE',
        `${what} is ${size} bytes, over the limit of ${cfg.maxBundleBytes}: remove large files from the workspace, then checkpoint again`,
        {
          details: { size: Number(size), max: cfg.maxBundleBytes },
        },
      );
    }
    const file = join(tmp, 'out.bundle');
    await helper.getFile(`${GIT_MOUNT}/out.bundle`, cfg.maxBundleBytes, createWriteStream(file, { mode: 0o600 }), what);
    const applied = await applyWorkspaceBundle(h.workspaces, name, file, sig(signal));
    if (applied.sha !== head)
      throw new BerthError('UNSAFE_CONTENT', `${what}: the bundle holds ${applied.sha.slice(0, 12)}, the volume reported ${head.slice(0, 12)}`);
    return { sha: head, committed: committed === '1', filesChanged: Number(files) };
  } finally {
    await helper.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Reset the volume to the host branch's head (after a restore moved it). */
export async function reseedRemote(h: RemoteHost, name: string, user: string, signal?: AbortSignal): Promise<void> {
  const client = h.containers.docker;
  if (!(await remoteVolumesExist(client, h.repo, name))) return; // seeded from the branch at the next open
  await seedVolumes(h, name, remoteVolumeNames(h.repo, name), user, { fresh: false, ...(signal ? { signal } : {}) });
}

function sig(signal?: AbortSignal): { signal?: AbortSignal } {
  return signal ? { signal } : {};
}

/**
 * The install phase of a new session container, and its ready dependencies.
 *
 * The install runs in a one-shot helper container over the same worktree (same image, mounts, env
 * and user as the session, created through the one hardened createContainer) on `network.install`,
 * so the session container itself keeps `network.run` (default none). The helper runs setup (root)
 * and install (user), copies every node_modules it finds under the workdir to /berth-deps (node's
 * dependencies live in the worktree, which a commit does not include), and is committed as the
 * session's image: `berth-deps/<repo>:<key>` (docker/deps.ts) when the install is cacheable
 * (docker/deps-key.ts), a per-workspace image otherwise. pip's user site, poetry's venv and the
 * setup's system packages are in that commit too.
 *
 * A later workspace with the same key (repository, image id, setup/install, env, workdir, user,
 * manifests) starts its container from that image and runs nothing: its node_modules become
 * symlinks to /berth-deps inside its own container. Each container has its own copy-on-write
 * layer over the image, so one agent's writes to its dependencies never reach another workspace.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResolvedSpec } from '../../src/project/index.js';
import type { WorkspaceInfo } from '../../src/workspace/index.js';
import {
  buildLabels,
  cacheableInstall,
  createContainer,
  depsImageRef,
  depsKey,
  ensureImageRef,
  findDepsImage,
  inspectImage,
  KEEPALIVE_CMD,
  manifestDigest,
  namePart,
  ownerLabel,
  saveDepsImage,
  sharedCacheLabels,
  sharedCacheVolume,
  usableInstallNetwork,
} from '../../docker/index.js';
import { BerthError } from '../../src/errors.js';
import { containerImageFor } from './checkpoints.js';
import { handWorktreeTo, hostIsRoot, numericOwner } from './identity.js';
import type { ContainerFactory } from './container-factory.js';
import { CONTAINER_USER } from './container-factory.js';
import type { StreamName } from './output.js';
import { initContainer, isRootUser, readSetupLog, runSetup, type SetupHost } from './setup.js';
import { SETUP_DIR } from './protocol.js';
import type { SetupRecord, SetupReport } from './types.js';

/** Where the helper keeps copies of node_modules for the snapshot, and the list of them. */
export const DEPS_ROOT = '/berth-deps';
const LINKS = `${DEPS_ROOT}/.links`;

export interface SessionDeps {
  /** The image the session container starts from. */
  readonly image: string;
  /** A hit: nothing ran, the workspace's node_modules are linked to the snapshot at prepare. */
  readonly hit: boolean;
  readonly key: string | undefined;
  /** What ran in the helper (empty on a hit), and its log for the session's setup log. */
  readonly steps: readonly SetupRecord[];
  readonly log: string;
  readonly notes: readonly string[];
}

export interface DepsOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  readonly onOutput?: ((stream: StreamName, chunk: string) => void) | undefined;
}

/**
 * Ready the dependencies of a new session container for `ws`: undefined when the spec has no
 * install (or the workspace restores a container checkpoint, whose image already has them: the
 * install then runs in the container as before).
 */
export async function readyDeps(f: ContainerFactory, ws: WorkspaceInfo, spec: ResolvedSpec, user: string, o: DepsOptions): Promise<SessionDeps | undefined> {
  if (spec.install.length === 0) return undefined;
  await ensureImageRef(spec.image, { pull: spec.pull, build: spec.build && { spec: spec.build, root: f.repo.path }, onProgress: (l) => f.logger.warn(l) });
  if ((await containerImageFor(f.containers.docker, ws, spec, f.logger)) !== spec.image) return undefined;
  const notes: string[] = [];
  const key = await keyFor(f, ws, spec, user, notes);
  for (const n of notes) o.onOutput?.('stderr', `berth: ${n}\n`);
  if (key !== undefined && (await findDepsImage(f.containers.docker, f.repo.id, key))) {
    const image = depsImageRef(f.repo.id, key);
    o.onOutput?.('stderr', `berth: install: cached (key ${key}, image ${image})\n`);
    return { image, hit: true, key, steps: [], log: `install: cached (key ${key}, image ${image})\n`, notes };
  }
  return installInHelper(f, ws, spec, user, key, notes, o);
}

async function keyFor(f: ContainerFactory, ws: WorkspaceInfo, spec: ResolvedSpec, user: string, notes: string[]): Promise<string | undefined> {
  const ok = cacheableInstall(spec.install);
  if (!ok.ok) {
    notes.push(`install: not cached (${ok.reason})`);
    return undefined;
  }
  const image = await inspectImage(f.containers.docker, spec.image);
  const m = await manifestDigest(ws.worktree, ok.ecosystems);
  if (m.uncacheable || !image) {
    notes.push(`install: not cached (${m.uncacheable ?? 'image not found'})`);
    return undefined;
  }
  return depsKey({
    scope: f.repo.id,
    imageId: image.id,
    toolchain: spec.toolchain,
    setup: spec.setup,
    install: spec.install,
    env: f.containerEnv(ws.name, spec, user),
    workdir: spec.workdir,
    user,
    manifests: m.digest,
    // Go's and Cargo's downloads stay in the shared cache volumes: a pruned cache must miss.
    extra: ok.ecosystems.some((e) => e === 'go' || e === 'rust') ? await cacheStamps(f, spec, user) : '',
  });
}

async function cacheStamps(f: ContainerFactory, spec: ResolvedSpec, user: string): Promise<string> {
  const out: string[] = [];
  for (const c of spec.caches) {
    const vol = sharedCacheVolume(spec.toolchain, c.name, user);
    // Created now (idempotent) so that the key does not change once the helper creates it.
    await f.containers.ensureVolume(vol, sharedCacheLabels(spec.toolchain, c.name));
    const info = (await f.containers.docker
      .getVolume(vol)
      .inspect()
      .catch(() => undefined)) as { CreatedAt?: string } | undefined;
    out.push(`${vol}@${info?.CreatedAt ?? 'none'}`);
  }
  return out.join(',');
}

/** Copy node_modules (not nested ones) under the workdir to DEPS_ROOT and list them. */
const CAPTURE = `
set -e
w=$1; u=$2
mkdir -p ${DEPS_ROOT}
cd "$w"
find . -name node_modules -type d -prune -print | sed 's|^\\./||' > ${LINKS}
while IFS= read -r p; do
  mkdir -p "${DEPS_ROOT}/$(dirname "$p")"
  cp -a "$p" "${DEPS_ROOT}/$p"
done < ${LINKS}
[ -z "$u" ] || chown "$u" ${DEPS_ROOT}
`;

async function installInHelper(
  f: ContainerFactory,
  ws: WorkspaceInfo,
  spec: ResolvedSpec,
  user: string,
  key: string | undefined,
  notes: string[],
  o: DepsOptions,
): Promise<SessionDeps> {
  const client = f.containers.docker;
  // The install writes into the worktree as the session user: hand it over first (open.ts does it
  // again once the session container exists; by then there is nothing left to change).
  const owner = hostIsRoot() && !isRootUser(user) ? numericOwner(user) : undefined;
  if (owner) await handWorktreeTo(ws.worktree, owner, f.logger);
  const network = await usableInstallNetwork(spec.installNetwork, spec.network, (m) => notes.push(m), client);
  const id = await createContainer(
    client,
    {
      name: `berth-install-${namePart(f.repo.id)}-${ws.name}-${randomBytes(3).toString('hex')}`,
      image: spec.image,
      entrypoint: KEEPALIVE_CMD,
      workdir: spec.workdir,
      user: CONTAINER_USER,
      env: f.containerEnv(ws.name, spec, user),
      labels: { ...buildLabels({ role: 'helper', repo: f.repo, workspace: ws.name, extra: f.labels }), ...ownerLabel() },
    },
    {
      caps: 'root-setup',
      resources: spec.resources,
      network: network ?? spec.network,
      mounts: await f.mountsFor(ws.name, spec, ws.worktree),
      bindRoots: { dataDir: f.dataDir, worktree: ws.worktree, gitDir: await f.gitDir() },
    },
  );
  try {
    await f.containers.start(id);
    const host: SetupHost = { containers: f.containers, containerId: id, user, workdir: spec.workdir, logger: f.logger };
    await initContainer(host, f.chownPaths(spec));
    const report = await runSetup(host, {
      setup: spec.setup,
      install: spec.install,
      timeoutMs: spec.stepTimeoutMs,
      signal: o.signal,
      onOutput: o.onOutput,
    }).catch(async (err: unknown) => {
      // The helper goes away with its log: keep the whole install output on the host.
      const path = join(f.dataDir, 'logs', namePart(f.repo.id), `${ws.name}.install.log`);
      const saved = await readSetupLog(host, 16 * 1024 * 1024)
        .then(async (text) => {
          await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
          await writeFile(path, text, { mode: 0o600 });
          return true;
        })
        .catch(() => false);
      if (saved && err instanceof BerthError)
        throw new BerthError(err.code, `${err.message}\nThe install's full output: ${path}`, { cause: err, ...(err.details ? { details: err.details } : {}) });
      throw err;
    });
    const cap = await f.containers.runCapture(id, { cmd: ['/bin/sh', '-c', CAPTURE, 'berth-capture', spec.workdir, user], user: '0:0' });
    if (cap.exitCode !== 0)
      throw new BerthError('SETUP_FAILED', `saving the installed dependencies failed (exit ${cap.exitCode}): ${cap.stderr.trim().slice(0, 500)}`);
    const tag = key ?? `ws-${ws.name.replace(/[^a-z0-9_.-]/g, '-')}-${randomBytes(4).toString('hex')}`;
    await saveDepsImage(client, id, { scope: f.repo.id, key: tag, toolchain: spec.toolchain, install: spec.install, ...(key ? {} : { workspace: ws.name }) });
    const log = await readSetupLog(host);
    if (key) o.onOutput?.('stderr', `berth: install: saved (key ${key}); the next workspace with this key skips it\n`);
    return { image: depsImageRef(f.repo.id, tag), hit: false, key, steps: report.steps, log, notes };
  } finally {
    await f.containers.remove(id).catch(() => undefined);
  }
}

/**
 * In the session container: link each saved node_modules into the worktree where the worktree has
 * none (runs as the session user, inside the container: the list comes from the snapshot, which
 * the install wrote, so it is never acted on from the host).
 */
export const LINK_SCRIPT = `
w=$1
[ -f ${LINKS} ] || exit 0
cd "$w" || exit 1
while IFS= read -r p; do
  case "$p" in ''|/*|*..*) continue;; esac
  [ -e "$p" ] || [ -L "$p" ] || ln -s "${DEPS_ROOT}/$p" "$p" 2>/dev/null || true
done < ${LINKS}
exit 0
`;

/**
 * prepare() of a container made from readyDeps()'s image: its state dirs and setup status came
 * with the snapshot ("done"), so only the log line and, on a hit, the node_modules links remain.
 */
export async function finishDeps(h: SetupHost, deps: SessionDeps, chownPaths: readonly string[]): Promise<SetupReport> {
  await initContainer(h, chownPaths);
  // Each exec is a round trip: a hit only links (as the session user: the list comes from the
  // snapshot, which agent-controlled install code wrote); the log it shows is the install's own.
  const r = deps.hit
    ? await h.containers.runCapture(h.containerId, { cmd: ['/bin/sh', '-c', LINK_SCRIPT, 'berth-link', h.workdir], user: h.user })
    : await h.containers.runCapture(h.containerId, {
        cmd: ['/bin/sh', '-c', `cat >> ${SETUP_DIR}/log`],
        user: '0:0',
        stdin: `# berth: install ran in a helper container${deps.key ? ` and was saved (key ${deps.key})` : ' (not cached)'}\n`,
      });
  if (r.exitCode !== 0) throw new BerthError('SETUP_FAILED', `finishing the ready dependencies in ${h.workdir} failed: ${r.stderr.trim().slice(0, 500)}`);
  return { ran: !deps.hit, ok: true, steps: deps.steps, deps: { hit: deps.hit, key: deps.key ?? null, image: deps.image } };
}

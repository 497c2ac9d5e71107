/**
 * How berth builds a session (or warm pool) container for a repository: the user it runs as, its
 * environment and mounts, and the create call itself. The Runner and the Pool both create
 * containers through this one factory (the Pool sees it as its PoolHost), so neither reaches into
 * the other.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import type { Resolved, ResolvedSpec } from '../../src/project/index.js';
import type { WorkspaceInfo } from '../../src/workspace/index.js';
import type { Containers, MountSpec } from '../../docker/index.js';
import { buildLabels, LABEL, sharedCacheLabels, sharedCacheVolume, workspaceVolumeName, type Labels, type RepoRef } from '../../docker/index.js';
import { ensureImageOn, ensureImageRef } from '../../docker/index.js';
import { BerthError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { containerImageFor } from './checkpoints.js';
import { remoteMountSource, type RemoteConfig } from './remote.js';
import { GIT_MOUNT, remoteVolumeNames } from '../../docker/index.js';
import { defaultSessionUser } from './identity.js';
import { HOME_DIR, isRootUser } from './setup.js';

/**
 * The container's own user (its keepalive process, and any exec that names no user). Every
 * session exec names the session user (the label dev.berth.user). It must be root: Docker >= 20.10
 * clears the effective capabilities of a container whose configured user is not root, and its
 * execs inherit that even with `-u 0:0`, so the root setup steps (chown of berth's state dirs,
 * package installs) would fail with "Operation not permitted".
 */
export const CONTAINER_USER = '0:0';

export interface ContainerFactoryInit {
  readonly repo: RepoRef;
  readonly dataDir: string;
  readonly containers: Containers;
  readonly logger: Logger;
  readonly labels: Labels;
  readonly gitInContainer: 'readonly' | 'none';
  /** Remote workspaces (remote.ts): the tree is a volume, nothing is bind-mounted. */
  readonly remote?: RemoteConfig | undefined;
}

export class ContainerFactory {
  readonly repo: RepoRef;
  readonly dataDir: string;
  readonly containers: Containers;
  readonly logger: Logger;
  readonly labels: Labels;
  readonly #gitInContainer: 'readonly' | 'none';
  readonly remote: RemoteConfig | undefined;
  #gitDir: Promise<string | undefined> | undefined;

  constructor(init: ContainerFactoryInit) {
    this.repo = init.repo;
    this.dataDir = init.dataDir;
    this.containers = init.containers;
    this.logger = init.logger;
    this.labels = init.labels;
    this.#gitInContainer = init.gitInContainer;
    this.remote = init.remote;
  }

  /** The user shells run as: spec.user, else this process's uid:gid (an unprivileged one for root, see identity.ts). */
  userFor(spec: ResolvedSpec): string {
    return spec.user ?? defaultSessionUser();
  }

  /** Mountpoints handed to the session user at container init (volumes are created root-owned). */
  chownPaths(spec: ResolvedSpec): string[] {
    return spec.volumes.map((v) => v.path).concat(spec.caches.map((c) => c.path));
  }

  /** Environment every session container gets (the spec's env wins over these defaults). */
  containerEnv(_name: string | undefined, spec: ResolvedSpec, user: string): Record<string, string> {
    const env: Record<string, string> = {
      // Agents have no terminal: no pagers, no prompts.
      PAGER: 'cat',
      GIT_PAGER: 'cat',
      GIT_TERMINAL_PROMPT: '0',
      DEBIAN_FRONTEND: 'noninteractive',
    };
    // A uid with no passwd entry would get HOME=/, which tools can't write to.
    if (!isRootUser(user) && /^\d+(:\d+)?$/.test(user)) env.HOME = HOME_DIR;
    // The worktree's top dir, its .git file and the mounted git dir stay root-owned (identity.ts),
    // so git in the container, run as the session user, would refuse them as "dubious ownership"
    // (https://git-scm.com/docs/git-config#Documentation/git-config.txt-safedirectory). Inside
    // the container that check protects nothing: every repository there is the agent's own.
    // GIT_CONFIG_COUNT is command-line scope, which git honours for safe.directory.
    if (!isRootUser(user)) Object.assign(env, { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'safe.directory', GIT_CONFIG_VALUE_0: '*' });
    return { ...env, ...spec.env };
  }

  /**
   * The repository's common git dir (where a linked worktree's `.git` file points, via
   * .git/worktrees/<name>/commondir). Found by reading files: git itself runs only in src/git.
   */
  gitDir(): Promise<string | undefined> {
    this.#gitDir ??= findGitDir(this.repo.path);
    return this.#gitDir;
  }

  /**
   * Mounts of a session container: the worktree at the workdir, the repository's git dir read-only
   * at its own path (see RunnerOptions.gitInContainer), caches, per-workspace volumes.
   */
  async mountsFor(name: string | undefined, spec: ResolvedSpec, source: string): Promise<MountSpec[]> {
    // --- remote workspaces (remote.ts): the workspace's volumes, no bind at all ---
    if (this.remote && name !== undefined) return [...this.remoteMounts(name, spec), ...(await this.volumeMounts(name, spec))];
    const mounts: MountSpec[] = [{ type: 'bind', source, target: spec.workdir }];
    const gitDir = this.#gitInContainer === 'readonly' ? await this.gitDir() : undefined;
    // Only where it can't shadow the workdir or a top-level directory of the image.
    if (gitDir && gitDir.split('/').length > 2 && gitDir !== spec.workdir && !gitDir.startsWith(`${spec.workdir}/`) && !spec.workdir.startsWith(`${gitDir}/`)) {
      mounts.push({ type: 'bind', source: gitDir, target: gitDir, readOnly: true });
    }
    return [...mounts, ...(await this.volumeMounts(name, spec, source))];
  }

  /** A remote workspace's tree volume at the workdir and its git volume, read-only (remote.ts). */
  remoteMounts(name: string, spec: ResolvedSpec): MountSpec[] {
    const v = remoteVolumeNames(this.repo, name);
    const git: MountSpec[] = this.#gitInContainer === 'readonly' ? [{ type: 'volume', source: v.git, target: GIT_MOUNT, readOnly: true }] : [];
    return [{ type: 'volume', source: v.tree, target: spec.workdir }, ...git];
  }

  /** What a session container of `ws` records as its mount source (open.ts compares it). */
  mountSourceFor(ws: WorkspaceInfo): string {
    return this.remote ? remoteMountSource(this.repo, ws.name) : ws.worktree;
  }

  /** Cache volumes, devcontainer binds from the worktree (`source`; none for a remote workspace), per-workspace volumes. */
  private async volumeMounts(name: string | undefined, spec: ResolvedSpec, source?: string): Promise<MountSpec[]> {
    const mounts: MountSpec[] = [];
    // Package caches are shared per toolchain and user (docker/caches.ts), like pipelines'.
    const user = this.userFor(spec);
    for (const c of spec.caches) {
      const vol = sharedCacheVolume(spec.toolchain, c.name, user);
      await this.containers.ensureVolume(vol, sharedCacheLabels(spec.toolchain, c.name));
      mounts.push({ type: 'volume', source: vol, target: c.path });
    }
    mounts.push(...(name === undefined || source === undefined ? [] : await this.bindsFor(spec, source)));
    // Pool containers (no name yet) get no per-workspace volumes; pool.ts refuses such specs.
    for (const v of name === undefined ? [] : spec.volumes) {
      const vol = workspaceVolumeName(this.repo, name!, v.name);
      await this.containers.ensureVolume(vol, {
        ...buildLabels({ role: 'session', repo: this.repo, workspace: name!, extra: this.labels }),
        [LABEL.volumeKind]: 'workspace',
        [LABEL.volumeName]: v.name,
      });
      mounts.push({ type: 'volume', source: vol, target: v.path });
    }
    return mounts;
  }

  /**
   * devcontainer.json binds (paths inside the repository), taken from the same path inside the
   * worktree, never from the user's checkout; hardening.ts resolves each and refuses one that
   * leaves the worktree (e.g. a symlink the agent planted). A missing path is skipped.
   */
  async bindsFor(spec: ResolvedSpec, worktree: string): Promise<MountSpec[]> {
    const out: MountSpec[] = [];
    const root = await realpath(worktree);
    for (const b of spec.binds ?? []) {
      const source = b.source === '.' ? worktree : join(worktree, b.source);
      const real = await realpath(source).catch(() => undefined);
      // A symlink committed in the repository could point the bind anywhere: skip it here with a
      // warning (hardening.ts would refuse the whole container).
      const why =
        real === undefined
          ? 'does not exist in the workspace'
          : real !== root && !real.startsWith(`${root}/`)
            ? `leads outside the workspace (${real})`
            : undefined;
      if (why) {
        this.logger.warn(`devcontainer mount ${b.source} -> ${b.target} skipped: ${b.source} ${why}`);
        continue;
      }
      out.push({ type: 'bind', source, target: b.target, readOnly: b.readOnly });
    }
    return out;
  }

  /** Make the spec's image present: built (berth's own, toolchains, build:) or pulled per its policy. */
  async ensureImage(spec: ResolvedSpec): Promise<void> {
    await ensureImageRef(spec.image, {
      pull: spec.pull,
      build: spec.build && { spec: spec.build, root: this.repo.path },
      onProgress: (line) => {
        if (!/: present$/.test(line)) this.logger.warn(line);
      },
    });
  }

  /** Create (not start) the session container of workspace `name`; `image` overrides the spec's (a ready-deps snapshot, deps.ts). */
  async createSession(name: string, containerName: string, ws: WorkspaceInfo, resolved: Resolved, user: string, image?: string): Promise<string> {
    const spec = resolved.spec;
    await this.ensureImage(spec);
    // A workspace checkpointed --with-container (or forked/restored from such a checkpoint)
    // starts from its snapshot, so what the agent installed survives a new container.
    const from = image ?? (await containerImageFor(this.containers.docker, ws, spec, this.logger));
    // Engines: the spec's image is ensured on the local engine; another engine gets a copy (once).
    if (from === spec.image) await ensureImageOn(this.containers.docker, from);
    try {
      return await this.containers.create({
        name: containerName,
        image: from,
        user: CONTAINER_USER,
        env: this.containerEnv(name, spec, user),
        labels: buildLabels({
          role: 'session',
          repo: this.repo,
          workspace: name,
          specHash: resolved.hash,
          workdir: spec.workdir,
          user,
          mountSource: this.mountSourceFor(ws),
          extra: this.labels,
        }),
        mounts: await this.mountsFor(name, spec, ws.worktree),
        spec,
        // A remote workspace may bind nothing: its engine cannot see host paths.
        bindRoots: this.remote ? {} : { dataDir: this.dataDir, worktree: ws.worktree, gitDir: await this.gitDir() },
        hostname: hostnameFor(name),
      });
    } catch (err) {
      if (err instanceof BerthError && err.details?.statusCode === 409) {
        throw new BerthError('DOCKER_ERROR', `container ${containerName} was created concurrently by a process that does not hold berth's lock: retry`, {
          cause: err,
        });
      }
      throw err;
    }
  }
}

async function findGitDir(repoPath: string): Promise<string | undefined> {
  const dotgit = join(repoPath, '.git');
  const st = await stat(dotgit).catch(() => undefined);
  if (!st) return undefined;
  if (st.isDirectory()) return realpath(dotgit);
  // A `.git` file ("gitdir: PATH"): follow it, then its commondir.
  const m = /^gitdir:\s*(.+)$/m.exec(await readFile(dotgit, 'utf8'));
  if (!m?.[1]) return undefined;
  const gitdir = isAbsolute(m[1].trim()) ? m[1].trim() : resolvePath(repoPath, m[1].trim());
  const common = await readFile(join(gitdir, 'commondir'), 'utf8').then(
    (c) => c.trim(),
    () => '.',
  );
  return realpath(isAbsolute(common) ? common : resolvePath(gitdir, common)).catch(() => undefined);
}

/** Workspace names allow '_' and '.', hostnames don't: map to a valid label (max 63). */
export function hostnameFor(name: string): string {
  const h = name
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+/, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return h || 'berth';
}

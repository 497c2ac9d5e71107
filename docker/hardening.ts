/**
 * THE hardened HostConfig of every container berth creates (session, pool, pipeline, helper), and
 * the vetting of its mounts. Nothing else in berth writes a HostConfig: create.ts passes this one to
 * Docker. What every container gets, and why:
 *   CapDrop ALL, plus ROOT_SETUP_CAPS only when root setup commands need them (see CapProfile);
 *   no-new-privileges (setuid binaries cannot regain capabilities); Docker's default seccomp profile
 *   (we never pass `seccomp=`, so it stays on); PidsLimit; Memory with MemorySwap equal (no swap);
 *   NanoCpus; LogConfig none (output is streamed through attach/exec, never read from logs);
 *   docker-init as PID 1; network none unless the spec asks; IPC private; no privileged mode, no
 *   devices; a bounded /dev/shm (Docker mounts it nosuid,nodev,noexec). berth adds no other tmpfs:
 *   a session's /tmp must survive a stop/start like the rest of its writable layer.
 *
 * Bind mounts: only the workspace worktree, berth's data dir and (read-only) the repository's git
 * dir may be bound, never the Docker socket or anything resolving to a socket. Docker's Mounts API
 * cannot put nosuid/nodev on a bind (BindOptions has only Propagation, NonRecursive and, from API
 * 1.44, read-only recursion; https://docs.docker.com/engine/api/v1.41/#operation/ContainerCreate):
 * a setuid file an agent leaves in the worktree keeps its bit on the host. The defence for that is
 * no-new-privileges in the container and running sessions as a non-root uid.
 */
import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, normalize, relative, sep } from 'node:path';
import type Dockerode from 'dockerode';
import { BerthError } from '../src/errors.js';

/**
 * Capabilities given back after `CapDrop: ALL` where root setup commands run. They matter only to
 * root processes: setup commands (package managers) and, when the host user is root, the session.
 * Non-root processes get no effective capabilities whatever the bounding set, and
 * no-new-privileges stops setuid binaries from regaining them.
 *   CHOWN, FOWNER, FSETID  dpkg/npm -g set owners and modes of the files they install;
 *                          the runner chowns its state dir and volume mountpoints to the user.
 *   DAC_OVERRIDE           root writing into directories owned by other users (apt's _apt dirs).
 *   SETUID, SETGID         apt drops to the _apt user; su/gosu-style setup steps.
 * Everything else (NET_RAW, MKNOD, SYS_CHROOT, AUDIT_WRITE, SETPCAP, NET_BIND_SERVICE, KILL ...)
 * stays dropped: the runner signals processes as their own user, and the network is off by default.
 */
export const ROOT_SETUP_CAPS: readonly string[] = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'SETUID', 'SETGID'];

/**
 * 'root-setup': ROOT_SETUP_CAPS (sessions and pool containers always run root setup/init; a
 * pipeline's prepared container only when its plan has setup commands or hands the copy to a
 * non-root user). 'chown': CHOWN alone (a pipeline that only chowns its source copy). 'none':
 * nothing (fast-path pipelines, forked check steps, helpers).
 */
export type CapProfile = 'root-setup' | 'chown' | 'none';

const CAPS: Readonly<Record<CapProfile, readonly string[]>> = { 'root-setup': ROOT_SETUP_CAPS, chown: ['CHOWN'], none: [] };

/** The sockets Docker listens on by default; binding them would hand the agent the host. */
export const DOCKER_SOCKETS: readonly string[] = ['/var/run/docker.sock', '/run/docker.sock'];

/** /dev/shm size: Docker's default, stated so the limit is visible here. */
export const SHM_BYTES = 64 * 1024 * 1024;

export interface MountSpec {
  readonly type: 'bind' | 'volume';
  /** Host path (bind) or volume name (volume). */
  readonly source: string;
  readonly target: string;
  readonly readOnly?: boolean;
}

/**
 * Host paths a container may bind. Each is optional; a bind outside all of them is refused.
 * gitDir admits read-only binds only.
 */
export interface BindRoots {
  readonly dataDir?: string | undefined;
  readonly worktree?: string | undefined;
  readonly gitDir?: string | undefined;
}

export interface Resources {
  readonly cpus: number;
  readonly memoryMb: number;
  readonly pids: number;
}

export interface HardeningSpec {
  readonly caps: CapProfile;
  readonly resources: Resources;
  /** Default 'none'. 'host' only where a test needs a loopback service. */
  readonly network?: 'none' | 'bridge' | 'host' | undefined;
  readonly mounts?: readonly MountSpec[] | undefined;
  readonly bindRoots?: BindRoots | undefined;
  /** Only for containers whose rootfs nobody writes (helpers); sessions and pipelines install into theirs. */
  readonly readonlyRootfs?: boolean | undefined;
}

/** Docker object names: [a-zA-Z0-9][a-zA-Z0-9_.-]* (a volume "name" with a '/' would be a path). */
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** The one HostConfig builder. Async because binds are checked against the host filesystem. */
export async function hardenedHostConfig(spec: HardeningSpec): Promise<Dockerode.HostConfig> {
  const r = spec.resources;
  if (!(r.cpus > 0 && r.memoryMb > 0 && r.pids > 0)) {
    throw new BerthError('BAD_INPUT', `container limits must be positive: cpus ${r.cpus}, memoryMb ${r.memoryMb}, pids ${r.pids}`);
  }
  const memory = Math.round(r.memoryMb * 1024 * 1024);
  const mounts = await Promise.all((spec.mounts ?? []).map((m) => vetMount(m, spec.bindRoots ?? {})));
  return {
    Mounts: mounts,
    NetworkMode: spec.network ?? 'none',
    // Docker leaves IPv6 off on a network-none container's loopback; tests that bind ::1 need it.
    ...((spec.network ?? 'none') === 'none' ? { Sysctls: { 'net.ipv6.conf.lo.disable_ipv6': '0' } } : {}),
    CapDrop: ['ALL'],
    CapAdd: [...CAPS[spec.caps]],
    // Only no-new-privileges: leaving seccomp out keeps Docker's default profile.
    SecurityOpt: ['no-new-privileges:true'],
    Privileged: false,
    PidsLimit: r.pids,
    Memory: memory,
    // Equal to Memory: no swap on top, so the limit is the real ceiling (the OOM killer acts at it).
    MemorySwap: memory,
    NanoCpus: Math.round(r.cpus * 1e9),
    // docker-init as PID 1 reaps processes orphaned by exec'd commands.
    Init: true,
    IpcMode: 'private',
    ShmSize: SHM_BYTES,
    ReadonlyRootfs: spec.readonlyRootfs ?? false,
    RestartPolicy: { Name: 'no' },
    // Output reaches berth through attach and exec streams; a json log would only grow on disk.
    LogConfig: { Type: 'none', Config: {} },
  };
}

type DockerMount = NonNullable<Dockerode.HostConfig['Mounts']>[number];

async function vetMount(m: MountSpec, roots: BindRoots): Promise<DockerMount> {
  if (!isAbsolute(m.target) || m.target.includes('\0')) {
    throw refused(`mount target ${JSON.stringify(m.target)} is not an absolute container path`);
  }
  if (m.type === 'volume') {
    if (!VOLUME_NAME.test(m.source)) throw refused(`volume name ${JSON.stringify(m.source)} is not a Docker volume name`);
    return { Type: 'volume', Source: m.source, Target: m.target, ReadOnly: m.readOnly ?? false };
  }
  const source = await vetBindSource(m.source, m.readOnly ?? false, roots);
  return {
    Type: 'bind',
    // The resolved path, so a symlink swapped in after this check cannot redirect the mount;
    // what remains is the allowed root's own ancestors, which the host user owns.
    Source: source,
    Target: m.target,
    ReadOnly: m.readOnly ?? false,
    // rprivate: no mount events cross between host and container. NonRecursive: a mount someone
    // made under the worktree on the host is not carried in. (dockerode's type lacks NonRecursive.)
    BindOptions: { Propagation: 'rprivate', NonRecursive: true } as DockerMount['BindOptions'],
  };
}

/**
 * The real path of a bind source after the checks: absolute, no NUL, not a socket, not the Docker
 * socket or a directory containing it, inside an allowed root (gitDir: read-only only).
 */
export async function vetBindSource(source: string, readOnly: boolean, roots: BindRoots): Promise<string> {
  if (!isAbsolute(source) || source.includes('\0')) throw refused(`bind source ${JSON.stringify(source)} is not an absolute host path`);
  // By name first, so a socket path is refused even where no engine listens on it right now.
  if (DOCKER_SOCKETS.includes(normalize(source)))
    throw refused(`bind source ${JSON.stringify(source)} is the Docker socket; that would give the container the host`);
  const real = await realpath(source).catch((err: unknown) => {
    throw new BerthError('FS_ERROR', `bind source ${JSON.stringify(source)} cannot be resolved: ${(err as Error).message}`, { cause: err });
  });
  const st = await stat(real);
  if (st.isSocket()) throw refused(`bind source ${JSON.stringify(source)} is a socket (${real}); berth never hands a socket to a container`);
  for (const sock of await dockerSockets()) {
    if (real === sock || isInside(real, sock)) {
      throw refused(`bind source ${JSON.stringify(source)} is or contains the Docker socket ${sock}; that would give the container the host`);
    }
  }
  const allowed: { path: string; readOnlyOnly: boolean }[] = [];
  for (const [key, path] of Object.entries(roots) as [keyof BindRoots, string | undefined][]) {
    if (path) allowed.push({ path: await realpath(path).catch(() => path), readOnlyOnly: key === 'gitDir' });
  }
  const root = allowed.find((a) => (real === a.path || isInside(a.path, real)) && (readOnly || !a.readOnlyOnly));
  if (!root) {
    const names = allowed.map((a) => `${a.path}${a.readOnlyOnly ? ' (read-only)' : ''}`).join(', ') || 'none';
    throw refused(`bind source ${JSON.stringify(source)} (${real}) is outside the paths a container may see: ${names}`);
  }
  return real;
}

/** The default sockets plus DOCKER_HOST's, each resolved where it exists. */
async function dockerSockets(): Promise<string[]> {
  const host = process.env.DOCKER_HOST;
  const paths = [...DOCKER_SOCKETS, ...(host?.startsWith('unix://') ? [host.slice('unix://'.length)] : [])];
  const out = new Set<string>(paths);
  for (const p of paths) {
    const real = await realpath(p).catch(() => undefined);
    if (real) out.add(real);
  }
  return [...out];
}

function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

function refused(message: string): BerthError {
  return new BerthError('MOUNT_REFUSED', message);
}

/**
 * Container, volume and exec operations for the stateful runner. Every Docker call of
 * runner/session/ goes through this module (and client.ts), so failures arrive as BerthErrors
 * (docker/errors.ts). Containers themselves are created by create.ts with hardening.ts's HostConfig.
 */
import { Writable, type Duplex } from 'node:stream';
import type Dockerode from 'dockerode';
import { call, docker as sharedDocker, dockerStatus, translateDockerError, type Docker } from './client.js';
import { createContainer, envList } from './create.js';
import type { BindRoots, MountSpec, Resources } from './hardening.js';
import type { Labels } from './labels.js';

export { envList } from './create.js';
export { ROOT_SETUP_CAPS as SESSION_CAP_ADD, type BindRoots, type MountSpec } from './hardening.js';

/**
 * The container's PID 2 (docker-init is PID 1 and reaps zombies): sleep forever without needing
 * any particular binary beyond a POSIX sh. GNU and busybox sleep accept "infinity".
 */
export const KEEPALIVE_CMD: readonly string[] = ['/bin/sh', '-c', 'exec sleep infinity 2>/dev/null; while :; do sleep 3600; done'];

/** A session or pool container: the keep-alive as main process, work arrives via exec. */
export interface ContainerCreateSpec {
  readonly name: string;
  readonly image: string;
  readonly user: string;
  readonly env: Readonly<Record<string, string>>;
  readonly labels: Labels;
  readonly mounts: readonly MountSpec[];
  /** The resolved spec's container fields (src/project ResolvedSpec fits as is). */
  readonly spec: {
    readonly workdir: string;
    readonly network: 'none' | 'bridge' | 'host';
    readonly resources: Resources;
  };
  /** Host paths the binds may come from: the worktree (or pool slot), the data dir, the git dir. */
  readonly bindRoots: BindRoots;
  readonly hostname?: string;
}

export interface ContainerState {
  readonly id: string;
  readonly name: string;
  readonly running: boolean;
  readonly status: string;
  readonly exitCode: number;
  readonly oomKilled: boolean;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly labels: Labels;
  readonly image: string;
  /** Host pid of the container's init while it runs (0 otherwise). */
  readonly pid: number;
}

export interface ContainerSummary {
  readonly id: string;
  readonly name: string;
  readonly state: string;
  readonly labels: Labels;
  readonly created: number;
}

/** Thin typed wrapper over dockerode for containers and volumes. */
export class Containers {
  readonly docker: Docker;

  constructor(client: Docker = sharedDocker()) {
    this.docker = client;
  }

  /**
   * Create a session or pool container: root setup runs in it (ROOT_SETUP_CAPS), the keep-alive
   * prints nothing. Every limit and mount check is in hardening.ts.
   */
  async create(c: ContainerCreateSpec): Promise<string> {
    return createContainer(
      this.docker,
      {
        name: c.name,
        image: c.image,
        // Override any image ENTRYPOINT: the container only has to stay up; work arrives via exec.
        entrypoint: KEEPALIVE_CMD,
        workdir: c.spec.workdir,
        user: c.user,
        env: c.env,
        labels: c.labels,
        hostname: c.hostname,
      },
      { caps: 'root-setup', resources: c.spec.resources, network: c.spec.network, mounts: c.mounts, bindRoots: c.bindRoots },
    );
  }

  /** Start; a container that is already running is fine (Docker answers 304). */
  async start(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).start();
    } catch (err) {
      if (dockerStatus(err) === 304) return;
      throw translateDockerError(err, `start container ${id}`);
    }
  }

  /** Stop (SIGTERM, then SIGKILL after `timeoutS`); stopped or missing containers are fine. */
  async stop(id: string, timeoutS = 5): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: timeoutS });
    } catch (err) {
      const s = dockerStatus(err);
      if (s === 304 || s === 404) return;
      throw translateDockerError(err, `stop container ${id}`);
    }
  }

  async kill(id: string, signal = 'SIGKILL'): Promise<void> {
    try {
      await this.docker.getContainer(id).kill({ signal });
    } catch (err) {
      const s = dockerStatus(err);
      if (s === 404 || s === 409) return;
      throw translateDockerError(err, `kill container ${id}`);
    }
  }

  /** Force-remove; returns false when it did not exist. Anonymous volumes go with it. */
  async remove(id: string): Promise<boolean> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
      return true;
    } catch (err) {
      const s = dockerStatus(err);
      if (s === 404) return false;
      // 409 "removal already in progress": someone else is removing it.
      if (s === 409 && /already in progress/i.test(String((err as Error).message))) return true;
      throw translateDockerError(err, `remove container ${id}`);
    }
  }

  /** Rename; false when the source is gone (404) or the target name is taken (409). */
  async rename(id: string, name: string): Promise<boolean> {
    try {
      await this.docker.getContainer(id).rename({ name });
      return true;
    } catch (err) {
      const s = dockerStatus(err);
      if (s === 404 || s === 409) return false;
      throw translateDockerError(err, `rename container ${id} to ${name}`);
    }
  }

  async inspect(idOrName: string): Promise<ContainerState | undefined> {
    try {
      const i = await this.docker.getContainer(idOrName).inspect();
      return {
        id: i.Id,
        name: i.Name.replace(/^\//, ''),
        running: i.State.Running,
        status: i.State.Status,
        exitCode: i.State.ExitCode,
        oomKilled: i.State.OOMKilled,
        startedAt: i.State.StartedAt,
        finishedAt: i.State.FinishedAt,
        labels: i.Config.Labels ?? {},
        image: i.Config.Image,
        pid: i.State.Pid ?? 0,
      };
    } catch (err) {
      if (dockerStatus(err) === 404) return undefined;
      throw translateDockerError(err, `inspect container ${idOrName}`);
    }
  }

  async list(filters: Record<string, string[]>): Promise<ContainerSummary[]> {
    const rows = await call('list containers', () => this.docker.listContainers({ all: true, filters }));
    return rows.map((r) => ({
      id: r.Id,
      name: (r.Names[0] ?? '').replace(/^\//, ''),
      state: r.State,
      labels: r.Labels ?? {},
      created: r.Created,
    }));
  }

  /** Create a named volume with labels; an existing one is reused (Docker's create is idempotent). */
  async ensureVolume(name: string, labels: Labels): Promise<void> {
    await call(`create volume ${name}`, () => this.docker.createVolume({ Name: name, Labels: labels }));
  }

  async removeVolume(name: string): Promise<boolean> {
    try {
      await this.docker.getVolume(name).remove({ force: true });
      return true;
    } catch (err) {
      if (dockerStatus(err) === 404) return false;
      throw translateDockerError(err, `remove volume ${name}`);
    }
  }

  async listVolumes(filters: Record<string, string[]>): Promise<{ name: string; labels: Labels }[]> {
    const r = await call('list volumes', () => this.docker.listVolumes({ filters }));
    return (r.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} }));
  }

  // ---- exec ---------------------------------------------------------------------------------

  /** Create (not start) an exec of `spec`, stdout and stderr attached; stdin and a TTY as asked. */
  private createExec(containerId: string, spec: ExecSpec, io: { stdin: boolean; tty: boolean }): Promise<Dockerode.Exec> {
    return call(`exec in container ${containerId}`, () =>
      this.docker.getContainer(containerId).exec({
        Cmd: [...spec.cmd],
        AttachStdin: io.stdin,
        AttachStdout: true,
        AttachStderr: true,
        Tty: io.tty,
        ...(spec.user !== undefined ? { User: spec.user } : {}),
        ...(spec.workdir !== undefined ? { WorkingDir: spec.workdir } : {}),
        ...(spec.env ? { Env: envList(spec.env) } : {}),
      }),
    );
  }

  /**
   * Start an exec with stdin attached and return its hijacked socket plus demuxed callbacks.
   * The caller owns the socket (write = the process's stdin; destroy to detach).
   */
  async attach(
    containerId: string,
    opts: ExecSpec & {
      onStdout: (b: Buffer) => void;
      onStderr: (b: Buffer) => void;
      onEnd: (err?: Error) => void;
    },
  ): Promise<AttachedExec> {
    const exec = await this.createExec(containerId, opts, { stdin: true, tty: false });
    const stream = (await call(`start exec in container ${containerId}`, () => exec.start({ hijack: true, stdin: true }))) as Duplex;
    wireDemux(this.docker, stream, opts.onStdout, opts.onStderr, opts.onEnd);
    return {
      execId: exec.id,
      stream,
      inspect: async () => {
        const i = await call(`inspect exec ${exec.id}`, () => exec.inspect());
        return { running: i.Running, exitCode: i.ExitCode ?? null, pid: i.Pid };
      },
    };
  }

  /**
   * An interactive exec with a TTY (raw stream, no multiplexing) for `berth shell` when the docker
   * CLI is not installed. The caller pipes its terminal to `stream` and calls resize on SIGWINCH.
   */
  async attachTty(
    containerId: string,
    opts: ExecSpec,
  ): Promise<{ stream: Duplex; resize(rows: number, cols: number): Promise<void>; exitCode(): Promise<number | null> }> {
    const exec = await this.createExec(containerId, opts, { stdin: true, tty: true });
    const stream = (await call(`start exec in container ${containerId}`, () => exec.start({ hijack: true, stdin: true, Tty: true }))) as Duplex;
    return {
      stream,
      resize: async (rows, cols) => {
        // Resizing races the exec's start and end; a failed resize only leaves the old size.
        await exec.resize({ h: rows, w: cols }).catch(() => undefined);
      },
      exitCode: async () => (await call(`inspect exec ${exec.id}`, () => exec.inspect())).ExitCode ?? null,
    };
  }

  /**
   * Run a one-shot exec to completion: stdin is /dev/null unless `stdin` is given, output is
   * streamed to the callbacks. Resolves with the exit code (null if Docker could not tell).
   * `signal` only detaches (the caller kills the process itself, see session/kill.ts).
   */
  async run(containerId: string, opts: RunExecOptions): Promise<{ exitCode: number | null; detached: boolean }> {
    const withStdin = opts.stdin !== undefined;
    const exec = await this.createExec(containerId, opts, { stdin: withStdin, tty: false });
    const stream = (await call(`start exec in container ${containerId}`, () =>
      withStdin ? exec.start({ hijack: true, stdin: true }) : exec.start({ hijack: false, stdin: false }),
    )) as Duplex;
    opts.onStarted?.();
    let detached = false;
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (err?: Error) => {
        if (settled) return;
        settled = true;
        opts.signal?.removeEventListener('abort', onAbort);
        if (err && !detached) reject(translateDockerError(err, `exec in container ${containerId}`));
        else resolve();
      };
      const onAbort = () => {
        detached = true;
        stream.destroy();
        finish();
      };
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      wireDemux(this.docker, stream, opts.onStdout ?? noop, opts.onStderr ?? noop, finish);
      if (withStdin) {
        const data = opts.stdin!;
        // A hijacked socket half-closes with end(): the process sees EOF on stdin.
        stream.end(data);
      }
    });
    if (detached) return { exitCode: null, detached };
    const info = await call(`inspect exec ${exec.id}`, () => exec.inspect());
    return { exitCode: info.ExitCode ?? null, detached };
  }

  /** run() collecting output as UTF-8 (for the runner's small helper scripts). */
  async runCapture(containerId: string, opts: CaptureExecOptions): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
    const max = opts.maxBytes ?? 4 * 1024 * 1024;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outN = 0;
    let errN = 0;
    const r = await this.run(containerId, {
      ...opts,
      onStdout: (b) => {
        if (outN < max) out.push(b);
        outN += b.length;
      },
      onStderr: (b) => {
        if (errN < max) err.push(b);
        errN += b.length;
      },
    });
    return {
      exitCode: r.exitCode,
      stdout: Buffer.concat(out).subarray(0, max).toString('utf8'),
      stderr: Buffer.concat(err).subarray(0, max).toString('utf8'),
    };
  }
}

export interface ExecSpec {
  readonly cmd: readonly string[];
  readonly user?: string;
  readonly workdir?: string;
  readonly env?: Readonly<Record<string, string>>;
}

/** A one-shot exec streamed to callbacks (Containers.run). */
export type RunExecOptions = ExecSpec & {
  stdin?: Buffer | string;
  onStdout?: (b: Buffer) => void;
  onStderr?: (b: Buffer) => void;
  signal?: AbortSignal;
  /** Called once the process is running (before output), e.g. to record when it started. */
  onStarted?: () => void;
};

/** A one-shot exec whose output is collected (Containers.runCapture). */
export type CaptureExecOptions = ExecSpec & { stdin?: Buffer | string; signal?: AbortSignal; maxBytes?: number };

export interface AttachedExec {
  readonly execId: string;
  readonly stream: Duplex;
  inspect(): Promise<{ running: boolean; exitCode: number | null; pid: number }>;
}

const noop = () => {};

/**
 * Split Docker's multiplexed exec stream (8-byte frame headers, non-TTY) with the modem's own
 * demuxer. The sinks call back synchronously, so nothing queues: the socket is read only as fast
 * as the callbacks consume, and memory stays bounded however much a command prints.
 */
function wireDemux(client: Docker, stream: Duplex, onStdout: (b: Buffer) => void, onStderr: (b: Buffer) => void, onEnd: (err?: Error) => void): void {
  const sink = (fn: (b: Buffer) => void) =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        fn(chunk);
        cb();
      },
    });
  client.modem.demuxStream(stream, sink(onStdout), sink(onStderr));
  let ended = false;
  const end = (err?: Error) => {
    if (ended) return;
    ended = true;
    onEnd(err);
  };
  stream.on('end', () => end());
  stream.on('close', () => end());
  stream.on('error', (err: Error) => end(err));
}

/**
 * Remote workspaces (runner/session/remote.ts): a workspace whose live tree lives in named volumes
 * on an engine that cannot see the host's paths. Two volumes per workspace:
 *   tree  the files, mounted at the session's workdir (the agent's, read-write);
 *   git   the repository (objects, refs, index), mounted read-only in the session at GIT_MOUNT
 *         and read-write only in berth's helper, so the agent can read history but never plant
 *         config, hooks or refs that berth's own git would obey.
 * Both move in and out only over the Docker API (archive PUT/GET and exec), never through a host
 * path: this module has no bind mount at all.
 *
 * The helper is a short-lived container of berth's debian image (it has git), created through the
 * one createContainer/hardening path: network none, no capabilities beyond CHOWN (to hand the new
 * volume roots to the session user), read-only rootfs, labelled with its owner process so the
 * reaper finds it if berth dies mid-way.
 */
import { randomBytes } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { IMAGES } from '../src/images.js';
import { BerthError } from '../src/errors.js';
import { call, type Docker } from './client.js';
import { Containers, KEEPALIVE_CMD } from './containers.js';
import { createContainer } from './create.js';
import { ensureImageOn } from './engines-image.js';
import { ownerLabel } from './reaper.js';
import { buildLabels, LABEL, labelFilter, namePart, type Labels, type RepoRef } from './labels.js';

/** Where the helper mounts the tree volume. */
export const TREE_MOUNT = '/berth-tree';
/** Where the helper (read-write) and the session (read-only) mount the git volume. */
export const GIT_MOUNT = '/berth-git';
/** dev.berth.volume-kind of both volumes. */
export const REMOTE_VOLUME_KIND = 'remote';

const HELPER_RESOURCES = { cpus: 1, memoryMb: 512, pids: 64 };

/** Longest one helper script may run (a git add over a huge agent tree); the helper is then removed. */
export const HELPER_TIMEOUT_MS = 10 * 60_000;

export interface RemoteVolumes {
  readonly tree: string;
  readonly git: string;
}

/** Deterministic volume names of a remote workspace (the names double as the lookup key). */
export function remoteVolumeNames(repo: RepoRef, workspace: string): RemoteVolumes {
  const base = `berth-rws-${namePart(repo.id)}-${workspace}`;
  return { tree: `${base}-tree`, git: `${base}-git` };
}

/** Whether both volumes of the remote workspace exist (by label, on this engine). */
export async function remoteVolumesExist(client: Docker, repo: RepoRef, workspace: string): Promise<boolean> {
  const names = remoteVolumeNames(repo, workspace);
  const rows = await new Containers(client).listVolumes(labelFilter({ repo, workspace }));
  const have = new Set(rows.filter((v) => v.labels[LABEL.volumeKind] === REMOTE_VOLUME_KIND).map((v) => v.name));
  return have.has(names.tree) && have.has(names.git);
}

/** Create both labelled volumes (Docker returns an existing volume of the same name as is). */
export async function ensureRemoteVolumes(client: Docker, repo: RepoRef, workspace: string, extra: Labels = {}): Promise<RemoteVolumes> {
  const names = remoteVolumeNames(repo, workspace);
  const c = new Containers(client);
  for (const [part, vol] of Object.entries(names)) {
    await c.ensureVolume(vol, {
      ...buildLabels({ role: 'session', repo, workspace, extra }),
      [LABEL.volumeKind]: REMOTE_VOLUME_KIND,
      [LABEL.volumeName]: part,
    });
  }
  return names;
}

/** Remove both volumes; returns the names removed. */
export async function removeRemoteVolumes(client: Docker, repo: RepoRef, workspace: string): Promise<string[]> {
  const c = new Containers(client);
  const out: string[] = [];
  for (const vol of Object.values(remoteVolumeNames(repo, workspace))) if (await c.removeVolume(vol)) out.push(vol);
  return out;
}

export interface HelperRun {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A running helper container mounting a remote workspace's volumes. Dispose to remove it. */
export class WorkspaceHelper implements AsyncDisposable {
  readonly id: string;
  readonly #containers: Containers;
  #closed = false;

  private constructor(id: string, containers: Containers) {
    this.id = id;
    this.#containers = containers;
  }

  static async start(client: Docker, repo: RepoRef, volumes: RemoteVolumes, extra: Labels = {}): Promise<WorkspaceHelper> {
    // On an engine that lacks it, copied from the local engine (IMAGE_MISSING when neither has it).
    await ensureImageOn(client, IMAGES.debian);
    const name = `berth-helper-${namePart(repo.id)}-${randomBytes(4).toString('hex')}`;
    const containers = new Containers(client);
    const id = await createContainer(
      client,
      {
        name,
        image: IMAGES.debian,
        entrypoint: KEEPALIVE_CMD,
        user: '0:0',
        labels: { ...buildLabels({ role: 'helper', repo, extra }), ...ownerLabel() },
      },
      {
        caps: 'chown',
        resources: HELPER_RESOURCES,
        readonlyRootfs: true,
        mounts: [
          { type: 'volume', source: volumes.tree, target: TREE_MOUNT },
          { type: 'volume', source: volumes.git, target: GIT_MOUNT },
        ],
      },
    );
    const helper = new WorkspaceHelper(id, containers);
    try {
      await containers.start(id);
    } catch (err) {
      await helper.close();
      throw err;
    }
    return helper;
  }

  /** Run `sh -c script` with positional args as `user`; TIMEOUT after timeoutMs (default HELPER_TIMEOUT_MS). */
  async run(
    script: string,
    args: readonly string[],
    opts: { user: string; env?: Readonly<Record<string, string>>; signal?: AbortSignal; timeoutMs?: number },
  ): Promise<HelperRun> {
    const ms = opts.timeoutMs ?? HELPER_TIMEOUT_MS;
    const timeout = AbortSignal.timeout(ms);
    const r = await this.#containers.runCapture(this.id, {
      cmd: ['/bin/sh', '-c', script, 'berth-helper', ...args],
      user: opts.user,
      ...(opts.env ? { env: opts.env } : {}),
      signal: opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout,
      maxBytes: 256 * 1024,
    });
    if (opts.signal?.aborted) throw new BerthError('ABORTED', 'the remote workspace operation was cancelled before it finished');
    if (timeout.aborted) {
      throw new BerthError('TIMEOUT', `a remote workspace helper script ran longer than ${ms} ms (a very large tree?): make the workspace smaller, then retry`);
    }
    return r;
  }

  /** Stream `size` bytes of `data` into `dir/name` (archive PUT), owned by uid:gid, mode 0600. */
  async putFile(dir: string, name: string, data: Readable, size: number, owner: { uid: number; gid: number }): Promise<void> {
    const tar = Readable.from(tarOneFile(name, data, size, owner));
    await call(`write ${dir}/${name} into helper ${this.id.slice(0, 12)}`, () =>
      this.#containers.docker.getContainer(this.id).putArchive(tar as unknown as NodeJS.ReadableStream, { path: dir }),
    );
  }

  /**
   * The content of the regular file at `path` (archive GET), streamed to `sink`; more than
   * `maxBytes` (however the file's size was reported) fails with CHECKPOINT_TOO_LARGE.
   */
  async getFile(path: string, maxBytes: number, sink: NodeJS.WritableStream, what: string): Promise<number> {
    const stream = (await call(`read ${path} from helper ${this.id.slice(0, 12)}`, () =>
      this.#containers.docker.getContainer(this.id).getArchive({ path }),
    )) as unknown as Readable;
    const untar = new SingleFileUntar(maxBytes, what);
    await pipeline(stream, untar, sink);
    return untar.bytes;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#containers.remove(this.id).catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** A ustar archive of one regular file (the name is short and ASCII: berth chooses it). */
async function* tarOneFile(name: string, data: Readable, size: number, owner: { uid: number; gid: number }): AsyncGenerator<Buffer> {
  const h = Buffer.alloc(512, 0);
  const field = (off: number, len: number, value: string) => h.write(value, off, len, 'ascii');
  const octal = (off: number, len: number, n: number) => field(off, len, `${n.toString(8).padStart(len - 1, '0')}\0`);
  field(0, 100, name);
  octal(100, 8, 0o600);
  octal(108, 8, owner.uid);
  octal(116, 8, owner.gid);
  octal(124, 12, size);
  octal(136, 12, Math.floor(Date.now() / 1000));
  h.fill(' ', 148, 156);
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  let sum = 0;
  for (const b of h) sum += b;
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  yield h;
  let n = 0;
  for await (const chunk of data) {
    const b = chunk as Buffer;
    n += b.length;
    if (n > size) throw new BerthError('INTERNAL', `${name} grew while it was being sent (more than ${size} bytes)`);
    yield b;
  }
  if (n !== size) throw new BerthError('INTERNAL', `${name} has ${n} bytes, expected ${size}`);
  yield Buffer.alloc(((512 - (size % 512)) % 512) + 1024, 0);
}

/**
 * Passes through the content of the single regular file of a tar stream (Docker's GET archive of
 * a file path), skipping pax headers, and fails as soon as more than `max` content bytes arrive.
 */
class SingleFileUntar extends Transform {
  bytes = 0;
  #buf: Buffer = Buffer.alloc(0);
  #remaining = -1; // content bytes left of the current entry; -1 = expecting a header
  #pad = 0;
  #entrySize = 0;
  #emit = false;
  #done = false;

  constructor(
    private readonly max: number,
    private readonly what: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    try {
      this.#drain();
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _flush(cb: (err?: Error | null) => void): void {
    if (this.#remaining > 0) return cb(new BerthError('DOCKER_ERROR', `${this.what}: the archive from the engine ended early`));
    cb();
  }

  #drain(): void {
    for (;;) {
      if (this.#done) return void (this.#buf = Buffer.alloc(0));
      if (this.#pad > 0) {
        const n = Math.min(this.#pad, this.#buf.length);
        this.#pad -= n;
        this.#buf = this.#buf.subarray(n);
        if (this.#pad > 0) return;
      }
      if (this.#remaining > 0) {
        if (this.#buf.length === 0) return;
        const n = Math.min(this.#remaining, this.#buf.length);
        if (this.#emit) {
          this.bytes += n;
          if (this.bytes > this.max) throw tooLarge(this.what, this.bytes, this.max);
          this.push(this.#buf.subarray(0, n));
        }
        this.#remaining -= n;
        this.#buf = this.#buf.subarray(n);
        if (this.#remaining === 0) this.#endEntry();
        continue;
      }
      if (this.#buf.length < 512) return;
      this.#header(this.#buf.subarray(0, 512));
      this.#buf = this.#buf.subarray(512);
    }
  }

  #header(h: Buffer): void {
    if (h.every((b) => b === 0)) return void (this.#done = true);
    const size = parseInt(h.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim() || '0', 8);
    const type = String.fromCharCode(h[156] ?? 0x30);
    if (!Number.isSafeInteger(size) || size < 0) throw new BerthError('DOCKER_ERROR', `${this.what}: the archive from the engine is malformed`);
    const file = type === '0' || type === '\0';
    if (!file && type !== 'x' && type !== 'g') throw new BerthError('BAD_INPUT', `${this.what}: it is not a regular file (tar type ${JSON.stringify(type)})`);
    if (file && size > this.max) throw tooLarge(this.what, size, this.max);
    this.#emit = file;
    this.#entrySize = size;
    this.#remaining = size;
    if (size === 0) this.#endEntry();
  }

  /** Content is padded to a 512-byte boundary. */
  #endEntry(): void {
    this.#remaining = -1;
    this.#pad = (512 - (this.#entrySize % 512)) % 512;
  }
}

function tooLarge(what: string, size: number, max: number): BerthError {
  return new BerthError('CHECKPOINT_TOO_LARGE', `${what} is over ${max} bytes (at least ${size}): the change is too large to bring back to the host`, {
    details: { size, max },
  });
}

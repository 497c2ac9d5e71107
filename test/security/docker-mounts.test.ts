/**
 * Attack class: a container spec that binds host paths it must never see. Each case asks the one
 * container-creating path of sessions and pool slots (Containers.create → docker/create.ts →
 * hardening.ts) for a hostile bind — the Docker socket, /etc, a symlink in the worktree pointing
 * at /etc, a real listening unix socket inside the data dir, the git dir writable — and checks
 * that it is refused with MOUNT_REFUSED and that no container exists afterwards (so nothing could
 * ever start with that mount). A positive control proves the same call does create containers.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Containers, type ContainerCreateSpec, type MountSpec } from '../../docker/containers.js';
import { LABEL, RUNNER_VERSION } from '../../docker/labels.js';
import { IMAGES } from '../../src/images.js';
import { describeDocker, docker } from '../helpers/docker.js';

describeDocker('security: hostile bind mounts are refused', () => {
  const tag = `berth-mounts-${randomBytes(4).toString('hex')}`;
  const containers = new Containers(docker());
  let root: string;
  let dataDir: string;
  let worktree: string;
  let gitDir: string;
  let server: Server;
  let n = 0;

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), 'berth-mounts-')));
    dataDir = join(root, 'data');
    worktree = join(dataDir, 'worktrees', 'repo', 'ws');
    gitDir = join(root, 'repo', '.git');
    for (const d of [worktree, gitDir]) mkdirSync(d, { recursive: true });
    // The agent controls the worktree: a symlink to /etc there is one `ln -s` away.
    symlinkSync('/etc', join(worktree, 'escape'));
    // A real listening socket inside an allowed root (say, a service's control socket).
    server = createServer();
    await new Promise<void>((res) => server.listen(join(dataDir, 'evil.sock'), res));
  });

  afterAll(async () => {
    await new Promise<void>((res) => server?.close(() => res()));
    for (const c of await docker().listContainers({ all: true, filters: { label: [`dev.berth.test=${tag}`] } })) {
      await docker()
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined);
    }
    rmSync(root, { recursive: true, force: true });
  });

  function spec(mounts: MountSpec[]): ContainerCreateSpec {
    return {
      name: `${tag}-${++n}`,
      image: IMAGES.busybox,
      user: '0:0',
      env: {},
      labels: { [LABEL.managed]: '1', [LABEL.role]: 'session', [LABEL.runnerVersion]: RUNNER_VERSION, 'dev.berth.test': tag },
      mounts,
      spec: { workdir: '/workspace', network: 'none', resources: { cpus: 0.5, memoryMb: 64, pids: 32 } },
      bindRoots: { dataDir, worktree, gitDir },
    };
  }

  async function expectRefused(mounts: MountSpec[], message: RegExp): Promise<void> {
    const s = spec([{ type: 'bind', source: worktree, target: '/workspace' }, ...mounts]);
    await expect(containers.create(s)).rejects.toMatchObject({ code: 'MOUNT_REFUSED', message: expect.stringMatching(message) });
    expect(await containers.inspect(s.name), `container ${s.name} was created with a hostile mount`).toBeUndefined();
  }

  it('refuses the Docker socket, by either path', async () => {
    await expectRefused([{ type: 'bind', source: '/var/run/docker.sock', target: '/var/run/docker.sock' }], /Docker socket/);
    await expectRefused([{ type: 'bind', source: '/run/docker.sock', target: '/sock', readOnly: true }], /Docker socket/);
  });

  it('refuses a directory that contains the Docker socket', async () => {
    await expectRefused([{ type: 'bind', source: '/run', target: '/hostrun', readOnly: true }], /Docker socket/);
  });

  it('refuses host paths outside the allowed roots (/etc, /)', async () => {
    await expectRefused([{ type: 'bind', source: '/etc', target: '/hostetc' }], /outside the paths a container may see/);
    await expectRefused([{ type: 'bind', source: '/', target: '/host', readOnly: true }], /Docker socket|outside/);
  });

  it('refuses a symlink in the worktree that points at /etc', async () => {
    await expectRefused([{ type: 'bind', source: join(worktree, 'escape'), target: '/cfg' }], /\(\/etc\) is outside/);
  });

  it('refuses a listening unix socket even inside the data dir', async () => {
    await expectRefused([{ type: 'bind', source: join(dataDir, 'evil.sock'), target: '/evil.sock' }], /is a socket/);
  });

  it('admits the git dir read-only only', async () => {
    await expectRefused([{ type: 'bind', source: gitDir, target: gitDir }], /outside/);
  });

  it('control: the worktree and a read-only git dir are mounted, by their real paths', async () => {
    const link = join(root, 'link-to-worktree');
    symlinkSync(worktree, link);
    const s = spec([
      { type: 'bind', source: link, target: '/workspace' },
      { type: 'bind', source: gitDir, target: gitDir, readOnly: true },
    ]);
    const id = await containers.create(s);
    const i = await docker().getContainer(id).inspect();
    const binds = i.Mounts.map((m) => [m.Source, m.Destination, m.RW]);
    expect(binds).toEqual(
      expect.arrayContaining([
        [worktree, '/workspace', true],
        [gitDir, gitDir, false],
      ]),
    );
    expect(binds).toHaveLength(2);
  });
});

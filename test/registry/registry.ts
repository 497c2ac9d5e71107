// A real registry for the pull suites: Debian's `docker-registry` (the CNCF distribution registry)
// on 127.0.0.1 with a temp config and storage, optionally behind htpasswd (bcrypt) auth. The Docker
// engine treats 127.0.0.0/8 registries as insecure by default, so plain HTTP works.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docker, imageExists } from '../../docker/client.js';
import { followProgress } from '../../docker/progress.js';
import { IMAGES } from '../../src/images.js';

export interface Registry {
  readonly host: string;
  readonly stop: () => Promise<void>;
}

/** Install docker-registry and htpasswd from Debian's mirror when missing (CI runs as root). */
export function ensureRegistryTools(): void {
  const missing = ['/usr/bin/docker-registry', '/usr/bin/htpasswd'].filter((p) => !existsSync(p));
  if (missing.length === 0) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', '--no-install-recommends', 'docker-registry', 'apache2-utils'],
  ]) {
    const r = spawnSync('apt-get', args, { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`installing docker-registry/apache2-utils failed (apt-get ${args.join(' ')}): ${r.stderr}. Install them as root.`);
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export async function startRegistry(auth?: { user: string; password: string }): Promise<Registry> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-registry-'));
  const port = await freePort();
  let authBlock = '';
  if (auth) {
    const r = spawnSync('htpasswd', ['-Bbn', auth.user, auth.password], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`htpasswd failed: ${r.stderr}`);
    await writeFile(join(dir, 'htpasswd'), r.stdout);
    authBlock = `auth:\n  htpasswd:\n    realm: berth-test\n    path: ${join(dir, 'htpasswd')}\n`;
  }
  await writeFile(
    join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${authBlock}`,
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const host = `127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const ok = await fetch(`http://${host}/v2/`).then(
      (r) => r.status === 200 || r.status === 401,
      () => false,
    );
    if (ok) break;
    if (i > 100 || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`docker-registry did not start on ${host}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host,
    stop: async () => {
      if (child.exitCode === null) {
        const closed = new Promise((r) => child.once('close', r));
        child.kill('SIGTERM');
        await closed;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Push `ref` (`<registry host>/<repo>:<tag>`): busybox plus a layer of `bytes` random bytes, so a
 * pull must download it (a layer the engine still had would only say "Already exists"); then
 * delete the local copy. `auth` logs in to a registry started with htpasswd auth.
 */
export async function pushAndForget(ref: string, bytes: number, auth?: { username: string; password: string }): Promise<void> {
  const client = docker();
  const c = await client.createContainer({
    Image: IMAGES.busybox,
    Cmd: ['sh', '-c', `head -c ${bytes} /dev/urandom > /blob`],
    HostConfig: { NetworkMode: 'none' },
  });
  try {
    await c.start();
    const { StatusCode } = (await c.wait()) as { StatusCode: number };
    if (StatusCode !== 0) throw new Error(`writing the random layer of ${ref} exited ${StatusCode}`);
    await c.commit({ repo: ref.slice(0, ref.lastIndexOf(':')), tag: ref.slice(ref.lastIndexOf(':') + 1) });
  } finally {
    await c.remove({ force: true });
  }
  const host = ref.slice(0, ref.indexOf('/'));
  const stream = await client.getImage(ref).push({ authconfig: { ...(auth ?? {}), serveraddress: host } });
  await followProgress(client, stream, (detail) => new Error(`pushing ${ref} failed: ${detail}`));
  await client.getImage(ref).remove();
  if (await imageExists(ref)) throw new Error(`${ref} is still on the engine after its removal`);
}

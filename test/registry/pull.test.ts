// Pulls against a real registry (Debian's docker-registry on 127.0.0.1), with and without
// htpasswd auth: a locally built image is pushed, its local copy deleted, then pulled back by
// reference through berth, with progress. Failures (no credentials, wrong password, unknown
// image, nothing listening) must be errors with their own codes, never a silent success.
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { docker, imageExists } from '../../docker/client.js';
import { ensureImageRef } from '../../docker/ensure.js';
import { pullImage, type PullProgress } from '../../docker/pull.js';
import { describeDocker } from '../helpers/docker.js';
import { ensureRegistryTools, freePort, pushAndForget, startRegistry, type Registry } from './registry.js';
import { runBerth } from '../helpers/cli.js';

const TAG = `t${process.pid}`;
const USER = 'berth';
const PASSWORD = 'correct horse battery staple';

const temps: string[] = [];
const refs: string[] = [];

async function temp(prefix: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}

/** A Docker config dir holding `config` as config.json. */
async function dockerConfig(config: unknown): Promise<string> {
  const d = await temp('berth-dockercfg-');
  await writeFile(join(d, 'config.json'), JSON.stringify(config));
  return d;
}

const basic = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString('base64');

/** Push a fresh image `name` with a random 3 MB layer to `host`, recorded for cleanup, and delete it locally. */
async function pushed(host: string, name: string, auth?: { username: string; password: string }): Promise<string> {
  const ref = `${host}/berth-test/${name}:${TAG}`;
  refs.push(ref);
  await pushAndForget(ref, 3_000_000, auth);
  return ref;
}

const berth = (args: string[], cwd: string, env: NodeJS.ProcessEnv) => runBerth(args, { cwd, env: { ...process.env, NO_COLOR: '1', ...env } });

describeDocker('pull by reference from a real registry', () => {
  let open: Registry;
  let locked: Registry;

  beforeAll(async () => {
    ensureRegistryTools();
    open = await startRegistry();
    locked = await startRegistry({ user: USER, password: PASSWORD });
  });

  afterAll(async () => {
    for (const ref of refs)
      await docker()
        .getImage(ref)
        .remove({ force: true })
        .catch(() => undefined);
    await open?.stop();
    await locked?.stop();
    for (const d of temps) await rm(d, { recursive: true, force: true });
  });

  it('pulls a missing image with per-layer byte progress (no auth)', async () => {
    const ref = await pushed(open.host, 'open');
    const events: PullProgress[] = [];
    const lines: string[] = [];
    expect(await ensureImageRef(ref, { onPullProgress: (p) => events.push(p), onProgress: (l) => lines.push(l) })).toBe(true);
    expect(await imageExists(ref)).toBe(true);
    expect(events.some((e) => e.layer && e.totalBytes && e.totalBytes > 0)).toBe(true);
    expect(lines.some((l) => /layer \w+ Downloading [\d.]+\/[\d.]+ MB/.test(l))).toBe(true);
    // Present now: `missing` does not pull again; `never` accepts it too.
    expect(await ensureImageRef(ref, { pull: 'missing' })).toBe(false);
    expect(await ensureImageRef(ref, { pull: 'never' })).toBe(false);
    await docker().getImage(ref).remove();
    await expect(ensureImageRef(ref, { pull: 'never' })).rejects.toMatchObject({ code: 'IMAGE_MISSING', message: expect.stringMatching(/pull: never/) });
  });

  it('htpasswd registry: anonymous and wrong-password pulls are REGISTRY_UNAUTHORIZED; config auths work', async () => {
    const ref = await pushed(locked.host, 'locked', { username: USER, password: PASSWORD });
    const empty = await dockerConfig({});
    await expect(pullImage(ref, { env: { DOCKER_CONFIG: empty } })).rejects.toMatchObject({
      code: 'REGISTRY_UNAUTHORIZED',
      message: expect.stringContaining('docker login'),
    });
    const wrong = await dockerConfig({ auths: { [locked.host]: { auth: basic(USER, 'nope') } } });
    await expect(pullImage(ref, { env: { DOCKER_CONFIG: wrong } })).rejects.toMatchObject({ code: 'REGISTRY_UNAUTHORIZED' });
    expect(await imageExists(ref)).toBe(false);
    const right = await dockerConfig({ auths: { [locked.host]: { auth: basic(USER, PASSWORD) } } });
    await pullImage(ref, { env: { DOCKER_CONFIG: right } });
    expect(await imageExists(ref)).toBe(true);
  });

  it('DOCKER_AUTH_CONFIG and a credHelpers docker-credential-* helper supply credentials', async () => {
    const ref = await pushed(locked.host, 'helper', { username: USER, password: PASSWORD });
    await pullImage(ref, {
      env: { DOCKER_AUTH_CONFIG: JSON.stringify({ auths: { [locked.host]: { auth: basic(USER, PASSWORD) } } }), DOCKER_CONFIG: await dockerConfig({}) },
    });
    expect(await imageExists(ref)).toBe(true);
    await docker().getImage(ref).remove();

    // A real helper program on PATH, speaking the credential-helper protocol (server URL on stdin).
    const bin = await temp('berth-credhelper-');
    const log = join(bin, 'asked');
    await writeFile(
      join(bin, 'docker-credential-berthtest'),
      `#!/bin/sh\n[ "$1" = get ] || exit 1\nread server\necho "$server" > ${log}\nprintf '{"ServerURL":"%s","Username":"${USER}","Secret":"${PASSWORD}"}' "$server"\n`,
    );
    await chmod(join(bin, 'docker-credential-berthtest'), 0o755);
    const cfg = await dockerConfig({ credHelpers: { [locked.host]: 'berthtest' } });
    await pullImage(ref, { env: { PATH: `${bin}:${process.env.PATH}`, DOCKER_CONFIG: cfg } });
    expect(await imageExists(ref)).toBe(true);
    const { readFile } = await import('node:fs/promises');
    expect((await readFile(log, 'utf8')).trim()).toBe(locked.host);
  });

  it('an unknown image is REGISTRY_NOT_FOUND and a registry nobody serves is REGISTRY_UNREACHABLE', async () => {
    await expect(pullImage(`${open.host}/berth-test/nope:${TAG}`)).rejects.toMatchObject({ code: 'REGISTRY_NOT_FOUND' });
    const closed = await freePort();
    await expect(pullImage(`127.0.0.1:${closed}/berth-test/x:1`)).rejects.toMatchObject({
      code: 'REGISTRY_UNREACHABLE',
      message: expect.stringContaining(`127.0.0.1:${closed}`),
    });
  });

  it('a failure inside the pull stream (a layer blob the registry lost) is an error, not a silent success', async () => {
    const ref = await pushed(open.host, 'broken');
    const repo = 'berth-test/broken';
    const manifest = (await (
      await fetch(`http://${open.host}/v2/${repo}/manifests/${TAG}`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } })
    ).json()) as { layers: { digest: string }[] };
    const own = manifest.layers[manifest.layers.length - 1]!.digest;
    // The engine gets the manifest (HTTP 200, the stream starts), then the blob download fails:
    // that failure only exists as an error event inside the stream.
    expect((await fetch(`http://${open.host}/v2/${repo}/blobs/${own}`, { method: 'DELETE' })).status).toBe(202);
    await expect(pullImage(ref)).rejects.toMatchObject({ message: expect.stringContaining(ref) });
    expect(await imageExists(ref)).toBe(false);
  });

  it('berth test with image: <registry ref> pulls it with progress on stderr; a failed pull exits non-zero', async () => {
    const ref = await pushed(open.host, 'cli');
    const src = await temp('berth-pull-src-');
    await mkdir(join(src, 'sub'));
    await writeFile(join(src, 'berth.yaml'), `image: ${ref}\ninstall: []\ntest: echo pulled-and-ran\n`);
    const ok = await berth(['test', '--source=.'], src, {});
    expect(ok.code, ok.output).toBe(0);
    expect(ok.output).toMatch(/pull .*layer \w+ (Downloading|Pull complete)/);
    expect(ok.output).toContain('pulled-and-ran');

    await writeFile(join(src, 'berth.yaml'), `image: ${open.host}/berth-test/absent:${TAG}\ntest: 'true'\n`);
    const bad = await berth(['test', '--source=.'], src, {});
    expect(bad.code).not.toBe(0);
    expect(bad.output).toMatch(/has no such image/);
  });
});

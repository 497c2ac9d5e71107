// devcontainer.json on the real engine, through the real CLI: a local image with remoteUser,
// containerEnv and lifecycle commands; an unpullable image (fallback, and --strict-image); a
// devcontainer build. The spawned CLI cannot add a test label, so cleanup selects containers by
// each fixture's unique repository path, and removes the image tags this suite made.
import { runBerth, type CliRun } from '../helpers/cli.js';
import { realpathSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { IMAGES } from '../../src/images.js';
import { describeDocker, Dockerode } from '../helpers/docker.js';
import { makeFixture, removeByRepo, type Fixture } from './helpers.js';

function berth(fx: Fixture, args: string[]): Promise<CliRun> {
  return runBerth(args, { cwd: fx.repo, env: { ...process.env, BERTH_DATA_DIR: fx.dataDir, BERTH_STRICT_IMAGE: '' } });
}

const fixtures: Fixture[] = [];
const images: string[] = [];

function fixture(files: Record<string, string>): Fixture {
  const fx = makeFixture('berth-devc-');
  for (const [rel, text] of Object.entries(files)) fx.write(rel, text);
  fx.commitAll('devcontainer');
  fixtures.push(fx);
  return fx;
}

/** Each marker line is "<hook>:<uid>:<FOO>" appended to the worktree, so the order is the file's order. */
const mark = (hook: string) => `echo ${hook}:$(id -u):$FOO >> .lifecycle`;

describeDocker('devcontainer.json in workspaces (real engine, spawned CLI)', () => {
  const tag = `berth-devc-test:${process.pid}`;

  beforeAll(async () => {
    // A tag of a local image, named the way a devcontainer names a registry image.
    const [repo, version] = tag.split(':') as [string, string];
    await new Dockerode().getImage(IMAGES.busybox).tag({ repo, tag: version });
    images.push(tag);
  }, 300_000);

  afterAll(async () => {
    for (const fx of fixtures) await removeByRepo(realpathSync(fx.repo)).catch(() => undefined);
    for (const fx of fixtures) await fx.cleanup();
    const d = new Dockerode();
    for (const ref of images)
      await d
        .getImage(ref)
        .remove({ force: true })
        .catch(() => undefined);
  }, 300_000);

  it('runs the image with remoteUser and containerEnv, and the lifecycle commands in order, postStart at every start', async () => {
    const fx = fixture({
      '.devcontainer/devcontainer.json': `{
        // a local image, under a registry-style name
        "image": "${tag}",
        "remoteUser": "nobody",
        "containerEnv": { "FOO": "bar", },
        "postStartCommand": "${mark('postStart')}",
        "postCreateCommand": { "one": "${mark('postCreate')}" },
        "updateContentCommand": ["sh", "-c", "${mark('updateContent')}"],
        "onCreateCommand": "${mark('onCreate')}",
      }`,
    });
    const first = await berth(fx, ['exec', 'w', '--create', '--', 'cat .lifecycle; id -u; echo "FOO=$FOO"']);
    expect(first.stderr).not.toMatch(/warning/);
    expect(first.code).toBe(0);
    expect(first.stdout).toBe('onCreate:65534:bar\nupdateContent:65534:bar\npostCreate:65534:bar\npostStart:65534:bar\n65534\nFOO=bar\n');
    expect(first.stderr).toContain('berth: onCreateCommand: echo onCreate');

    // Running container: nothing runs again. Stopped and started: only postStart.
    expect((await berth(fx, ['exec', 'w', '--', 'wc -l < .lifecycle'])).stdout.trim()).toBe('4');
    expect((await berth(fx, ['session', 'close', 'w'])).code).toBe(0);
    const again = await berth(fx, ['exec', 'w', '--', 'tail -n 1 .lifecycle; wc -l < .lifecycle']);
    expect(again.stdout).toBe('postStart:65534:bar\n5\n');

    // The output is kept in the setup log.
    const log = await berth(fx, ['exec', 'w', '--', 'cat /var/lib/berth/setup/log']);
    expect(log.stdout).toMatch(/\$ echo onCreate:.*# onCreateCommand, nobody/);
  }, 300_000);

  it('falls back to the detected image with one warning naming both when the image cannot be pulled; --strict-image refuses', async () => {
    const fx = fixture({
      '.devcontainer.json': JSON.stringify({
        image: '127.0.0.1:1/nope:1',
        remoteUser: 'vscode',
        // What a real onCreate download does on network none: the name does not resolve.
        postCreateCommand: `node -e "require('https').get('https://registry.example.com/x').on('error', (e) => { console.error(e.message); process.exit(3); })"`,
      }),
    });
    const strict = await berth(fx, ['exec', 'strict', '--create', '--strict-image', '--', 'true']);
    expect(strict.code).toBe(125);
    expect(strict.stderr).toMatch(/127\.0\.0\.1:1\/nope:1.*--strict-image forbids falling back to the detected image berth-node:bookworm-1/);
    const early = await berth(fx, ['ws', 'create', 'early', '--strict-image']);
    expect(early.code).not.toBe(0);
    expect(early.stderr).toMatch(/--strict-image forbids falling back/);
    const list = (await berth(fx, ['ws', 'list', '--json'])).stdout;
    expect(list).not.toContain('"strict"');
    expect(list).not.toContain('"early"');

    const r = await berth(fx, ['exec', 'w', '--create', '--', 'id -u']);
    expect(r.code).toBe(0);
    // The named remoteUser belonged to the unavailable image: the session runs as berth's default user.
    expect(r.stdout).toBe('65532\n');
    const fallback = r.stderr.split('\n').filter((l) => /using the detected image/.test(l));
    expect(fallback).toHaveLength(1);
    expect(fallback[0]).toMatch(
      /names image 127\.0\.0\.1:1\/nope:1, .*REGISTRY_UNREACHABLE.*using the detected image berth-node:bookworm-1 instead \(and not its user vscode/,
    );
    // The lifecycle command failed for lack of network: reported as such, not fatal.
    expect(r.stderr).toMatch(/postCreateCommand .* failed \(exit \d+\).* It failed for lack of network: .*`network: host` in berth\.yaml/);

    // The next open reuses the container on the fallback image: no retry of the registry, no repeated warnings.
    const again = await berth(fx, ['exec', 'w', '--', 'echo again']);
    expect(again).toMatchObject({ code: 0, stdout: 'again\n' });
    expect(again.stderr).not.toMatch(/warning|postCreateCommand/);
  }, 300_000);

  it('builds a devcontainer Dockerfile FROM a local image and uses it; an unpullable FROM falls back', async () => {
    const fx = fixture({
      '.devcontainer/devcontainer.json': '{ "build": { "dockerfile": "Dockerfile", "context": "..", "args": { "WHO": "devc" } } }',
      '.devcontainer/Dockerfile': `FROM ${IMAGES.busybox}\nARG WHO\nCOPY README.md /from-context\nRUN echo "built by $WHO" > /built\n`,
    });
    const spec = JSON.parse((await berth(fx, ['spec', '--json'])).stdout) as { spec: { image: string; build: { dockerfile: string; context: string } } };
    images.push(spec.spec.image);
    expect(spec.spec.build).toMatchObject({ dockerfile: '.devcontainer/Dockerfile', context: '.' });
    const r = await berth(fx, ['exec', 'w', '--create', '--', 'cat /built /from-context']);
    expect(r.stderr).not.toMatch(/using the detected image/);
    expect(r.stdout).toBe('built by devc\n# fixture\n');
    expect(r.code).toBe(0);

    const bad = fixture({
      '.devcontainer/devcontainer.json': '{ "build": { "dockerfile": "Dockerfile" } }',
      '.devcontainer/Dockerfile': 'FROM 127.0.0.1:1/nope:1\n',
    });
    const fb = await berth(bad, ['exec', 'w', '--create', '--', 'echo ok']);
    expect(fb.stdout).toBe('ok\n');
    expect(fb.stderr).toMatch(
      /names the image built from \.devcontainer\/Dockerfile, which is not available here \(IMAGE_BUILD_FAILED.*using the detected image berth-node:bookworm-1/,
    );
  }, 300_000);
});

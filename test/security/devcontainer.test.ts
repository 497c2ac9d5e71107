// Attack class: a hostile devcontainer.json in the repository (berth reads it from a checkout the
// agent, or whoever published the repository, controls). Each case performs the attack for real
// through the spawned CLI on the real engine and checks the host afterwards:
//  - bind mounts of /, /etc, the repository's parent and a committed symlink to /etc must not be
//    applied (the container's real mounts are inspected);
//  - initializeCommand, which would write a marker on the host, must not run without
//    --allow-host-commands (and does with it: the control that proves the command is real);
//  - a devcontainer.json (or .devcontainer folder) that is a symlink to a file outside the
//    repository must be refused before it is parsed: its secret and its host command never land.
import { runBerth, type CliRun } from '../helpers/cli.js';
import { existsSync, mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { IMAGES } from '../../src/images.js';
import { describeDocker, Dockerode } from '../helpers/docker.js';
import { makeFixture, removeByRepo, type Fixture } from '../runner/helpers.js';

function berth(fx: Fixture, args: string[]): Promise<CliRun> {
  return runBerth(args, { cwd: fx.repo, env: { ...process.env, BERTH_DATA_DIR: fx.dataDir } });
}

const fixtures: Fixture[] = [];
function fixture(): Fixture {
  const fx = makeFixture('berth-sec-devc-');
  fixtures.push(fx);
  return fx;
}

describeDocker('security: hostile devcontainer.json', () => {
  afterAll(async () => {
    for (const fx of fixtures) await removeByRepo(realpathSync(fx.repo)).catch(() => undefined);
    for (const fx of fixtures) await fx.cleanup();
  }, 300_000);

  it('host bind mounts are not applied and initializeCommand does not run on the host without consent', async () => {
    const fx = fixture();
    const marker = join(fx.root, 'host-marker');
    fx.write('data/inside.txt', 'inside\n');
    symlinkSync('/etc', join(fx.repo, 'etc-link'));
    fx.write(
      '.devcontainer/devcontainer.json',
      JSON.stringify({
        image: IMAGES.busybox,
        initializeCommand: `touch ${marker}`,
        mounts: [
          'source=/,target=/host,type=bind',
          { type: 'bind', source: '/etc', target: '/hostetc' },
          'source=${localWorkspaceFolder}/..,target=/up,type=bind',
          'source=${localWorkspaceFolder}/etc-link,target=/linked,type=bind',
          'source=${localWorkspaceFolder}/data,target=/data,type=bind',
        ],
      }),
    );
    fx.commitAll('hostile devcontainer');

    const r = await berth(fx, [
      'exec',
      'w',
      '--create',
      '--',
      'for d in /host /hostetc /up /linked; do [ -e $d/passwd ] || [ -e $d/etc ] || [ -e $d/repo ] && echo "LEAK $d"; done; cat /data/inside.txt',
    ]);
    expect(r.stdout).not.toContain('LEAK');
    expect(r.stdout).toBe('inside\n');
    expect(r.code).toBe(0);
    expect(existsSync(marker)).toBe(false);
    expect(r.stderr).toMatch(/initializeCommand "touch .*host-marker" was not run: it runs on your machine.*--allow-host-commands/);
    for (const m of ['mounts[0]', 'mounts[1]', 'mounts[2]']) expect(r.stderr).toContain(`${m} `);
    expect(r.stderr).toMatch(/devcontainer mount etc-link -> \/linked skipped: etc-link leads outside the workspace/);

    // The container's real mounts: every bind is the worktree, something under it, or berth's own.
    const list = await new Dockerode().listContainers({ all: true, filters: { label: [`dev.berth.repo=${realpathSync(fx.repo)}`] } });
    expect(list).toHaveLength(1);
    const info = await new Dockerode().getContainer(list[0]!.Id).inspect();
    const binds = info.Mounts.filter((m) => m.Type === 'bind');
    const targets = binds.map((m) => m.Destination);
    expect(targets).toContain('/data');
    for (const t of ['/host', '/hostetc', '/up', '/linked']) expect(targets).not.toContain(t);
    for (const b of binds) expect(b.Source === '/' || b.Source === '/etc' || b.Source === realpathSync(fx.root)).toBe(false);

    // Control: with consent the same command does write the marker (so the check above is real).
    const allowed = await berth(fx, ['exec', 'w2', '--create', '--allow-host-commands', '--', 'true']);
    expect(allowed.code).toBe(0);
    expect(existsSync(marker)).toBe(true);
  }, 300_000);

  it('a devcontainer.json symlinked to a file outside the repository is refused before it is read', async () => {
    const fx = fixture();
    const outside = join(fx.root, 'outside');
    const marker = join(fx.root, 'symlink-marker');
    mkdirSync(outside, { recursive: true });
    writeFileSync(
      join(outside, 'devcontainer.json'),
      JSON.stringify({ image: IMAGES.busybox, containerEnv: { LEAK: 'host-secret-4711' }, initializeCommand: `touch ${marker}` }),
    );
    mkdirSync(join(fx.repo, '.devcontainer'));
    symlinkSync(join(outside, 'devcontainer.json'), join(fx.repo, '.devcontainer', 'devcontainer.json'));
    fx.commitAll('symlinked devcontainer');

    const spec = await berth(fx, ['spec']);
    expect(spec.code).not.toBe(0);
    expect(spec.stdout).not.toContain('host-secret-4711');
    expect(spec.stderr).toMatch(/\.devcontainer\/devcontainer\.json is a symlink to .*outside the repository/);

    const r = await berth(fx, ['exec', 'w', '--create', '--allow-host-commands', '--', 'echo "LEAK=$LEAK"']);
    expect(r.code).not.toBe(0);
    expect(r.stdout).not.toContain('host-secret-4711');
    expect(existsSync(marker)).toBe(false);

    // The folder itself as the link: the same refusal.
    const dir = fixture();
    symlinkSync(outside, join(dir.repo, '.devcontainer'));
    dir.commitAll('symlinked folder');
    const viaDir = await berth(dir, ['spec']);
    expect(viaDir.code).not.toBe(0);
    expect(viaDir.stdout).not.toContain('host-secret-4711');
    expect(viaDir.stderr).toMatch(/\.devcontainer is a symlink to .*outside the repository/);

    // A link that stays inside the repository is followed (through the same safe reader).
    const ok = fixture();
    ok.write('config/dc.json', '{ "image": "berth-busybox:1", "containerEnv": { "INSIDE": "yes" } }');
    symlinkSync('config/dc.json', join(ok.repo, '.devcontainer.json'));
    ok.commitAll('inside link');
    const inside = await berth(ok, ['spec', '--json']);
    expect(inside.code).toBe(0);
    expect((JSON.parse(inside.stdout) as { spec: { env: Record<string, string> } }).spec.env.INSIDE).toBe('yes');
  }, 300_000);
});

// The exec/session/gc/shell commands as a user runs them: the real CLI binary, spawned, on a temp
// repository whose berth.yaml picks the busybox image. The spawned CLI cannot add a test label,
// so cleanup selects the containers by the fixture's unique repository path label.
import { runBerth, type CliRun } from '../helpers/cli.js';
import { realpathSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { IMAGES } from '../../src/images.js';
import { describeDocker } from '../helpers/docker.js';
import { containerState, makeFixture, removeByRepo, type Fixture } from './helpers.js';

describeDocker('berth exec / session / gc / shell (spawned CLI)', () => {
  let fx: Fixture;
  let repo: string;

  function berth(args: string[], input = ''): Promise<CliRun> {
    return runBerth(args, { cwd: fx.repo, env: { ...process.env, BERTH_DATA_DIR: fx.dataDir }, input });
  }

  beforeAll(() => {
    fx = makeFixture('berth-cli-');
    fx.write('berth.yaml', `image: ${IMAGES.busybox}\nresources:\n  memoryMb: 256\n  pids: 256\n`);
    fx.commitAll('berth.yaml');
    repo = realpathSync(fx.repo);
  });

  afterAll(async () => {
    if (repo) await removeByRepo(repo);
    await fx?.cleanup();
  });

  it('session open creates the workspace and its container', async () => {
    const r = await berth(['session', 'open', 'demo', '--create', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { session: { containerId: string; workdir: string }; created: { container: boolean } };
    expect(out.created.container).toBe(true);
    expect(out.session.workdir).toBe('/workspace');
    expect((await containerState(out.session.containerId))?.running).toBe(true);
  });

  it('exec streams output, passes the exit code through, and keeps shell state across CLI calls', async () => {
    const r = await berth(['exec', 'demo', '--', 'cd /tmp && echo hi && echo err >&2; exit 7']);
    expect(r.code).toBe(7);
    expect(r.stdout).toBe('hi\n');
    expect(r.stderr).toContain('err\n');
    const again = await berth(['exec', 'demo', '--', 'pwd']);
    expect(again).toMatchObject({ code: 0, stdout: '/tmp\n' });
  });

  it('exec quotes several arguments literally and prints JSON with --json', async () => {
    const r = await berth(['exec', 'demo', '--json', '--', 'printf', '%s|', 'a b', '$HOME', "it's"]);
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout) as { stdout: string; exitCode: number; shell: string };
    expect(res).toMatchObject({ stdout: "a b|$HOME|it's|", exitCode: 0, shell: 'main' });
  });

  it('exec --timeout exits 124, --fresh ignores shell state, berth failures exit 125', async () => {
    const t = await berth(['exec', 'demo', '--timeout', '1s', '--', 'sleep 30']);
    expect(t.code).toBe(124);
    expect(t.stderr).toContain('timed out');
    const f = await berth(['exec', 'demo', '--fresh', '--', 'pwd']);
    expect(f).toMatchObject({ code: 0, stdout: '/workspace\n' });
    const missing = await berth(['exec', 'nope', '--', 'true']);
    expect(missing.code).toBe(125);
    expect(missing.stderr).toMatch(/workspace "nope" does not exist/);
    const bad = await berth(['exec', 'demo', '--timeout', 'soon', '--', 'true']);
    expect(bad.code).toBe(2);
  });

  it('session list/close and resume on the next exec', async () => {
    const list = await berth(['session', 'list', '--json']);
    const rows = (JSON.parse(list.stdout) as { sessions: { name: string; state: string; containerId: string }[] }).sessions;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ name: 'demo', state: 'running' });
    const close = await berth(['session', 'close', 'demo']);
    expect(close).toMatchObject({ code: 0, stdout: 'demo: stopped\n' });
    expect((await containerState(rows[0]!.containerId))?.running).toBe(false);
    const r = await berth(['exec', 'demo', '--', 'pwd; cat /workspace/src/app.txt']);
    expect(r).toMatchObject({ code: 0, stdout: '/tmp\nhello from the fixture\n' });
  });

  it('shell runs an interactive shell from the saved cwd (stdin piped)', async () => {
    const r = await berth(['shell', 'demo'], 'pwd\necho from-shell\nexit 0\n');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('/tmp');
    expect(r.stdout).toContain('from-shell');
  });

  it('ws delete removes the container; gc reports', async () => {
    const del = await berth(['ws', 'delete', 'demo']);
    expect(del.code).toBe(0);
    const list = await berth(['session', 'list', '--json']);
    expect((JSON.parse(list.stdout) as { sessions: unknown[] }).sessions).toEqual([]);
    const gc = await berth(['gc', '--json']);
    expect(gc.code).toBe(0);
    expect(JSON.parse(gc.stdout)).toMatchObject({ removedContainers: [], skipped: [] });
  });

  it('every command has --help with an example', async () => {
    for (const args of [['exec'], ['gc'], ['session', 'open'], ['session', 'rm']]) {
      const r = await berth([...args, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Example/);
    }
  });
});

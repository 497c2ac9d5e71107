// The http-server corpus failure, reproduced without the corpus (test/fixtures/loopback/servers.cjs)
// in real berth workspaces on both networks a session may have (host: how the corpus runs Node
// repositories; none: the default). What it shows:
//   - loopback HTTP the way that suite does it (servers on port 0 / dual-stack `::`, clients on
//     `localhost`, many in parallel) works in a session on either network: no reset, no refusal;
//   - the failure's cause is the server's own 120 ms socket timeout meeting a stall in the test
//     process: with a stall after accept, a 120 ms timeout resets every request and the intended
//     120 s timeout serves them all, on host and none alike. berth's hardening plays no part.
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { nodeImage, DEFAULT_NODE_MAJOR } from '../../src/images.js';
import { describeDocker } from '../helpers/docker.js';

const BIN = fileURLToPath(new URL('../../bin/berth.js', import.meta.url));
const SCRIPT = fileURLToPath(new URL('../fixtures/loopback/servers.cjs', import.meta.url));

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', rej);
    child.on('close', (code) => res({ code, out }));
  });
}

describeDocker('loopback HTTP in a session (the http-server corpus failure, without the corpus)', () => {
  let root: string;
  let repo: string;
  let env: NodeJS.ProcessEnv;
  const created: string[] = [];
  const berth = (...args: string[]) => run(process.execPath, [BIN, ...args], repo, env);
  /** The script's JSON line from an exec's output. */
  const result = (out: string) => JSON.parse(out.split('\n').find((l) => l.startsWith('{"ok"')) ?? '{}') as { ok?: number; errors?: Record<string, number> };

  beforeAll(async () => {
    root = await realpath(await mkdtemp(join(tmpdir(), 'berth-loopback-')));
    repo = join(root, 'repo');
    env = { BERTH_DATA_DIR: join(root, 'data') };
    const git = (...a: string[]) => run('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', '-c', 'commit.gpgSign=false', ...a], repo);
    await run('git', ['init', '-q', '-b', 'main', repo], root);
    await copyFile(SCRIPT, join(repo, 'servers.cjs'));
    await writeFile(join(repo, 'berth.yaml'), `image: ${nodeImage(DEFAULT_NODE_MAJOR).ref}\n`);
    await git('add', '-A');
    expect((await git('commit', '-q', '-m', 'loopback fixture')).code).toBe(0);
  }, 60_000);

  afterAll(async () => {
    for (const ws of created) {
      const r = await berth('ws', 'delete', ws);
      if (r.code !== 0) console.error(`cleanup: berth ws delete ${ws} failed:\n${r.out}`);
    }
    await rm(root, { recursive: true, force: true });
  }, 120_000);

  for (const network of ['host', 'none'] as const) {
    it(`network ${network}: parallel localhost requests to port-0 servers all succeed; a 120 ms server timeout plus a stall resets them`, async () => {
      // The spec is read from the checkout when the workspace is created.
      await writeFile(join(repo, 'berth.yaml'), `image: ${nodeImage(DEFAULT_NODE_MAJOR).ref}\nnetwork: ${network}\n`);
      const ws = `loopback-${network}`;
      const c = await berth('ws', 'create', ws);
      expect(c.code, c.out).toBe(0);
      created.push(ws);

      const many = await berth('exec', ws, '--', 'node servers.cjs 40 10');
      expect(many.code, many.out).toBe(0);
      expect(result(many.out), many.out).toEqual({ ok: 400, errors: {} });

      const short = await berth('exec', ws, '--', 'node servers.cjs 2 3 120 300');
      expect(result(short.out), short.out).toEqual({ ok: 0, errors: { ECONNRESET: 6 } });

      const intended = await berth('exec', ws, '--', 'node servers.cjs 2 3 120000 300');
      expect(result(intended.out), intended.out).toEqual({ ok: 6, errors: {} });
    }, 240_000);
  }
});

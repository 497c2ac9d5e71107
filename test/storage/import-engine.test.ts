/**
 * `berth ws import --engine` with two real engines (this machine's and the second engine of
 * scripts/second-engine.sh): the imported workspace records the engine it landed on, so a later
 * process (a new EngineSet, as after a restart) finds it there; an unknown engine is refused before
 * anything is written; without --engine a configured set places it and records the choice.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineSet, parseEngineList } from '../../docker/engines.js';
import { engineOfInfo } from '../../runner/session/index.js';
import { Workspaces } from '../../src/workspace/index.js';
import { envWithout, runBerth } from '../helpers/cli.js';
import { dockerAvailable } from '../helpers/docker.js';
import { secondEngine, stopSecondEngine, type SecondEngine } from '../engines/helpers.js';
import { makeRepo } from './fixtures.js';
import { BUCKET, GOOD_CREDENTIALS, startS3, type TestS3 } from './harness.js';

const ENGINE_ONE = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST : 'unix:///var/run/docker.sock';
const e2 = dockerAvailable ? secondEngine() : { reason: 'no Docker engine' };
const ready = 'sock' in e2;

const berth = (args: string[], env: Record<string, string>) => runBerth(args, { env: { ...envWithout('AWS_', 'BERTH_', 'GIT_'), ...env } });

describe.skipIf(!ready)(`berth ws import onto an engine${ready ? '' : ` [skipped: ${(e2 as { reason: string }).reason}]`}`, () => {
  const two = e2 as SecondEngine;
  let root: string;
  let s3: TestS3;
  let env: Record<string, string>;
  let entries: { id: string; host: string }[];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-import-engine-'));
    s3 = await startS3();
    entries = [
      { id: 'local', host: ENGINE_ONE },
      { id: 'two', host: `unix://${two.sock}` },
    ];
    env = {
      BERTH_DATA_DIR: join(root, 'data'),
      BERTH_ENGINES: JSON.stringify(entries),
      BERTH_S3_ENDPOINT: s3.endpoint,
      AWS_ACCESS_KEY_ID: GOOD_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: GOOD_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
    };
  }, 180_000);

  afterAll(async () => {
    await s3?.stop();
    if (root) await rm(root, { recursive: true, force: true });
    stopSecondEngine(e2);
  }, 120_000);

  it('records --engine in the state (found there by a later process), refuses an unknown one, places without it', async () => {
    const repo = join(root, 'repo');
    await mkdir(repo);
    await makeRepo(repo);
    await using ws = await Workspaces.open(repo, { dataDir: env.BERTH_DATA_DIR });
    const { workspace } = await ws.create('orig');
    await writeFile(join(workspace.worktree, 'untracked.txt'), 'moved between engines\n');
    const url = `s3://${BUCKET}/engine/one`;
    const exp = await berth(['ws', 'export', 'orig', url, '--repo', repo, '--json'], env);
    expect(exp.code, exp.stderr).toBe(0);
    expect((await berth(['ws', 'delete', 'orig', '--repo', repo], env)).code).toBe(0);

    // An unknown engine: berth's own error, and no workspace appears.
    const bad = await berth(['ws', 'import', url, '--name', 'copy', '--engine', 'nope', '--repo', repo, '--json'], env);
    expect(bad.code).not.toBe(0);
    expect(JSON.parse(bad.stdout)).toMatchObject({ error: { code: 'ENGINE_CONFIG' } });
    expect(await ws.find('copy')).toBeUndefined();

    const imp = await berth(['ws', 'import', url, '--name', 'copy', '--engine', 'two', '--repo', repo, '--json'], env);
    expect(imp.code, imp.stderr).toBe(0);
    expect(JSON.parse(imp.stdout)).toMatchObject({ engine: 'two', workspace: { name: 'copy' } });
    const copy = await ws.get('copy');
    expect(copy.extra.engine).toBe('two');
    expect(await readFile(join(copy.worktree, 'untracked.txt'), 'utf8')).toBe('moved between engines\n');
    // A fresh engine set (a restarted runner or CLI) resolves the workspace to engine two, not the first.
    const later = EngineSet.of(parseEngineList(entries, 'test'));
    expect(engineOfInfo(later, copy).id).toBe('two');
    // One copy of an export per repository: each import below replaces the previous one.
    expect((await berth(['ws', 'delete', 'copy', '--repo', repo], env)).code).toBe(0);
    const human = await berth(['ws', 'import', url, '--name', 'copy-human', '--engine', 'two', '--repo', repo], env);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain('engine    two');
    expect((await berth(['ws', 'delete', 'copy-human', '--repo', repo], env)).code).toBe(0);

    // Without --engine, the configured set places it and the choice is recorded.
    const placed = await berth(['ws', 'import', url, '--name', 'placed', '--repo', repo, '--json'], env);
    expect(placed.code, placed.stderr).toBe(0);
    const where = (JSON.parse(placed.stdout) as { engine: string }).engine;
    expect(['local', 'two']).toContain(where);
    expect((await ws.get('placed')).extra.engine).toBe(where);
  }, 300_000);
});

/** `berth ws export` / `berth ws import` as a user runs them: the real CLI against s3rver. */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Workspaces } from '../../src/workspace/index.js';
import { envWithout, runBerth } from '../helpers/cli.js';
import { makeRepo } from './fixtures.js';
import { BUCKET, GOOD_CREDENTIALS, startS3, type TestS3 } from './harness.js';

let root: string;
let s3: TestS3;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-transfer-cli-'));
  s3 = await startS3();
});

afterAll(async () => {
  await s3?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

const berth = (args: string[], env: Record<string, string>) => runBerth(args, { env: { ...envWithout('AWS_', 'BERTH_S3_', 'GIT_'), ...env } });

describe('berth ws export / import (CLI)', () => {
  it('exports and imports with settings from the environment, and explains failures', async () => {
    const repo = join(root, 'repo');
    const dataDir = join(root, 'data');
    await mkdir(repo);
    await makeRepo(repo);
    await using ws = await Workspaces.open(repo, { dataDir });
    const { workspace } = await ws.create('cli');
    await writeFile(join(workspace.worktree, 'untracked.txt'), 'from the cli test\n');
    const env = {
      BERTH_DATA_DIR: dataDir,
      BERTH_S3_ENDPOINT: s3.endpoint,
      AWS_ACCESS_KEY_ID: GOOD_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: GOOD_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
    };
    const url = `s3://${BUCKET}/cli/one`;

    const exp = await berth(['ws', 'export', 'cli', url, '--repo', repo, '--json'], env);
    expect(exp.code, exp.stderr).toBe(0);
    expect(JSON.parse(exp.stdout)).toMatchObject({ url, manifest: { workspace: { name: 'cli' } } });

    // One copy per repository: the original goes first (it lives on in the bucket).
    expect((await berth(['ws', 'delete', 'cli', '--repo', repo], env)).code).toBe(0);
    const imp = await berth(['ws', 'import', url, '--name', 'cli-copy', '--repo', repo], env);
    expect(imp.code, imp.stderr).toBe(0);
    expect(imp.stdout).toContain('Imported workspace cli-copy');
    const copy = await ws.get('cli-copy');
    expect(await readFile(join(copy.worktree, 'untracked.txt'), 'utf8')).toBe('from the cli test\n');

    // A missing export is an error with a remedy, not "Nothing to restore" and exit 0.
    const nothing = await berth(['ws', 'import', `s3://${BUCKET}/cli/none`, '--repo', repo], env);
    expect(nothing.code).toBe(1);
    expect(nothing.stdout).toBe('');
    expect(nothing.stderr).toContain(`there is no export at s3://${BUCKET}/cli/none`);
    expect(nothing.stderr).toContain('check the bucket and prefix');
    const nothingJson = await berth(['ws', 'import', `s3://${BUCKET}/cli/none`, '--repo', repo, '--json'], env);
    expect(nothingJson.code).toBe(1);
    expect(JSON.parse(nothingJson.stdout)).toMatchObject({ error: { code: 'NOT_FOUND' } });

    const badBucket = await berth(['ws', 'export', 'cli', 's3://Not_A_Bucket/x', '--repo', repo], env);
    expect(badBucket.code).toBe(1);
    expect(badBucket.stderr).toContain('invalid bucket name "Not_A_Bucket"');

    const badKey = await berth(['ws', 'export', 'cli-copy', url, '--repo', repo, '--json'], { ...env, AWS_SECRET_ACCESS_KEY: 'wrong' });
    // STORAGE_ERROR is an environment error (src/errors.ts): exit 3.
    expect(badKey.code).toBe(1);
    expect(JSON.parse(badKey.stdout)).toMatchObject({ error: { code: 'STORAGE_ERROR' } });
  }, 120_000);
});

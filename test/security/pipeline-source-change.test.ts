// Attack/fault: files of the agent's tree vanish or shrink while berth copies it into a pipeline.
// The copy must fail with one BerthError (FS_ERROR), never an unhandled stream `error` that kills
// the process (`berth mcp` died this way) or a run that leaves labelled containers behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, realpath, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listSource, packSource, repoKey, runPipeline } from '../../pipelines/index.js';
import { IMAGES } from '../../src/images.js';
import { describeDocker } from '../helpers/docker.js';
import { pipelineContainers, pipelineSpec } from '../pipelines/helpers.js';

const BIN = fileURLToPath(new URL('../../bin/berth.js', import.meta.url));
const CHURN_FILES = 1500;
let tmp: string;

beforeAll(async () => {
  tmp = await realpath(await mkdtemp(join(tmpdir(), 'berth-change-')));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Drain a stream; resolve with the error it was destroyed with (undefined when it ended). */
async function drain(stream: NodeJS.ReadableStream): Promise<unknown> {
  return new Promise((resolve) => {
    stream.on('data', () => {});
    stream.on('end', () => resolve(undefined));
    stream.on('error', (err) => resolve(err));
  });
}

describe('the source copy when the tree changes under it', () => {
  it('a file deleted between the listing and the archive fails the stream with FS_ERROR', async () => {
    const dir = join(tmp, 'vanish');
    await mkdir(join(dir, 'sub'), { recursive: true });
    await writeFile(join(dir, 'a.txt'), 'a');
    await writeFile(join(dir, 'sub', 'b.txt'), 'b');
    const listing = await listSource(dir);
    await unlink(join(dir, 'sub', 'b.txt'));
    const err = await drain(packSource(dir, listing));
    expect(err).toMatchObject({ name: 'BerthError', code: 'FS_ERROR', details: { path: 'sub/b.txt' } });
    expect((err as Error).message).toMatch(/changed while berth was copying it: "sub\/b\.txt" vanished/);
  });

  it('a file truncated while it is being read fails the stream with FS_ERROR', async () => {
    const dir = join(tmp, 'shrink');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'big.bin'), Buffer.alloc(8 * 1024 * 1024, 7));
    const stream = packSource(dir, await listSource(dir));
    const done = new Promise<unknown>((resolve) => {
      stream.once('error', resolve);
      stream.once('end', () => resolve(undefined));
    });
    let truncated = false;
    stream.on('data', () => {
      if (truncated) return;
      truncated = true;
      // First bytes are out: the header promised 8 MiB; cut the file under the open handle.
      void truncate(join(dir, 'big.bin'), 0);
    });
    expect(await done).toMatchObject({ code: 'FS_ERROR', message: expect.stringMatching(/"big\.bin" shrank while being read/) });
  });
});

/** Deletes and recreates every file of `dir` in a loop until SIGTERM. */
const CHURN = `
const fs = require('node:fs');
const [dir, n] = [process.argv[1], Number(process.argv[2])];
process.on('SIGTERM', () => process.exit(0));
const batch = () => {
  for (let i = 0; i < n; i++) { try { fs.unlinkSync(dir + '/f' + i); } catch {} }
  for (let i = 0; i < n; i++) { try { fs.writeFileSync(dir + '/f' + i, 'x'); } catch {} }
  setImmediate(batch);
};
batch();
`;

function churn(dir: string): ChildProcess {
  return spawn(process.execPath, ['-e', CHURN, dir, String(CHURN_FILES)], { stdio: 'ignore' });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

function cli(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describeDocker('pipeline runs on a churning tree (real Docker)', () => {
  let dir: string;
  let churner: ChildProcess | undefined;

  beforeAll(async () => {
    dir = join(tmp, 'project');
    await mkdir(join(dir, 'churn'), { recursive: true });
    await writeFile(join(dir, 'berth.yaml'), `image: ${IMAGES.busybox}\ninstall: []\ntest: ls churn | wc -l\n`);
  });
  afterAll(async () => {
    if (churner) await stop(churner);
  });

  it('library and CLI: an error result (FS_ERROR, exit 125), the process lives, no labelled container is left', async () => {
    const repo = repoKey(dir);
    expect(await pipelineContainers(repo)).toEqual([]);
    churner = churn(join(dir, 'churn'));
    const spec = pipelineSpec({
      steps: { build: [], test: ['ls churn | wc -l'], lint: [] },
    });
    const lib: string[] = [];
    const cliRuns: string[] = [];
    try {
      for (let i = 0; i < 8 && !lib.includes('error:FS_ERROR'); i++) {
        const r = await runPipeline({ kind: 'local', dir }, spec, 'test');
        lib.push(r.outcome === 'error' ? `error:${r.error?.code}` : `${r.outcome}:${r.exitCode}`);
        if (r.outcome === 'error') expect(r).toMatchObject({ ok: false, exitCode: 125, failureKind: 'infra', phases: [] });
      }
      for (let i = 0; i < 5 && !cliRuns.includes('125:FS_ERROR'); i++) {
        const r = await cli(['test', `--source=${dir}`, '--json']);
        // Exited on its own with a code (no crash by signal) and printed one JSON result.
        expect(r.signal, r.stderr).toBeNull();
        const json = JSON.parse(r.stdout) as { exitCode: number; error: { code: string } | null };
        expect(json.exitCode).toBe(r.code);
        cliRuns.push(`${r.code}:${json.error?.code ?? 'none'}`);
      }
    } finally {
      await stop(churner);
    }
    expect(
      lib.filter((o) => o !== 'passed:0' && o !== 'error:FS_ERROR'),
      lib.join(' '),
    ).toEqual([]);
    expect(lib, 'the churn must hit at least one library copy').toContain('error:FS_ERROR');
    expect(
      cliRuns.filter((o) => o !== '0:none' && o !== '125:FS_ERROR'),
      cliRuns.join(' '),
    ).toEqual([]);
    expect(cliRuns, 'the churn must hit at least one CLI copy').toContain('125:FS_ERROR');
    expect(await pipelineContainers(repo)).toEqual([]);
  }, 300_000);
});

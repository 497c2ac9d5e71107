/**
 * Attack: while `ws export` archives the untracked files, the agent swaps an untracked directory
 * for a symlink to a host directory holding files of the same names. A path-based reader follows
 * the symlink and puts the host file into the export. A real swapper process races many real
 * exports to s3rver; no archive may ever contain the host secret, and the race must really happen
 * (some archives hold the worktree's own files, and the swapper completed many swaps).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Workspaces } from '../../src/workspace/index.js';
import { ObjectStore } from '../../runner/storage/s3.js';
import { exportWorkspace } from '../../runner/storage/transfer.js';
import { BUCKET, startS3, type TestS3 } from '../storage/harness.js';
import { makeRepo } from '../storage/fixtures.js';

// Few files, so one export reads them within one state of the swapper rather than across a swap.
const FILES = 3;
const EXPORTS = 20;

// Swaps `dir` for a symlink to `host` and back, holding each state ~2 ms, counting swaps.
const SWAPPER = `
const fs = require('fs');
const [dir, host, counter] = process.argv.slice(1);
const nap = new Int32Array(new SharedArrayBuffer(4));
let n = 0;
for (;;) {
  try { fs.renameSync(dir, dir + '.real'); fs.symlinkSync(host, dir); n++; } catch {}
  Atomics.wait(nap, 0, 0, 2);
  try { fs.unlinkSync(dir); fs.renameSync(dir + '.real', dir); } catch {}
  Atomics.wait(nap, 0, 0, 2);
  if (n % 50 === 0) fs.writeFileSync(counter, String(n));
}`;

describe('security: symlink swap during ws export', () => {
  const secret = `HOST-SECRET-${randomBytes(8).toString('hex')}`;
  const real = `WORKTREE-OWN-${randomBytes(8).toString('hex')}`;
  let root: string;
  let s3: TestS3;
  let swapper: ChildProcess | undefined;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-sec-swap-'));
    s3 = await startS3();
  });

  afterAll(async () => {
    swapper?.kill('SIGKILL');
    await s3?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('never puts a host file into the untracked archive', async () => {
    const repo = join(root, 'repo');
    await mkdir(repo);
    await makeRepo(repo);
    await using ws = await Workspaces.open(repo, { dataDir: join(root, 'data') });
    const { workspace } = await ws.create('swap');
    const dir = join(workspace.worktree, 'untracked');
    const host = join(root, 'host');
    await mkdir(dir);
    await mkdir(host);
    for (let i = 0; i < FILES; i++) {
      const name = `f${String(i).padStart(3, '0')}.txt`;
      await writeFile(join(dir, name), `${real}\n`);
      await writeFile(join(host, name), `${secret}\n`);
    }
    const counter = join(root, 'swaps');
    swapper = spawn(process.execPath, ['-e', SWAPPER, dir, host, counter], { stdio: 'ignore' });

    await using store = new ObjectStore(s3.config(), BUCKET);
    let exported = 0;
    let withOwnFiles = 0;
    const leaks: number[] = [];
    for (let i = 0; i < EXPORTS; i++) {
      const res = await exportWorkspace({ workspace, url: `s3://${BUCKET}/swap/${i}`, storage: s3.config() }).catch(() => undefined);
      if (!res) continue;
      exported++;
      const obj = res.manifest.objects.find((o) => o.role === 'untracked');
      if (!obj) continue;
      const tar = gunzipSync((await store.getBytes(`swap/${i}/${obj.key}`, 64 * 1024 * 1024)) as Buffer).toString('latin1');
      if (tar.includes(secret)) leaks.push(i);
      if (tar.includes(real)) withOwnFiles++;
    }
    swapper.kill('SIGKILL');
    swapper = undefined;
    const swaps = Number(await readFile(counter, 'utf8').catch(() => '0'));

    expect(leaks, `exports ${leaks.join(', ')} carried the host secret`).toEqual([]);
    // The race was real: exports went through, read the worktree's files, and the swapper swapped.
    expect(exported).toBeGreaterThan(EXPORTS / 2);
    expect(withOwnFiles).toBeGreaterThan(0);
    expect(swaps).toBeGreaterThan(50);
  }, 300_000);
});

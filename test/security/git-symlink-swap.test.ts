/**
 * Attack: a symlink swap racing host reads. While checkpoint and diff run (50 times), a real
 * background process swaps a directory of the worktree for a symlink to a host directory holding
 * files of the same names with a secret in them, in a tight loop. The secret must never reach the
 * repository (any object, reachable or not) nor any diff output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Workspaces } from '../../src/workspace/index.js';
import { makeRepo, type TempRepo } from '../workspace/helpers/repo.js';

const FILES = 40;
const SECRET = `TOPSECRET-${process.pid}-${Date.now()}`;

let r: TempRepo;
let ws: Workspaces;
let swapper: ChildProcess | undefined;

beforeEach(async () => {
  r = makeRepo();
  ws = await Workspaces.open(r.repo, { dataDir: r.dataDir });
});

afterEach(async () => {
  if (swapper?.pid) {
    try {
      process.kill(-swapper.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await ws.close();
  r.cleanup();
});

/** The host directory the agent wants to read: same file names as the worktree's d/. */
function plantSecret(): string {
  const dir = join(r.root, 'host-secret');
  mkdirSync(dir);
  for (let i = 0; i < FILES; i++) writeFileSync(join(dir, `f${i}.txt`), `${SECRET} ${i}\n`);
  return dir;
}

function startSwapper(wt: string, secretDir: string): ChildProcess {
  // A tight loop of syscalls (no process spawns): d is a real directory whose files are rewritten
  // every few rounds (so git and berth must re-read them), and for a moment a symlink to the
  // secret directory. Each swap is a rename, so the window is as small and as frequent as it gets.
  const loop = `
    const fs = require('node:fs');
    let n = 0;
    for (;;) {
      try {
        if (n++ % 64 === 0) for (let i = 0; i < ${FILES}; i++) fs.writeFileSync('d/f' + i + '.txt', 'benign ' + i + ' ' + n + '\\n');
        fs.renameSync('d', 'd.real');
        fs.symlinkSync(${JSON.stringify(secretDir)}, 'd');
        fs.renameSync('d', 'd.link');
        fs.renameSync('d.real', 'd');
        fs.unlinkSync('d.link');
      } catch {}
    }`;
  const child = spawn(process.execPath, ['-e', loop], { cwd: wt, detached: true, stdio: 'ignore' });
  child.unref();
  return child;
}

/** Every object in the repository (reachable or not) whose content contains the secret. */
function objectsWithSecret(): string[] {
  const all = r.git('cat-file', '--batch-all-objects', '--batch-check=%(objectname) %(objecttype)').split('\n').filter(Boolean);
  const blobs = all.filter((l) => l.endsWith(' blob')).map((l) => l.split(' ')[0] ?? '');
  return blobs.filter((b) => r.git('cat-file', 'blob', b).includes(SECRET));
}

describe('a directory swapped for a symlink to host files while berth reads the worktree', () => {
  it('never stores or prints the host files, over 50 checkpoints and diffs', { timeout: 600_000 }, async () => {
    const { workspace } = await ws.create('swap');
    const wt = workspace.worktree;
    mkdirSync(join(wt, 'd'));
    for (let i = 0; i < FILES; i++) writeFileSync(join(wt, 'd', `f${i}.txt`), `start ${i}\n`);
    await ws.checkpoint('swap', 'start');
    swapper = startSwapper(wt, plantSecret());
    const outputs: string[] = [];
    for (let n = 0; n < 50; n++) {
      // A round may lose the race in harmless ways (a file vanished mid-read): never a leak.
      await ws.checkpoint('swap', `round ${n}`).catch((err: Error) => outputs.push(err.message));
      outputs.push(await ws.diff('swap').catch((err: Error) => err.message));
    }
    process.kill(-(swapper.pid ?? 0), 'SIGKILL');
    swapper = undefined;
    expect(outputs.filter((o) => o.includes(SECRET))).toEqual([]);
    expect(objectsWithSecret()).toEqual([]);
    // The race did run: the loop changed d/ under berth many times.
    expect(Number(r.git('rev-list', '--count', `berth/swap`))).toBeGreaterThan(10);
  });
});

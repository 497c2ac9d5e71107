/**
 * snapshotWorktree (src/git/snapshot.ts) through checkpoint and diff, on real repositories: what a
 * snapshot records for each kind of entry, and what it leaves alone.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Workspaces } from '../../src/workspace/index.js';
import { makeRepo, type TempRepo } from '../workspace/helpers/repo.js';

let r: TempRepo;
let ws: Workspaces;

beforeEach(async () => {
  r = makeRepo();
  ws = await Workspaces.open(r.repo, { dataDir: r.dataDir });
});

afterEach(async () => {
  await ws.close();
  r.cleanup();
});

function tree(sha: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of r.git('ls-tree', '-r', sha).split('\n').filter(Boolean)) {
    const [meta = '', path = ''] = l.split('\t');
    out[path] = meta.split(' ')[0] ?? '';
  }
  return out;
}

describe('snapshotWorktree', () => {
  it('keeps only the executable bit, stores symlinks as their target text, records deletions, skips FIFOs with a warning', async () => {
    const { workspace } = await ws.create('kinds');
    const wt = workspace.worktree;
    writeFileSync(join(wt, 'run.sh'), '#!/bin/sh\n');
    chmodSync(join(wt, 'run.sh'), 0o4775);
    writeFileSync(join(wt, 'plain.txt'), 'plain\n');
    chmodSync(join(wt, 'plain.txt'), 0o666);
    symlinkSync('/etc/passwd', join(wt, 'link'));
    mkdirSync(join(wt, 'dir'));
    symlinkSync('../README.md', join(wt, 'dir', 'up'));
    rmSync(join(wt, 'README.md'));
    // A tracked file replaced by a FIFO is reported and dropped; a new FIFO is invisible to git.
    rmSync(join(wt, 'src', 'app.txt'));
    execFileSync('mkfifo', [join(wt, 'src', 'app.txt')]);
    execFileSync('mkfifo', [join(wt, 'pipe')]);
    writeFileSync(join(wt, 'debug.log'), 'ignored by .gitignore\n');

    const cp = await ws.checkpoint('kinds', 'kinds');
    expect(cp.warnings).toEqual(['src/app.txt is not a regular file, directory or symlink (a FIFO, socket or device): skipped']);
    const t = tree(cp.sha);
    expect(t['run.sh']).toBe('100755');
    expect(t['plain.txt']).toBe('100644');
    expect(t.link).toBe('120000');
    expect(r.git('cat-file', 'blob', `${cp.sha}:link`)).toBe('/etc/passwd');
    expect(r.git('cat-file', 'blob', `${cp.sha}:dir/up`)).toBe('../README.md');
    expect(t['src/app.txt']).toBeUndefined();
    expect(t['README.md']).toBeUndefined();
    expect(t.pipe).toBeUndefined();
    expect(t['debug.log']).toBeUndefined();
    // The worktree's index now matches the commit: git reports nothing (it never sees FIFOs).
    expect(r.gitStatus('-C', wt, 'status', '--porcelain').stdout).toBe('');
    expect((await ws.checkpoint('kinds', 'again')).committed).toBe(false);
  });

  it('diff leaves the worktree index as the agent staged it', async () => {
    const { workspace } = await ws.create('staged');
    const wt = workspace.worktree;
    writeFileSync(join(wt, 'a.txt'), 'a\n');
    execFileSync('git', ['add', 'a.txt'], { cwd: wt });
    writeFileSync(join(wt, 'b.txt'), 'b\n');
    const before = execFileSync('git', ['ls-files', '--stage'], { cwd: wt, encoding: 'utf8' });
    const d = await ws.diff('staged');
    expect(d).toContain('+a');
    expect(d).toContain('+b');
    expect(execFileSync('git', ['ls-files', '--stage'], { cwd: wt, encoding: 'utf8' })).toBe(before);
  });

  it('refuses a checkpoint whose file is over the size cap, naming it, and commits nothing', async () => {
    const { workspace } = await ws.create('huge');
    const head = r.git('rev-parse', 'berth/huge').trim();
    writeFileSync(join(workspace.worktree, 'small.txt'), 'x\n');
    execFileSync('truncate', ['-s', `${101 * 1024 * 1024}`, join(workspace.worktree, 'huge.bin')]);
    await expect(ws.checkpoint('huge', 'x')).rejects.toMatchObject({ code: 'FILE_TOO_LARGE', message: expect.stringContaining('"huge.bin"') });
    expect(r.git('rev-parse', 'berth/huge').trim()).toBe(head);
  });

  it('checkpoints against HEAD when the worktree index is missing, keeping every tracked file', async () => {
    const { workspace } = await ws.create('noindex');
    const admin = r.git('-C', workspace.worktree, 'rev-parse', '--path-format=absolute', '--git-dir').trim();
    rmSync(join(admin, 'index'));
    writeFileSync(join(workspace.worktree, 'README.md'), '# new\n');
    const cp = await ws.checkpoint('noindex', 'x');
    expect(Object.keys(tree(cp.sha)).sort()).toEqual(['.gitignore', 'README.md', 'src/app.txt']);
    expect(r.git('diff', '--name-only', `${cp.sha}~1`, cp.sha).trim()).toBe('README.md');
  });
});

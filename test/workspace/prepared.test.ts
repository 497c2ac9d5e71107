// Prepared worktrees (src/workspace/prepared.ts) on real git repositories: a workspace claimed
// from a worktree checked out ahead of time must be indistinguishable, to git and to berth, from
// one created the cold way in the same kind of directory; a moved base falls back to a fresh
// checkout; discarding never touches a workspace's worktree.
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { Workspaces, type WorkspaceInfo } from '../../src/workspace/index.js';
import { makeRepo, worktreePaths, type TempRepo } from './helpers/repo.js';

let r: TempRepo;
let ws: Workspaces;

beforeEach(async () => {
  r = makeRepo();
  r.write('bin/run.sh', '#!/bin/sh\necho hi\n');
  r.git('update-index', '--add', '--chmod=+x', 'bin/run.sh');
  r.commitAll('an executable');
  ws = await Workspaces.open(r.repo, { dataDir: r.dataDir });
});

afterEach(async () => {
  await ws.close();
  r.cleanup();
});

function slot(name: string): string {
  const dir = join(r.dataDir, 'pool', name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Everything observable about a workspace, with its name, path and unique ids normalised. */
function observe(info: WorkspaceInfo): Record<string, unknown> {
  const wt = info.worktree;
  const g = (...args: string[]) => r.git('-C', wt, ...args);
  const norm = (s: string) => s.split(info.rootSha).join('<root>').split(info.name).join('<name>').split(wt).join('<wt>');
  const entry = r
    .git('worktree', 'list', '--porcelain')
    .split('\n\n')
    .find((b) => b.startsWith(`worktree ${wt}\n`));
  const files = readdirSync(wt, { recursive: true, encoding: 'utf8' })
    .filter((f) => !f.startsWith('.git'))
    .sort()
    .map((f) => {
      const st = lstatSync(join(wt, f));
      return { f, mode: st.mode, uid: st.uid, gid: st.gid, content: st.isFile() ? readFileSync(join(wt, f), 'utf8') : null };
    });
  return {
    info: {
      ...info,
      name: '<name>',
      branch: norm(info.branch),
      rootSha: '<root>',
      head: info.head === info.rootSha ? '<root>' : info.head,
      worktree: '<wt>',
      createdAt: '<t>',
    },
    note: JSON.parse(norm(r.git('notes', '--ref=berth', 'show', info.rootSha).replace(info.createdAt, '<t>'))) as unknown,
    headRef: norm(g('symbolic-ref', 'HEAD').trim()),
    headSha: g('rev-parse', 'HEAD').trim() === info.rootSha,
    rootParent: r.git('rev-parse', `${info.rootSha}^`).trim(),
    rootTree: r.git('rev-parse', `${info.rootSha}^{tree}`).trim(),
    rootMessage: norm(r.git('log', '-1', '--format=%B', info.rootSha)).replace(/Berth-Id: \S+/, 'Berth-Id: <id>'),
    rootAuthor: r.git('log', '-1', '--format=%an <%ae>|%cn <%ce>', info.rootSha),
    worktreeEntry: entry ? norm(entry) : undefined,
    status: g('status', '--porcelain=v1', '--untracked-files=all'),
    index: g('ls-files', '-s'),
    gitFile: norm(readFileSync(join(wt, '.git'), 'utf8')).replace(/worktrees\/[^/\n]+/, 'worktrees/<id>'),
    // git's admin dir for the worktree: the same files (a claim leaves no record of the slot behind).
    adminFiles: readdirSync(
      readFileSync(join(wt, '.git'), 'utf8')
        .replace(/^gitdir: /, '')
        .trim(),
    ).sort(),
    files,
  };
}

it('a workspace claimed from a prepared worktree is indistinguishable from a cold one', async () => {
  const coldDir = slot('cold');
  const warmDir = slot('warm');
  const head = r.git('rev-parse', 'HEAD').trim();
  expect(await ws.prepare(warmDir)).toBe(head);
  expect(await ws.preparedAt(warmDir)).toBe(head);
  // Prepared: files are there, detached, no branch, no workspace.
  expect(readFileSync(join(warmDir, 'src/app.txt'), 'utf8')).toBe('line 1\nline 2\nline 3\n');
  expect(r.git('for-each-ref', 'refs/heads/berth/')).toBe('');
  expect(await ws.list()).toEqual([]);

  const cold = (await ws.create('cold', { worktreeDir: coldDir })).workspace;
  const warm = (await ws.create('warm', { worktreeDir: warmDir, prepared: true })).workspace;
  expect(warm.worktree).toBe(warmDir);
  expect(await ws.preparedAt(warmDir)).toBeUndefined(); // claimed: a branch is attached now
  expect(observe(warm)).toEqual(observe(cold));
  // What berth reads back later (list/show) matches too.
  const [lc, lw] = [await ws.get('cold'), await ws.get('warm')];
  const strip = (i: WorkspaceInfo) => ({ ...i, name: 'x', branch: 'x', rootSha: 'x', head: 'x', worktree: 'x', createdAt: 'x' });
  expect(strip(lw)).toEqual(strip(lc));
  // And the rest of the life cycle works the same: checkpoint, diff, delete.
  r.git('-C', warmDir, 'status'); // a user's git in the worktree sees the branch
  expect(r.git('-C', warmDir, 'branch', '--show-current').trim()).toBe('berth/warm');
  const fs = await import('node:fs/promises');
  await fs.writeFile(join(warmDir, 'new.txt'), 'x\n');
  expect((await ws.get('warm')).dirty).toBe(true);
  expect((await ws.checkpoint('warm', 'add new')).committed).toBe(true);
  expect(await ws.diff('warm')).toContain('new.txt');
  await ws.delete('warm');
  await ws.delete('cold');
  expect(readdirSync(warmDir)).toEqual([]);
  expect(worktreePaths(r)).toEqual([r.repo]);
});

it('when the base moved since the slot was prepared, the files are checked out afresh at the new base', async () => {
  const dir = slot('moved');
  const old = await ws.prepare(dir);
  r.write('later.txt', 'later\n');
  const now = r.commitAll('later');
  expect(now).not.toBe(old);
  const w = (await ws.create('moved', { worktreeDir: dir, prepared: true })).workspace;
  expect(w.baseSha).toBe(now);
  expect(readFileSync(join(dir, 'later.txt'), 'utf8')).toBe('later\n');
  expect(r.git('-C', dir, 'status', '--porcelain')).toBe('');
  expect(r.git('-C', dir, 'rev-parse', 'HEAD~1').trim()).toBe(now);
  // One registration for the slot, on the branch.
  expect(worktreePaths(r).filter((p) => p === dir)).toHaveLength(1);
});

it('a base other than the prepared commit also gets a fresh checkout; prepared: false refuses a non-empty dir', async () => {
  const first = r.git('rev-parse', 'HEAD~1').trim();
  const dir = slot('other');
  await ws.prepare(dir);
  await expect(ws.create('plain', { worktreeDir: dir })).rejects.toMatchObject({ code: 'BAD_INPUT' });
  const w = (await ws.create('other', { worktreeDir: dir, prepared: true, base: first })).workspace;
  expect(w.baseSha).toBe(first);
  expect(existsSync(join(dir, 'bin/run.sh'))).toBe(false);
});

it('discardPrepared empties an unclaimed slot and never touches a workspace worktree', async () => {
  const dir = slot('d');
  await ws.prepare(dir);
  expect(await ws.discardPrepared(dir)).toBe(true);
  expect(readdirSync(dir)).toEqual([]);
  expect(worktreePaths(r)).toEqual([r.repo]);
  expect(await ws.discardPrepared(dir)).toBe(false);

  await ws.prepare(dir);
  await ws.create('kept', { worktreeDir: dir, prepared: true });
  expect(await ws.discardPrepared(dir)).toBe(false);
  expect(readFileSync(join(dir, 'README.md'), 'utf8')).toBe('# fixture\n');
  expect((await ws.get('kept')).worktree).toBe(dir);
});

it('a claim that fails (name taken) leaves the prepared worktree in place for the caller to discard', async () => {
  const dir = slot('taken');
  await ws.prepare(dir);
  await ws.create('taken');
  await expect(ws.create('taken', { worktreeDir: dir, prepared: true })).rejects.toMatchObject({ code: 'WORKSPACE_EXISTS' });
  expect(await ws.preparedAt(dir)).toBe(r.git('rev-parse', 'HEAD').trim());
  expect(await ws.discardPrepared(dir)).toBe(true);
  expect(worktreePaths(r)).toHaveLength(2); // the checkout and 'taken'
});

it('a prepared slot whose prepare-time record is missing or stale takes git status at claim', async () => {
  const dir = slot('nomark');
  const head = await ws.prepare(dir);
  const admin = readFileSync(join(dir, '.git'), 'utf8')
    .replace(/^gitdir: /, '')
    .trim();
  expect(readFileSync(join(admin, 'berth-prepared'), 'utf8')).toBe(`${head} 0\n`);
  // Without the record, a change in the slot is seen by the claim's own status.
  rmSync(join(admin, 'berth-prepared'));
  writeFileSync(join(dir, 'stray.txt'), 'x\n');
  expect((await ws.create('nomark', { worktreeDir: dir, prepared: true })).workspace.dirty).toBe(true);
  // A record for another commit is not believed either.
  const dir2 = slot('stale');
  await ws.prepare(dir2);
  const admin2 = readFileSync(join(dir2, '.git'), 'utf8')
    .replace(/^gitdir: /, '')
    .trim();
  writeFileSync(join(admin2, 'berth-prepared'), `${'0'.repeat(40)} 0\n`);
  writeFileSync(join(dir2, 'stray.txt'), 'x\n');
  const w = (await ws.create('stale', { worktreeDir: dir2, prepared: true })).workspace;
  expect(w.dirty).toBe(true);
  expect(existsSync(join(admin2, 'berth-prepared'))).toBe(false);
});

// The long-lived `git cat-file --batch` (src/git/batch.ts) on real repositories: it must answer
// what a new git process would, whatever other git processes changed since it started (loose and
// packed refs, new objects, notes in a fanned-out tree), ignore the caller's GIT_* environment,
// and come back after it was closed or aborted.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { GitRepo } from '../../src/git/index.js';
import { gitEnv, makeRepo, type TempRepo } from '../workspace/helpers/repo.js';

let r: TempRepo;
let repo: GitRepo;

beforeEach(async () => {
  r = makeRepo();
  repo = await GitRepo.discover(r.repo);
});

afterEach(() => {
  repo.close();
  r.cleanup();
});

const notesList = () =>
  r
    .git('notes', '--ref=berth', 'list')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [blob = '', object = ''] = l.split(' ');
      return { blob, object };
    })
    .sort((a, b) => a.object.localeCompare(b.object));

it('sees refs, objects and notes that other git processes wrote after it started', async () => {
  const head = r.git('rev-parse', 'HEAD').trim();
  expect(await repo.hasRef('refs/heads/berth/x')).toBe(false); // the reader is running from here on
  r.git('branch', 'berth/x', head);
  expect(await repo.hasRef('refs/heads/berth/x')).toBe(true);
  // Packed, then moved: the packed-refs file is re-read.
  r.git('pack-refs', '--all');
  r.write('b.txt', 'b\n');
  const next = r.commitAll('b');
  r.git('update-ref', 'refs/heads/berth/x', next);
  r.git('pack-refs', '--all');
  expect((await repo.probeBase('berth/x', '.gitmodules', ['refs/heads/berth/x', 'refs/heads/berth/y'], undefined)).sha).toBe(next);
  r.git('branch', '-D', 'berth/x');
  expect(await repo.hasRef('refs/heads/berth/x')).toBe(false);
  // New objects, also after a repack into a new pack.
  r.git('notes', '--ref=berth', 'add', '-m', 'one', head);
  expect(await repo.listNotes()).toEqual(notesList());
  r.git('repack', '-adq');
  r.git('notes', '--ref=berth', 'add', '-m', 'two', next);
  const listed = await repo.listNotes();
  expect(listed.sort((a, b) => a.object.localeCompare(b.object))).toEqual(notesList());
  const blobs = await repo.readBlobs(listed.map((n) => n.blob));
  expect([...blobs.values()].map((b) => b.toString('utf8')).sort()).toEqual(['one\n', 'two\n']);
});

it('lists notes in a fanned-out notes tree the way git notes list does', async () => {
  // 300 commits with a note each, in one fast-import: past 255 notes the tree fans out (xx/yyyy...).
  const n = 300;
  const parts: string[] = [];
  for (let i = 1; i <= n; i++) parts.push(`commit refs/heads/many\nmark :${i}\ncommitter T <t@t> ${1700000000 + i} +0000\ndata 3\nc${i % 10}\n`);
  let notes = 'commit refs/notes/berth\ncommitter T <t@t> 1700000000 +0000\ndata 5\nnotes\n';
  for (let i = 1; i <= n; i++) notes += `N inline :${i}\ndata ${`note ${i}\n`.length}\nnote ${i}\n`;
  execFileSync('git', ['fast-import', '--quiet'], { cwd: r.repo, env: gitEnv(), input: `${parts.join('\n')}\n${notes}\n` });
  expect(r.git('ls-tree', 'refs/notes/berth')).toMatch(/^040000 tree [0-9a-f]{40}\t[0-9a-f]{2}$/m);
  const listed = (await repo.listNotes()).sort((a, b) => a.object.localeCompare(b.object));
  expect(listed).toHaveLength(n);
  expect(listed).toEqual(notesList());
});

it('reads a large object that arrives in many chunks, and small ones after it', async () => {
  const big = Buffer.alloc(5 * 1024 * 1024 + 17, 'x');
  big.write('end', big.length - 3);
  writeFileSync(join(r.repo, 'big.bin'), big);
  const sha = r.commitAll('big');
  const blob = r.git('rev-parse', `${sha}:big.bin`).trim();
  const objs = await repo.readObjects([blob, sha]);
  expect(objs.get(blob)?.data.equals(big)).toBe(true);
  expect(objs.get(sha)?.type).toBe('commit');
  expect(await repo.hasRef('refs/heads/main')).toBe(true);
});

it('ignores GIT_DIR and GIT_INDEX_FILE inherited from the caller', async () => {
  const other = makeRepo();
  const saved = process.env.GIT_DIR;
  try {
    repo.close();
    process.env.GIT_DIR = join(other.repo, '.git');
    r.git('branch', 'only-here');
    expect(await repo.hasRef('refs/heads/only-here')).toBe(true);
  } finally {
    if (saved === undefined) delete process.env.GIT_DIR;
    else process.env.GIT_DIR = saved;
    other.cleanup();
  }
});

it('an aborted read fails with ABORTED, and the next read spawns a new reader', async () => {
  const ac = new AbortController();
  ac.abort();
  await expect(repo.hasRef('refs/heads/main', ac.signal)).rejects.toMatchObject({ code: 'ABORTED' });
  expect(await repo.hasRef('refs/heads/main')).toBe(true);
  repo.close();
  expect(await repo.hasRef('refs/heads/main')).toBe(true);
  // Names that could smuggle a second request are refused before they reach the pipe.
  expect(() => repo.batch(['HEAD\nrefs/heads/main'])).toThrow(/cannot be looked up/);
});

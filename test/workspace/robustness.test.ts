/**
 * Damage the library must survive without losing track of a workspace or touching the wrong
 * thing: an unreadable state note, a worktree `.git` file rewritten by the agent, a base ref that
 * names berth's own refs, and the diff of a huge untracked file.
 */
import { existsSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError, type BerthErrorCode } from '../../src/errors.js';
import { Workspaces } from '../../src/workspace/index.js';
import { berthBranches, makeRepo, worktreePaths, type TempRepo } from './helpers/repo.js';

async function codeOf(p: Promise<unknown>): Promise<BerthErrorCode | string> {
  try {
    await p;
  } catch (err) {
    return isBerthError(err) ? err.code : `non-berth error: ${String(err)}`;
  }
  return 'resolved';
}

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

describe('an unreadable state note', () => {
  it('is listed as corrupt and quarantined, never pruned, refused for changes, and deletable', async () => {
    const { workspace } = await ws.create('hurt');
    await ws.create('fine');
    r.git('notes', '--ref=berth', 'add', '-f', '-m', '{"version": 1, "name": broken', workspace.rootSha);
    const list = await ws.list();
    expect(list.map((w) => w.name)).toEqual(['fine', 'hurt']);
    const hurt = list.find((w) => w.name === 'hurt');
    expect(hurt?.corrupt?.quarantineRef).toBe(`refs/berth/quarantine/hurt/${workspace.rootSha}`);
    expect(hurt?.worktree).toBe(workspace.worktree);
    expect(hurt?.baseSha).toBe(workspace.baseSha);
    expect(r.git('cat-file', '-p', hurt?.corrupt?.quarantineRef ?? '')).toContain('"name": broken');
    expect((await ws.get('hurt')).corrupt).toBeDefined();

    const pruned = await ws.prune({ olderThanMs: 0, force: true });
    expect(pruned.pruned).toEqual(['fine']);
    expect(pruned.skipped.map((s) => s.name)).toEqual(['hurt']);
    expect(existsSync(workspace.worktree)).toBe(true);
    expect(await codeOf(ws.checkpoint('hurt', 'x'))).toBe('WORKSPACE_CORRUPT');
    expect(await codeOf(ws.updateExtra('hurt', { a: 1 }))).toBe('WORKSPACE_CORRUPT');

    await ws.delete('hurt');
    expect(berthBranches(r)).toEqual([]);
    expect(existsSync(workspace.worktree)).toBe(false);
    // The raw note stays for a human to look at.
    expect(r.git('for-each-ref', '--format=%(refname)', 'refs/berth/quarantine/').trim()).toBe(`refs/berth/quarantine/hurt/${workspace.rootSha}`);
  });
});

describe('a worktree whose .git file the agent rewrote', () => {
  it("is still deleted, from git's own records, worktree dir and admin dir both", async () => {
    const { workspace } = await ws.create('moved');
    const other = makeRepo();
    try {
      writeFileSync(join(workspace.worktree, '.git'), `gitdir: ${join(other.repo, '.git')}\n`);
      await ws.delete('moved');
      expect(existsSync(workspace.worktree)).toBe(false);
      expect(worktreePaths(r)).toEqual([r.repo]);
      expect(readdirSync(join(r.repo, '.git', 'worktrees')).length).toBe(0);
      expect(berthBranches(r)).toEqual([]);
      // The repository the .git file pointed at is untouched.
      expect(other.git('status', '--porcelain')).toBe('');
    } finally {
      other.cleanup();
    }
  });
});

describe("a base ref in berth's own namespaces", () => {
  it('is refused with UNKNOWN_REF, whichever spelling reaches refs/notes/berth or refs/berth/', async () => {
    await ws.create('first');
    r.git('update-ref', 'refs/berth/kept/first/x', 'HEAD');
    for (const base of ['notes/berth', 'refs/notes/berth', 'refs/notes/berth~0', 'notes/berth^{commit}', 'refs/berth/kept/first/x', 'berth/kept/first/x']) {
      expect(`${base}: ${await codeOf(ws.create('second', { base }))}`).toBe(`${base}: UNKNOWN_REF`);
    }
    // A workspace branch is still a fine base (fork from a workspace).
    expect((await ws.create('second', { base: 'berth/first' })).workspace.name).toBe('second');
  });
});

describe('diff of a huge untracked file', () => {
  it('completes with a placeholder for the file and a capped, truncated result', async () => {
    const { workspace } = await ws.create('big');
    const big = join(workspace.worktree, 'big.bin');
    writeFileSync(big, '');
    truncateSync(big, 250 * 1024 * 1024);
    const lines = Array.from({ length: 200_000 }, (_, i) => `line ${i}`).join('\n');
    writeFileSync(join(workspace.worktree, 'long.txt'), `${lines}\n`);
    const d = await ws.diffText('big', { maxBytes: 400 * 1024 });
    expect(d.truncated).toBe(true);
    expect(d.placeholders).toEqual(['big.bin']);
    expect(Buffer.byteLength(d.text)).toBeLessThanOrEqual(400 * 1024);
    expect(d.bytes).toBeGreaterThan(400 * 1024);
    const text = await ws.diff('big', { maxBytes: 400 * 1024 });
    expect(text).toContain('[berth: big.bin is larger than the per-file diff limit');
    expect(text.length).toBeLessThan(500 * 1024);
    // A checkpoint refuses the file rather than reading 250 MB into the repository.
    expect(await codeOf(ws.checkpoint('big', 'x'))).toBe('FILE_TOO_LARGE');
  });
});

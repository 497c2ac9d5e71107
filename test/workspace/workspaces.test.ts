import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError, type BerthErrorCode } from '../../src/errors.js';
import { Workspaces, type WorkspaceInfo } from '../../src/workspace/index.js';
import { berthBranches, makeRepo, makeTempRoot, notesOf, worktreePaths, type TempRepo } from './helpers/repo.js';

async function codeOf(p: Promise<unknown>): Promise<BerthErrorCode | string> {
  try {
    await p;
  } catch (err) {
    return isBerthError(err) ? err.code : `non-berth error: ${String(err)}`;
  }
  return 'resolved';
}

async function errorOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

let r: TempRepo;
let ws: Workspaces;
const cleanups: (() => void)[] = [];

beforeEach(async () => {
  r = makeRepo();
  ws = await Workspaces.open(r.repo, { dataDir: r.dataDir });
});

afterEach(async () => {
  await ws.close();
  r.cleanup();
  for (const c of cleanups.splice(0)) c();
});

describe('create / list / get', () => {
  it('creates branch, worktree and a note on a fresh root commit', async () => {
    const base = r.git('rev-parse', 'HEAD').trim();
    const { workspace: w, warnings } = await ws.create('demo');
    expect(warnings).toEqual([]);
    expect(w).toMatchObject({
      name: 'demo',
      branch: 'berth/demo',
      baseRef: 'HEAD',
      baseSha: base,
      repo: r.repo,
      dirty: false,
      ownsWorktreeDir: true,
      extra: {},
    });
    expect(w.worktree).toBe(join(ws.worktreesDir, 'demo'));
    expect(w.worktree.startsWith(r.dataDir)).toBe(true);
    expect(readFileSync(join(w.worktree, 'src/app.txt'), 'utf8')).toBe('line 1\nline 2\nline 3\n');

    // The root commit: a child of the base with the base's tree and a unique trailer.
    expect(r.git('rev-parse', 'berth/demo').trim()).toBe(w.rootSha);
    expect(r.git('rev-parse', `${w.rootSha}^`).trim()).toBe(base);
    expect(r.git('rev-parse', `${w.rootSha}^{tree}`).trim()).toBe(r.git('rev-parse', `${base}^{tree}`).trim());
    expect(r.git('log', '-1', '--format=%B', w.rootSha)).toMatch(/^berth: start workspace demo\n\nBerth-Workspace: demo\n.*Berth-Id: \S+/s);

    const notes = notesOf(r);
    expect(notes).toHaveLength(1);
    expect(notes[0]?.[1]).toBe(w.rootSha);
    const note = JSON.parse(r.git('notes', '--ref=berth', 'show', w.rootSha)) as Record<string, unknown>;
    expect(note).toMatchObject({ version: 1, name: 'demo', baseSha: base, rootSha: w.rootSha, worktree: w.worktree });
    // The note blob is the serialized state byte for byte (one JSON line and a newline), even
    // though it is written through `git notes add -F -`, which runs stripspace over its input.
    const blob = r.git('cat-file', 'blob', notes[0]?.[0] ?? '');
    expect(blob).toMatch(/^\{[^\n]*\}\n$/);
    expect(blob).toBe(`${JSON.stringify(JSON.parse(blob))}\n`);

    expect(worktreePaths(r)).toEqual([r.repo, w.worktree]);
    expect((await ws.list()).map((x) => x.name)).toEqual(['demo']);
    expect(await ws.get('demo')).toEqual(w);
  });

  it('gives two workspaces on the same commit their own root commit and note', async () => {
    const a = (await ws.create('a')).workspace;
    const b = (await ws.create('b')).workspace;
    expect(a.baseSha).toBe(b.baseSha);
    expect(a.rootSha).not.toBe(b.rootSha);
    expect(
      notesOf(r)
        .map((n) => n[1])
        .sort(),
    ).toEqual([a.rootSha, b.rootSha].sort());
    expect((await ws.list()).map((x) => x.name)).toEqual(['a', 'b']);
  });

  it('warns, with a count, that uncommitted changes in the checkout are not included', async () => {
    r.write('src/app.txt', 'edited\n');
    r.write('scratch.txt', 'new\n');
    r.write('debug.log', 'ignored\n');
    const { workspace, warnings } = await ws.create('demo');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^2 uncommitted changes in your checkout .* are not included/);
    expect(readFileSync(join(workspace.worktree, 'src/app.txt'), 'utf8')).toBe('line 1\nline 2\nline 3\n');
    expect(existsSync(join(workspace.worktree, 'scratch.txt'))).toBe(false);
  });

  it('starts from another base ref and records it', async () => {
    r.git('switch', '-q', '-c', 'feature');
    r.write('feature.txt', 'f\n');
    const featureSha = r.commitAll('feature');
    r.git('switch', '-q', 'main');
    const { workspace } = await ws.create('from-feature', { base: 'feature' });
    expect(workspace.baseRef).toBe('feature');
    expect(workspace.baseSha).toBe(featureSha);
    expect(existsSync(join(workspace.worktree, 'feature.txt'))).toBe(true);
  });

  it('stores extra fields given at creation', async () => {
    const { workspace } = await ws.create('demo', { extra: { owner: 'agent-1', n: 2 } });
    expect(workspace.extra).toEqual({ owner: 'agent-1', n: 2 });
    expect((await ws.get('demo')).extra).toEqual({ owner: 'agent-1', n: 2 });
  });

  it('refuses a duplicate name with WORKSPACE_EXISTS', async () => {
    await ws.create('demo');
    const err = await errorOf(ws.create('demo'));
    expect(isBerthError(err, 'WORKSPACE_EXISTS')).toBe(true);
    expect(err.message).toContain('berth ws delete demo');
    expect(notesOf(r)).toHaveLength(1);
  });

  it('rejects unknown and option-like base refs with UNKNOWN_REF and creates nothing', async () => {
    for (const base of ['nope', '--output=/tmp/x', '--upload-pack=x', '-x', 'main..HEAD', '']) {
      expect(await codeOf(ws.create('demo', { base }))).toBe('UNKNOWN_REF');
    }
    expect(berthBranches(r)).toEqual([]);
    expect(r.gitStatus('notes', '--ref=berth', 'list').stdout).toBe('');
    expect(existsSync(join(ws.worktreesDir, 'demo'))).toBe(false);
  });

  it('rejects invalid names before touching git', async () => {
    for (const name of ['--upload-pack=x', '..', 'a/b', 'Bad', 'x.lock']) {
      expect(await codeOf(ws.create(name))).toBe('INVALID_NAME');
      expect(await codeOf(ws.get(name))).toBe('INVALID_NAME');
      expect(await codeOf(ws.delete(name))).toBe('INVALID_NAME');
    }
    expect(r.git('branch', '--format=%(refname:short)').trim()).toBe('main');
  });

  it('get() of a missing workspace names the existing ones', async () => {
    await ws.create('alpha');
    await ws.create('beta');
    const err = await errorOf(ws.get('gamma'));
    expect(isBerthError(err, 'WORKSPACE_NOT_FOUND')).toBe(true);
    expect(err.message).toContain('"gamma"');
    expect(err.message).toContain('alpha, beta');
    expect(await ws.find('gamma')).toBeUndefined();
  });

  it('ignores notes whose branch was deleted by hand, and a re-create replaces them', async () => {
    const old = (await ws.create('demo')).workspace;
    r.git('worktree', 'remove', '--force', old.worktree);
    r.git('branch', '-D', 'berth/demo');
    expect(await ws.list()).toEqual([]);
    expect(notesOf(r)).toHaveLength(1);
    const fresh = (await ws.create('demo')).workspace;
    expect(notesOf(r).map((n) => n[1])).toEqual([fresh.rootSha]);
  });

  it('puts the worktree into a given empty directory and keeps that directory on delete', async () => {
    const slot = join(r.root, 'slot-1');
    mkdirSync(slot);
    const { workspace } = await ws.create('pooled', { worktreeDir: slot });
    expect(workspace.worktree).toBe(slot);
    expect(workspace.ownsWorktreeDir).toBe(false);
    expect(existsSync(join(slot, 'README.md'))).toBe(true);
    writeFileSync(join(slot, 'agent.txt'), 'x');
    await ws.delete('pooled');
    expect(existsSync(slot)).toBe(true);
    expect(readdirSync(slot)).toEqual([]);
    expect(worktreePaths(r)).toEqual([r.repo]);
    expect(r.git('worktree', 'prune', '--dry-run', '-v')).toBe('');
    expect(berthBranches(r)).toEqual([]);
    expect(r.gitStatus('notes', '--ref=berth', 'list').stdout).toBe('');
  });

  it('rejects unusable worktree directories', async () => {
    const full = join(r.root, 'full');
    mkdirSync(full);
    writeFileSync(join(full, 'x'), 'x');
    expect(await codeOf(ws.create('a', { worktreeDir: full }))).toBe('BAD_INPUT');
    expect(await codeOf(ws.create('a', { worktreeDir: 'relative/dir' }))).toBe('BAD_INPUT');
    expect(await codeOf(ws.create('a', { worktreeDir: join(r.root, 'missing') }))).toBe('BAD_INPUT');
    mkdirSync(join(r.repo, 'inside'));
    expect(await codeOf(ws.create('a', { worktreeDir: join(r.repo, 'inside') }))).toBe('BAD_INPUT');
    expect(berthBranches(r)).toEqual([]);
    expect(worktreePaths(r)).toEqual([r.repo]);
  });
});

describe('repository errors', () => {
  it('NOT_A_REPO for a plain directory, a missing path and a bare repository', async () => {
    const plain = makeTempRoot();
    cleanups.push(() => rmSync(plain, { recursive: true, force: true }));
    const err = await errorOf(Workspaces.open(plain));
    expect(isBerthError(err, 'NOT_A_REPO')).toBe(true);
    expect(err.message).toContain(plain);
    expect(await codeOf(Workspaces.open(join(plain, 'missing')))).toBe('NOT_A_REPO');
    r.git('clone', '-q', '--bare', r.repo, join(plain, 'bare.git'));
    expect(await codeOf(Workspaces.open(join(plain, 'bare.git')))).toBe('NOT_A_REPO');
  });

  it('opens from a subdirectory and from inside a workspace worktree, resolving the main checkout', async () => {
    const sub = await Workspaces.open(join(r.repo, 'src'), { dataDir: r.dataDir });
    expect(sub.repo).toBe(r.repo);
    const { workspace } = await ws.create('demo');
    const inner = await Workspaces.open(workspace.worktree, { dataDir: r.dataDir });
    expect(inner.repo).toBe(r.repo);
    expect(inner.repoId).toBe(ws.repoId);
    expect((await inner.list()).map((w) => w.name)).toEqual(['demo']);
  });

  it('EMPTY_REPO when the repository has no commits', async () => {
    const empty = makeRepo({ commit: false });
    cleanups.push(() => empty.cleanup());
    const e = await Workspaces.open(empty.repo, { dataDir: empty.dataDir });
    expect(await e.list()).toEqual([]);
    const err = await errorOf(e.create('demo'));
    expect(isBerthError(err, 'EMPTY_REPO')).toBe(true);
    expect(err.message).toMatch(/no commits yet: make a first commit/);
  });

  it('SUBMODULES_UNSUPPORTED when the base has .gitmodules, creating nothing', async () => {
    r.write('.gitmodules', '[submodule "lib"]\n\tpath = lib\n\turl = ../lib\n');
    r.commitAll('add submodule config');
    const err = await errorOf(ws.create('demo'));
    expect(isBerthError(err, 'SUBMODULES_UNSUPPORTED')).toBe(true);
    expect(err.message).toContain('.gitmodules');
    expect(berthBranches(r)).toEqual([]);
    expect(r.gitStatus('notes', '--ref=berth', 'list').stdout).toBe('');
    expect(existsSync(join(ws.worktreesDir, 'demo'))).toBe(false);
    // A base from before the submodule is fine.
    expect((await ws.create('old', { base: 'HEAD~1' })).workspace.name).toBe('old');
  });

  it('honours an aborted signal', async () => {
    const ac = new AbortController();
    ac.abort();
    expect(await codeOf(ws.create('demo', { signal: ac.signal }))).toBe('ABORTED');
    expect(await codeOf(ws.list({ signal: ac.signal }))).toBe('ABORTED');
    expect(berthBranches(r)).toEqual([]);
  });

  it('fails fast after close()', async () => {
    await ws.close();
    await ws.close();
    expect(await codeOf(ws.list())).toBe('BAD_INPUT');
  });
});

describe('diff / log / checkpoint', () => {
  let w: WorkspaceInfo;
  beforeEach(async () => {
    w = (await ws.create('demo')).workspace;
  });

  it('diff shows modified, untracked and committed changes but not ignored files, without touching the index', async () => {
    writeFileSync(join(w.worktree, 'src/app.txt'), 'line 1\nLINE TWO\nline 3\n');
    writeFileSync(join(w.worktree, 'new.txt'), 'brand new\n');
    writeFileSync(join(w.worktree, 'trace.log'), 'ignored\n');
    const statusBefore = r.git('-C', w.worktree, 'status', '--porcelain');
    const diff = await ws.diff('demo');
    expect(diff).toContain('+LINE TWO');
    expect(diff).toContain('-line 2');
    expect(diff).toContain('diff --git a/new.txt b/new.txt');
    expect(diff).toContain('+brand new');
    expect(diff).not.toContain('trace.log');
    expect(r.git('-C', w.worktree, 'status', '--porcelain')).toBe(statusBefore);
    const stat = await ws.diff('demo', { stat: true });
    expect(stat).toMatch(/new\.txt\s+\|\s+1 \+/);
    expect(stat).toMatch(/2 files changed/);

    await ws.checkpoint('demo', 'work');
    expect(await ws.diff('demo')).toContain('+brand new');
  });

  it('checkpoint commits everything incl. untracked files, respects .gitignore, reports no-ops', async () => {
    writeFileSync(join(w.worktree, 'src/app.txt'), 'changed\n');
    writeFileSync(join(w.worktree, 'added.txt'), 'a\n');
    mkdirSync(join(w.worktree, 'node_modules'));
    writeFileSync(join(w.worktree, 'node_modules/dep.js'), 'x');
    const res = await ws.checkpoint('demo', 'agent: first pass');
    expect(res).toMatchObject({ committed: true, filesChanged: 2 });
    expect(r.git('rev-parse', 'berth/demo').trim()).toBe(res.sha);
    expect(r.git('show', '--name-only', '--format=%s', res.sha).trim().split('\n')).toEqual(['agent: first pass', '', 'added.txt', 'src/app.txt']);
    expect((await ws.get('demo')).dirty).toBe(false);

    const again = await ws.checkpoint('demo', 'nothing');
    expect(again).toEqual({ sha: res.sha, committed: false, filesChanged: 0 });

    expect(await codeOf(ws.checkpoint('demo', '  '))).toBe('BAD_INPUT');
  });

  it('log lists commits since the base, newest first, without the berth root commit', async () => {
    expect(await ws.log('demo')).toEqual([]);
    writeFileSync(join(w.worktree, 'one.txt'), '1');
    const c1 = await ws.checkpoint('demo', 'first');
    writeFileSync(join(w.worktree, 'two.txt'), '2');
    const c2 = await ws.checkpoint('demo', 'second\n\nwith a body');
    const log = await ws.log('demo');
    expect(log.map((c) => [c.sha, c.subject])).toEqual([
      [c2.sha, 'second'],
      [c1.sha, 'first'],
    ]);
    expect(log[0]?.date).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(await ws.log('demo', { limit: 1 })).toHaveLength(1);
  });

  it('ignores user hooks and commit signing; falls back to a berth identity when none is configured', async () => {
    // A fresh repo whose hooks fail and whose config demands GPG signing with a program that fails.
    const h = makeRepo();
    cleanups.push(() => h.cleanup());
    const marker = join(h.root, 'hook-ran');
    for (const hook of ['pre-commit', 'commit-msg', 'post-checkout', 'post-commit', 'pre-merge-commit', 'reference-transaction']) {
      const p = join(h.repo, '.git/hooks', hook);
      writeFileSync(p, `#!/bin/sh\necho ${hook} >> '${marker}'\nexit 1\n`);
      chmodSync(p, 0o755);
    }
    h.git('config', 'commit.gpgSign', 'true');
    h.git('config', 'gpg.program', 'false');
    // No identity may be guessed from the host name, whatever machine runs this.
    h.git('config', 'user.useConfigOnly', 'true');
    const home = mkdtempSync(join(h.root, 'home-'));
    const saved = { HOME: process.env.HOME, XDG_CONFIG_HOME: process.env.XDG_CONFIG_HOME };
    process.env.HOME = home;
    process.env.XDG_CONFIG_HOME = join(home, '.config');
    try {
      const hw = await Workspaces.open(h.repo, { dataDir: h.dataDir });
      const { workspace } = await hw.create('hooked');
      writeFileSync(join(workspace.worktree, 'x.txt'), 'x');
      const res = await hw.checkpoint('hooked', 'works anyway');
      expect(res.committed).toBe(true);
      expect(h.git('log', '-1', '--format=%an <%ae>|%cn <%ce>', res.sha).trim()).toBe('berth <berth@localhost>|berth <berth@localhost>');
      expect(h.git('log', '-1', '--format=%G?', res.sha).trim()).toBe('N');
      const merged = await hw.merge('hooked', { squash: true });
      expect(merged.merged).toBe(true);
      await hw.updateExtra('hooked', { k: 1 });
      await hw.delete('hooked');
    } finally {
      process.env.HOME = saved.HOME;
      if (saved.XDG_CONFIG_HOME === undefined) delete process.env.XDG_CONFIG_HOME;
      else process.env.XDG_CONFIG_HOME = saved.XDG_CONFIG_HOME;
    }
    expect(existsSync(marker)).toBe(false);
  });

  it("uses the user's identity when one is configured", async () => {
    r.git('config', 'user.name', 'Repo User');
    r.git('config', 'user.email', 'repo.user@example.invalid');
    const fresh = await Workspaces.open(r.repo, { dataDir: r.dataDir });
    writeFileSync(join(w.worktree, 'y.txt'), 'y');
    const res = await fresh.checkpoint('demo', 'mine');
    expect(r.git('log', '-1', '--format=%an <%ae>', res.sha).trim()).toBe('Repo User <repo.user@example.invalid>');
  });

  it("does not follow a worktree's tampered .git file (agent-controlled) to another repository", async () => {
    // The agent replaces <worktree>/.git with a pointer to a repository it controls, whose config
    // would run a command on `git add` through a clean filter.
    const evil = join(w.worktree, '.evil');
    r.git('init', '-q', '--bare', evil);
    const marker = join(r.root, 'filter-ran');
    writeFileSync(
      join(evil, 'config'),
      `[core]\n\trepositoryformatversion = 0\n\tbare = false\n[filter "x"]\n\tclean = sh -c 'touch ${marker}; cat'\n\trequired = true\n`,
    );
    writeFileSync(join(w.worktree, '.git'), `gitdir: ${evil}\n`);
    writeFileSync(join(w.worktree, '.gitattributes'), '* filter=x\n');
    writeFileSync(join(w.worktree, 'payload.txt'), 'p');
    const res = await ws.checkpoint('demo', 'after tampering');
    expect(res.committed).toBe(true);
    expect(r.git('rev-parse', 'berth/demo').trim()).toBe(res.sha);
    expect(await ws.diff('demo')).toContain('payload.txt');
    expect(existsSync(marker)).toBe(false);
  });
});

describe('merge', () => {
  let w: WorkspaceInfo;
  beforeEach(async () => {
    w = (await ws.create('demo')).workspace;
    writeFileSync(join(w.worktree, 'feature.txt'), 'from the agent\n');
    await ws.checkpoint('demo', 'agent feature');
  });

  it('merges with a merge commit into the current branch', async () => {
    const before = r.git('rev-parse', 'HEAD').trim();
    const res = await ws.merge('demo');
    expect(res).toMatchObject({ into: 'main', merged: true, squashed: false, warnings: [] });
    expect(r.git('rev-parse', 'HEAD').trim()).toBe(res.sha);
    expect(r.git('rev-list', '--parents', '-n1', 'HEAD').trim().split(' ')).toEqual([res.sha, before, r.git('rev-parse', 'berth/demo').trim()]);
    expect(readFileSync(join(r.repo, 'feature.txt'), 'utf8')).toBe('from the agent\n');
    expect(r.git('status', '--porcelain')).toBe('');
  });

  it('squashes into one single-parent commit and warns about uncommitted workspace changes', async () => {
    writeFileSync(join(w.worktree, 'late.txt'), 'not committed');
    const before = r.git('rev-parse', 'HEAD').trim();
    const res = await ws.merge('demo', { squash: true, message: 'Add feature' });
    expect(res).toMatchObject({ merged: true, squashed: true });
    expect(res.warnings.join('\n')).toMatch(/1 uncommitted change is in workspace demo/);
    expect(r.git('rev-list', '--parents', '-n1', 'HEAD').trim().split(' ')).toEqual([res.sha, before]);
    expect(r.git('log', '-1', '--format=%s').trim()).toBe('Add feature');
    expect(existsSync(join(r.repo, 'late.txt'))).toBe(false);
    // Merging again has nothing new to bring.
    const again = await ws.merge('demo', { squash: true });
    expect(again.merged).toBe(false);
    expect(r.git('rev-parse', 'HEAD').trim()).toBe(res.sha);
  });

  it('reports nothing to merge for a workspace without commits', async () => {
    await ws.create('idle');
    const res = await ws.merge('idle');
    expect(res.merged).toBe(false);
    expect(res.warnings.join('\n')).toContain('no commits since its base');
  });

  it('refuses with DIRTY_CHECKOUT when tracked files are modified or staged, leaving them alone', async () => {
    r.write('src/app.txt', 'my local edit\n');
    const head = r.git('rev-parse', 'HEAD').trim();
    const err = await errorOf(ws.merge('demo'));
    expect(isBerthError(err, 'DIRTY_CHECKOUT')).toBe(true);
    expect(err.message).toMatch(/1 uncommitted change to tracked files: commit or stash/);
    expect(readFileSync(join(r.repo, 'src/app.txt'), 'utf8')).toBe('my local edit\n');
    expect(r.git('rev-parse', 'HEAD').trim()).toBe(head);
    r.git('add', 'src/app.txt');
    expect(await codeOf(ws.merge('demo', { squash: true }))).toBe('DIRTY_CHECKOUT');
  });

  it('refuses with DIRTY_CHECKOUT when an untracked file would be overwritten', async () => {
    r.write('feature.txt', 'my untracked copy\n');
    expect(await codeOf(ws.merge('demo'))).toBe('DIRTY_CHECKOUT');
    expect(readFileSync(join(r.repo, 'feature.txt'), 'utf8')).toBe('my untracked copy\n');
    expect(existsSync(join(r.repo, '.git/MERGE_HEAD'))).toBe(false);
  });

  it.each([false, true])('aborts a conflicting merge (squash=%s) and leaves the checkout clean', async (squash) => {
    writeFileSync(join(w.worktree, 'src/app.txt'), 'line 1\nagent line 2\nline 3\n');
    await ws.checkpoint('demo', 'agent edit');
    r.write('src/app.txt', 'line 1\nuser line 2\nline 3\n');
    const head = r.commitAll('user edit');
    const err = await errorOf(ws.merge('demo', { squash }));
    expect(isBerthError(err, 'MERGE_CONFLICT')).toBe(true);
    expect(err.message).toContain('src/app.txt');
    expect((err as { details?: { files?: string[] } }).details?.files).toEqual(['src/app.txt']);
    expect(r.git('rev-parse', 'HEAD').trim()).toBe(head);
    expect(r.git('status', '--porcelain')).toBe('');
    expect(existsSync(join(r.repo, 'feature.txt'))).toBe(false);
    expect(existsSync(join(r.repo, '.git/MERGE_HEAD'))).toBe(false);
    expect(readFileSync(join(r.repo, 'src/app.txt'), 'utf8')).toBe('line 1\nuser line 2\nline 3\n');
  });

  it('refuses to merge into a detached HEAD', async () => {
    r.git('switch', '-q', '--detach', 'HEAD');
    expect(await codeOf(ws.merge('demo'))).toBe('BAD_INPUT');
  });
});

describe('delete / prune / updateExtra', () => {
  it('delete removes worktree (with untracked files), branch and note; a second delete is WORKSPACE_NOT_FOUND', async () => {
    const { workspace } = await ws.create('demo');
    const keep = (await ws.create('keep')).workspace;
    writeFileSync(join(workspace.worktree, 'untracked.txt'), 'u');
    writeFileSync(join(workspace.worktree, 'ignored.log'), 'i');
    const res = await ws.delete('demo');
    expect(res).toEqual({ name: 'demo', warnings: [] });
    expect(existsSync(workspace.worktree)).toBe(false);
    expect(berthBranches(r)).toEqual(['keep']);
    expect(notesOf(r).map((n) => n[1])).toEqual([keep.rootSha]);
    expect(worktreePaths(r)).toEqual([r.repo, keep.worktree]);
    expect(r.git('worktree', 'prune', '--dry-run', '-v')).toBe('');
    const err = await errorOf(ws.delete('demo'));
    expect(isBerthError(err, 'WORKSPACE_NOT_FOUND')).toBe(true);
    expect(err.message).toContain('existing workspaces: keep');
    expect(r.git('fsck', '--no-progress', '--no-dangling')).toBe('');
  });

  it('delete cleans up when the worktree directory was removed by hand', async () => {
    const { workspace } = await ws.create('demo');
    writeFileSync(join(workspace.worktree, 'kept.txt'), 'committed before the directory vanished\n');
    await ws.checkpoint('demo', 'keep');
    rmSync(workspace.worktree, { recursive: true, force: true });
    expect((await ws.get('demo')).dirty).toBe(false);
    // Without a worktree the diff falls back to the committed branch.
    expect(await ws.diff('demo')).toContain('+committed before the directory vanished');
    expect(await codeOf(ws.checkpoint('demo', 'x'))).toBe('GIT_ERROR');
    await ws.delete('demo');
    expect(berthBranches(r)).toEqual([]);
    expect(r.gitStatus('notes', '--ref=berth', 'list').stdout).toBe('');
    expect(worktreePaths(r)).toEqual([r.repo]);
  });

  it('beforeRemove sees the workspace, may call updateExtra, and aborts the delete by throwing', async () => {
    await ws.create('demo');
    const failing = await errorOf(
      ws.delete('demo', {
        beforeRemove: async () => {
          throw new Error('container still running');
        },
      }),
    );
    expect(failing.message).toBe('container still running');
    expect(berthBranches(r)).toEqual(['demo']);
    expect(notesOf(r)).toHaveLength(1);

    const seen: WorkspaceInfo[] = [];
    await ws.delete('demo', {
      beforeRemove: async (info) => {
        seen.push(info);
        await ws.updateExtra('demo', { containerRemoved: true });
      },
    });
    expect(seen.map((i) => [i.name, i.branch])).toEqual([['demo', 'berth/demo']]);
    expect(berthBranches(r)).toEqual([]);
  });

  it("a forged note pointing at the user's own worktree never gets that worktree deleted", async () => {
    const { workspace } = await ws.create('demo');
    const mine = join(r.root, 'mine');
    r.git('worktree', 'add', '-q', '-b', 'mine', mine);
    writeFileSync(join(mine, 'precious.txt'), 'do not delete');
    const forged = { ...JSON.parse(r.git('notes', '--ref=berth', 'show', workspace.rootSha)), worktree: mine };
    r.git('notes', '--ref=berth', 'add', '-f', '-m', JSON.stringify(forged), workspace.rootSha);
    expect((await ws.get('demo')).worktree).toBe(mine);
    // Detached, so berth/demo is checked out nowhere and nothing else stops the delete.
    r.git('-C', workspace.worktree, 'switch', '-q', '--detach');
    await ws.delete('demo');
    expect(readFileSync(join(mine, 'precious.txt'), 'utf8')).toBe('do not delete');
    expect(worktreePaths(r)).toContain(mine);
  });

  it('refuses to delete while the user has the workspace branch checked out', async () => {
    const { workspace } = await ws.create('demo');
    r.git('-C', workspace.worktree, 'switch', '-q', '--detach');
    r.git('switch', '-q', 'berth/demo');
    expect(await codeOf(ws.delete('demo'))).toBe('GIT_ERROR');
    expect(berthBranches(r)).toEqual(['demo']);
    r.git('switch', '-q', 'main');
  });

  it('prune deletes idle workspaces, keeps dirty ones unless forced, and honours dryRun', async () => {
    await ws.create('clean');
    const dirty = (await ws.create('dirty')).workspace;
    writeFileSync(join(dirty.worktree, 'wip.txt'), 'wip');

    expect(await ws.prune({ olderThanMs: 3_600_000 })).toEqual({ pruned: [], skipped: [] });

    const dry = await ws.prune({ olderThanMs: 0, dryRun: true });
    expect(dry.pruned).toEqual(['clean']);
    expect(dry.skipped.map((s) => s.name)).toEqual(['dirty']);
    expect(berthBranches(r)).toEqual(['clean', 'dirty']);

    const removed: string[] = [];
    const res = await ws.prune({ olderThanMs: 0, beforeRemove: async (i) => void removed.push(i.name) });
    expect(res.pruned).toEqual(['clean']);
    expect(removed).toEqual(['clean']);
    expect(berthBranches(r)).toEqual(['dirty']);

    expect((await ws.prune({ olderThanMs: 0, force: true })).pruned).toEqual(['dirty']);
    expect(berthBranches(r)).toEqual([]);
    expect(r.gitStatus('notes', '--ref=berth', 'list').stdout).toBe('');
    expect(await codeOf(ws.prune({ olderThanMs: -1 }))).toBe('BAD_INPUT');
  });

  it('updateExtra merges fields, removes undefined keys, persists, and validates', async () => {
    await ws.create('demo', { extra: { a: 1, b: 2 } });
    const next = await ws.updateExtra('demo', { b: undefined, container: { id: 'c1', volumes: ['v'] } });
    expect(next.extra).toEqual({ a: 1, container: { id: 'c1', volumes: ['v'] } });
    const reopened = await Workspaces.open(r.repo, { dataDir: r.dataDir });
    expect((await reopened.get('demo')).extra).toEqual({ a: 1, container: { id: 'c1', volumes: ['v'] } });
    expect(notesOf(r)).toHaveLength(1);
    expect(await codeOf(ws.updateExtra('demo', { n: 10n }))).toBe('BAD_INPUT');
    expect(await codeOf(ws.updateExtra('demo', { big: 'x'.repeat(300 * 1024) }))).toBe('BAD_INPUT');
    expect(await codeOf(ws.updateExtra('missing', { a: 1 }))).toBe('WORKSPACE_NOT_FOUND');
  });
});

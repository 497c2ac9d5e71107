/**
 * berth ws export / import end to end: real git repositories and worktrees (workspace library),
 * a real S3-compatible server on loopback (s3rver behind a SigV4-verifying front, harness.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Workspaces } from '../../src/workspace/index.js';
import { isBerthError, type BerthError } from '../../src/errors.js';
import { parseManifest, type Manifest } from '../../runner/storage/manifest.js';
import { ObjectStore } from '../../runner/storage/s3.js';
import { exportOnClose, exportWorkspace, importWorkspace } from '../../runner/storage/transfer.js';
import { dirtyWorktree, git, history, makeRepo, snapshot, trackedState, withoutIgnored } from './fixtures.js';
import { BUCKET, startS3, type TestS3 } from './harness.js';
import { tgz } from './tarball.js';

let root: string;
let s3: TestS3;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-transfer-test-'));
  s3 = await startS3();
});

afterAll(async () => {
  await s3?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

interface Env {
  readonly repo: string;
  readonly dataDir: string;
  readonly tempDir: string;
  readonly ws: Workspaces;
}

let envCount = 0;
async function newEnv(): Promise<Env> {
  const base = join(root, `env${envCount++}`);
  const repo = join(base, 'repo');
  const dataDir = join(base, 'data');
  const tempDir = join(base, 'scratch');
  await mkdir(repo, { recursive: true });
  await mkdir(tempDir, { recursive: true });
  await makeRepo(repo);
  return { repo, dataDir, tempDir, ws: await Workspaces.open(repo, { dataDir }) };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

async function readManifest(prefix: string): Promise<Manifest> {
  await using store = new ObjectStore(s3.config(), BUCKET);
  const bytes = await store.getBytes(`${prefix}/manifest.json`, 1_000_000);
  if (!bytes) throw new Error(`no manifest under ${prefix}`);
  return parseManifest(bytes, prefix);
}

describe('export and import through S3', () => {
  it('round-trips a dirty workspace byte for byte: commits, notes, staged/unstaged edits, untracked files, session log', async () => {
    const env = await newEnv();
    const { workspace } = await env.ws.create('orig');
    await dirtyWorktree(workspace.worktree);
    const sessionLog = join(env.tempDir, '..', 'session.jsonl');
    await writeFile(sessionLog, '{"t":1,"event":"open"}\n{"t":2,"event":"exec","cmd":"npm test"}\n');
    const before = {
      files: withoutIgnored(await snapshot(workspace.worktree)),
      tracked: trackedState(workspace.worktree),
      log: history(env.repo, 'berth/orig'),
    };
    const info = await env.ws.get('orig');
    expect(info.dirty).toBe(true);

    const url = `s3://${BUCKET}/teams/alpha/orig`;
    const res = await exportWorkspace({ workspace: info, url, storage: s3.config(), sessionLog, tempDir: env.tempDir });
    expect(res.manifest.objects.map((o) => o.role).sort()).toEqual(['bundle', 'session-log', 'staged', 'unstaged', 'untracked']);
    expect(res.manifest.workspace).toMatchObject({ name: 'orig', branch: 'berth/orig', head: info.head, rootSha: info.rootSha, baseSha: info.baseSha });
    expect(res.manifest.worktree.untrackedFiles).toBe(8);
    expect(await readdir(env.tempDir)).toEqual([]);
    // The server holds exactly the bytes the manifest describes.
    {
      await using store = new ObjectStore(s3.config(), BUCKET);
      for (const o of res.manifest.objects) {
        const bytes = await store.getBytes(`teams/alpha/orig/${o.key}`, 100_000_000);
        expect(bytes?.length, o.key).toBe(o.size);
        expect(
          createHash('sha256')
            .update(bytes as Buffer)
            .digest('hex'),
          o.key,
        ).toBe(o.sha256);
      }
    }

    await env.ws.delete('orig');
    expect(await env.ws.find('orig')).toBeUndefined();

    const restoredLog = join(env.tempDir, '..', 'restored', 'session.jsonl');
    const imp = await importWorkspace({
      repo: env.repo,
      url,
      name: 'copy',
      storage: s3.config(),
      dataDir: env.dataDir,
      tempDir: env.tempDir,
      sessionLogPath: restoredLog,
    });
    expect(imp.untracked.rejected).toEqual([]);
    expect(imp.untracked.adjusted).toEqual([]);
    expect(imp.trackedChanges).toEqual({ staged: true, unstaged: true });
    expect(imp.warnings).toEqual([]);
    expect(await readdir(env.tempDir)).toEqual([]);

    // The library sees it as a workspace like any other, under the new name and path.
    const copy = await env.ws.get('copy');
    expect(copy).toMatchObject({
      name: 'copy',
      branch: 'berth/copy',
      rootSha: info.rootSha,
      baseSha: info.baseSha,
      baseRef: info.baseRef,
      head: info.head,
      dirty: true,
    });
    expect(copy.worktree).toBe(imp.workspace.worktree);
    expect(copy.worktree).toBe(join(env.ws.worktreesDir, 'copy'));
    expect(copy.extra).toMatchObject({ importedFrom: { name: 'orig', url, exportId: res.manifest.exportId } });

    expect(withoutIgnored(await snapshot(copy.worktree))).toEqual(before.files);
    expect(await exists(join(copy.worktree, 'build'))).toBe(false);
    expect(await exists(join(copy.worktree, 'debug.log'))).toBe(false);
    expect(trackedState(copy.worktree)).toEqual(before.tracked);
    // Same commits, hence the same trees.
    expect(history(env.repo, 'berth/copy')).toBe(before.log);
    expect(await readFile(restoredLog, 'utf8')).toBe(await readFile(sessionLog, 'utf8'));
    // No temporary refs left in the user's repository.
    expect(git(env.repo, 'for-each-ref', '--format=%(refname)', 'refs/berth-import', 'refs/notes/berth-import')).toBe('');

    // Another clone of the repository, under the original name.
    const clone = join(dirname(env.repo), 'clone');
    git(dirname(env.repo), 'clone', '-q', env.repo, clone);
    await using other = await Workspaces.open(clone, { dataDir: join(dirname(env.repo), 'data-clone') });
    const imp2 = await importWorkspace({ repo: clone, url, storage: s3.config(), dataDir: join(dirname(env.repo), 'data-clone'), tempDir: env.tempDir });
    expect(imp2.restored).toBe(true);
    const there = await other.get('orig');
    expect(withoutIgnored(await snapshot(there.worktree))).toEqual(before.files);
    expect(trackedState(there.worktree)).toEqual(before.tracked);
    expect(history(clone, 'berth/orig')).toBe(before.log);
    expect((await other.list()).map((w) => w.name)).toEqual(['orig']);
  });

  it('keeps one copy per repository: importing next to the live original is refused and leaves nothing behind', async () => {
    const env = await newEnv();
    const { workspace } = await env.ws.create('live');
    const url = `s3://${BUCKET}/live`;
    await exportWorkspace({ workspace, url, storage: s3.config(), tempDir: env.tempDir });
    const same = await rejection(importWorkspace({ repo: env.repo, url, storage: s3.config(), dataDir: env.dataDir, tempDir: env.tempDir }));
    expect(isBerthError(same, 'BAD_INPUT') && same.details?.reason).toBe('exists');
    const other = await rejection(importWorkspace({ repo: env.repo, url, name: 'twin', storage: s3.config(), dataDir: env.dataDir, tempDir: env.tempDir }));
    expect((other as BerthError).details?.reason).toBe('root-taken');
    expect(other.message).toContain('"live"');
    expect(git(env.repo, 'branch', '--list', 'berth/twin')).toBe('');
    expect(await exists(join(env.ws.worktreesDir, 'twin'))).toBe(false);
    expect((await env.ws.get('live')).name).toBe('live');
    expect(await readdir(env.tempDir)).toEqual([]);
  });

  it('rejects and reports hostile archive entries without writing anything outside the worktree', async () => {
    const env = await newEnv();
    const { workspace } = await env.ws.create('victim');
    const good = `s3://${BUCKET}/hostile-src`;
    const res = await exportWorkspace({ workspace, url: good, storage: s3.config(), tempDir: env.tempDir });
    await env.ws.delete('victim');

    const absTarget = join(root, 'abs-target');
    await mkdir(absTarget);
    const tarball = tgz([
      { path: 'fine.txt', body: 'ok\n' },
      { path: '../escape.txt', body: 'x' },
      { path: '../../../escape-far.txt', body: 'x' },
      { path: join(absTarget, 'pwned.txt'), body: 'x' },
      { path: 'etc', type: 'SymbolicLink', linkpath: '/etc' },
      { path: 'etc/passwd-copy', body: 'x' },
      { path: 'up', type: 'SymbolicLink', linkpath: '../..' },
      { path: 'hard', type: 'Link', linkpath: '/etc/passwd' },
      { path: 'suid', body: '#!/bin/sh\n', mode: 0o4755 },
      { path: '.git', body: 'gitdir: /somewhere/else\n' },
      { path: 'null', type: 'CharacterDevice' },
    ]);
    // A manifest that is valid in every respect except for what the archive holds.
    await using store = new ObjectStore(s3.config(), BUCKET);
    const bundle = res.manifest.objects.find((o) => o.role === 'bundle');
    if (!bundle) throw new Error('no bundle');
    await store.putBytes(`hostile/${bundle.key}`, (await store.getBytes(`hostile-src/${bundle.key}`, 100_000_000)) as Buffer);
    const key = `objects/${res.manifest.exportId}/untracked.tar.gz`;
    await store.putBytes(`hostile/${key}`, tarball);
    const manifest: Manifest = {
      ...res.manifest,
      objects: [bundle, { role: 'untracked', key, size: tarball.length, sha256: createHash('sha256').update(tarball).digest('hex') }],
    };
    await store.putBytes('hostile/manifest.json', Buffer.from(JSON.stringify(manifest)));

    const siblingsBefore = await readdir(env.ws.worktreesDir);
    const imp = await importWorkspace({
      repo: env.repo,
      url: `s3://${BUCKET}/hostile`,
      name: 'landed',
      storage: s3.config(),
      dataDir: env.dataDir,
      tempDir: env.tempDir,
    });
    const wt = imp.workspace.worktree;
    const reasons = Object.fromEntries(imp.untracked.rejected.map((r) => [r.path, r.reason]));
    expect(Object.keys(reasons).sort()).toEqual(
      ['.git', '../../../escape-far.txt', '../escape.txt', 'etc', 'hard', 'null', 'up', join(absTarget, 'pwned.txt')].sort(),
    );
    expect(reasons.etc).toContain('absolute');
    expect(reasons.hard).toContain('hard link');
    expect(imp.untracked.adjusted.map((a) => a.path)).toEqual(['suid']);
    expect(imp.warnings.join(' ')).toContain('8 archive entries were rejected');

    // Nothing outside: not next to the worktree, not in the absolute target, no links out.
    expect([...(await readdir(env.ws.worktreesDir))].sort()).toEqual([...siblingsBefore, 'landed'].sort());
    expect(await readdir(absTarget)).toEqual([]);
    expect(await exists(join(dirname(env.ws.worktreesDir), 'escape-far.txt'))).toBe(false);
    expect(await readFile(join(wt, 'fine.txt'), 'utf8')).toBe('ok\n');
    expect((await stat(join(wt, 'suid'))).mode & 0o7777).toBe(0o755);
    // "etc/passwd-copy" became a plain directory + file inside the worktree, never a path into /etc.
    expect((await stat(join(wt, 'etc'))).isDirectory()).toBe(true);
    expect(await exists(join(wt, 'up'))).toBe(false);
    expect(await exists(join(wt, 'hard'))).toBe(false);
    // The worktree's git link is the one git wrote.
    expect(
      (await readFile(join(wt, '.git'), 'utf8')).startsWith(`gitdir: ${git(env.repo, 'rev-parse', '--path-format=absolute', '--git-common-dir').trim()}`),
    ).toBe(true);
    expect((await env.ws.get('landed')).name).toBe('landed');
  });

  it('refuses a manifest that points outside its export, and rolls back when an object is missing', async () => {
    const env = await newEnv();
    const { workspace } = await env.ws.create('partial');
    await writeFile(join(workspace.worktree, 'untracked.txt'), 'u\n');
    const res = await exportWorkspace({ workspace, url: `s3://${BUCKET}/partial`, storage: s3.config(), tempDir: env.tempDir });
    await env.ws.delete('partial');
    await using store = new ObjectStore(s3.config(), BUCKET);

    const evil = { ...res.manifest, objects: res.manifest.objects.map((o) => (o.role === 'untracked' ? { ...o, key: '../../elsewhere/secret' } : o)) };
    await store.putBytes('evil/manifest.json', Buffer.from(JSON.stringify(evil)));
    const bad = await rejection(
      importWorkspace({ repo: env.repo, url: `s3://${BUCKET}/evil`, storage: s3.config(), dataDir: env.dataDir, tempDir: env.tempDir }),
    );
    expect(isBerthError(bad, 'BAD_INPUT')).toBe(true);
    expect(bad.message).toContain('key outside this export');

    const untracked = res.manifest.objects.find((o) => o.role === 'untracked');
    await store.deleteKeys([`partial/${untracked?.key}`]);
    const missing = await rejection(
      importWorkspace({ repo: env.repo, url: `s3://${BUCKET}/partial`, storage: s3.config(), dataDir: env.dataDir, tempDir: env.tempDir }),
    );
    expect(isBerthError(missing, 'STORAGE_ERROR') && missing.details?.reason).toBe('incomplete');
    expect(await env.ws.find('partial')).toBeUndefined();
    expect(git(env.repo, 'branch', '--list', 'berth/*')).toBe('');
    expect(await readdir(env.tempDir)).toEqual([]);
  });

  it('rolls back completely when a hostile patch or an oversized archive is refused', async () => {
    const env = await newEnv();
    const { workspace } = await env.ws.create('src');
    const res = await exportWorkspace({ workspace, url: `s3://${BUCKET}/rollback-src`, storage: s3.config(), tempDir: env.tempDir });
    await env.ws.delete('src');
    await using store = new ObjectStore(s3.config(), BUCKET);
    const bundle = res.manifest.objects.find((o) => o.role === 'bundle');
    if (!bundle) throw new Error('no bundle');
    const bundleBytes = (await store.getBytes(`rollback-src/${bundle.key}`, 100_000_000)) as Buffer;
    const publish = async (prefix: string, role: 'staged' | 'untracked', body: Buffer) => {
      const key = `objects/${res.manifest.exportId}/${role === 'staged' ? 'staged.patch' : 'untracked.tar.gz'}`;
      await store.putBytes(`${prefix}/${bundle.key}`, bundleBytes);
      await store.putBytes(`${prefix}/${key}`, body);
      const manifest: Manifest = {
        ...res.manifest,
        objects: [bundle, { role, key, size: body.length, sha256: createHash('sha256').update(body).digest('hex') }],
      };
      await store.putBytes(`${prefix}/manifest.json`, Buffer.from(JSON.stringify(manifest)));
    };
    const outside = join(dirname(env.ws.worktreesDir), 'patched-outside.txt');

    // git apply refuses paths that leave the worktree; the import then undoes itself.
    const patch = Buffer.from(
      [
        'diff --git a/../../patched-outside.txt b/../../patched-outside.txt',
        'new file mode 100644',
        '--- /dev/null',
        '+++ b/../../patched-outside.txt',
        '@@ -0,0 +1 @@',
        '+pwned',
        '',
      ].join('\n'),
    );
    await publish('rollback-patch', 'staged', patch);
    const patchErr = await rejection(
      importWorkspace({ repo: env.repo, url: `s3://${BUCKET}/rollback-patch`, name: 'p', storage: s3.config(), dataDir: env.dataDir, tempDir: env.tempDir }),
    );
    expect(isBerthError(patchErr, 'BAD_INPUT') && patchErr.details?.reason).toBe('patch');
    expect(patchErr.message).toContain("invalid path '../../patched-outside.txt'");
    expect(await exists(outside)).toBe(false);

    const many = tgz(Array.from({ length: 20 }, (_, i) => ({ path: `f${i}.txt`, body: 'x' })));
    await publish('rollback-many', 'untracked', many);
    const limitErr = await rejection(
      importWorkspace({
        repo: env.repo,
        url: `s3://${BUCKET}/rollback-many`,
        name: 'm',
        storage: s3.config(),
        dataDir: env.dataDir,
        tempDir: env.tempDir,
        limits: { maxEntries: 5 },
      }),
    );
    expect(isBerthError(limitErr, 'FILE_TOO_LARGE')).toBe(true);

    // Neither attempt left a branch, a worktree, a note or a temporary ref behind.
    expect(await env.ws.list()).toEqual([]);
    expect(git(env.repo, 'for-each-ref', '--format=%(refname)', 'refs/heads/berth', 'refs/berth-import', 'refs/notes/berth-import')).toBe('');
    expect(git(env.repo, 'notes', '--ref=refs/notes/berth', 'list')).toBe('');
    expect(git(env.repo, 'worktree', 'list', '--porcelain').match(/^worktree /gm)).toHaveLength(1);
    expect(await readdir(env.ws.worktreesDir)).toEqual([]);
    expect(await readdir(env.tempDir)).toEqual([]);
  });

  it('fails with NOT_FOUND for a URL without an export (it used to resolve as "nothing to restore")', async () => {
    const env = await newEnv();
    const err = await rejection(
      importWorkspace({ repo: env.repo, url: `s3://${BUCKET}/never/exported`, storage: s3.config(), dataDir: env.dataDir, tempDir: env.tempDir }),
    );
    expect(isBerthError(err, 'NOT_FOUND')).toBe(true);
    expect(err.message).toContain(`there is no export at s3://${BUCKET}/never/exported`);
    expect(await env.ws.list()).toEqual([]);
    expect(await readdir(env.tempDir)).toEqual([]);
  });

  it('reports wrong credentials as an auth error and uploads nothing', async () => {
    const env = await newEnv();
    const { workspace } = await env.ws.create('auth');
    const wrong = s3.config({ credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'not-the-secret' } });
    const err = await rejection(exportWorkspace({ workspace, url: `s3://${BUCKET}/auth`, storage: wrong, tempDir: env.tempDir }));
    expect(isBerthError(err, 'STORAGE_ERROR')).toBe(true);
    expect((err as BerthError).details).toMatchObject({ reason: 'auth', awsCode: 'SignatureDoesNotMatch' });
    expect(err.message).toMatch(/AWS_ACCESS_KEY_ID/);
    await using store = new ObjectStore(s3.config(), BUCKET);
    expect(await store.head('auth/manifest.json')).toBeUndefined();
    expect(await readdir(env.tempDir)).toEqual([]);

    const imp = await rejection(importWorkspace({ repo: env.repo, url: `s3://${BUCKET}/auth`, storage: wrong, dataDir: env.dataDir, tempDir: env.tempDir }));
    expect((imp as BerthError).details).toMatchObject({ reason: 'auth' });
  });

  it('rejects invalid bucket names before talking to the server', async () => {
    const env = await newEnv();
    const { workspace } = await env.ws.create('names');
    const count = s3.requests.length;
    for (const url of ['s3://Bad_Bucket/x', 's3://ab/x', 's3://-dash/x', 's3://192.168.0.1/x', 's3://a..b/x']) {
      const err = await rejection(exportWorkspace({ workspace, url, storage: s3.config(), tempDir: env.tempDir }));
      expect(isBerthError(err, 'BAD_INPUT'), url).toBe(true);
      expect(err.message).toContain('invalid bucket name');
      const imp = await rejection(importWorkspace({ repo: env.repo, url, storage: s3.config(), dataDir: env.dataDir }));
      expect(isBerthError(imp, 'BAD_INPUT'), url).toBe(true);
    }
    expect(s3.requests.length).toBe(count);
    const badName = await rejection(importWorkspace({ repo: env.repo, url: `s3://${BUCKET}/x`, name: '../evil', storage: s3.config(), dataDir: env.dataDir }));
    expect(isBerthError(badName, 'INVALID_NAME')).toBe(true);
  });
});

describe('a server that dies mid-upload', () => {
  it('fails the export with a transport error, keeps the workspace and the previous export intact, and cleans up', async () => {
    const env = await newEnv();
    const dir = join(root, 'dying-s3');
    await mkdir(dir);
    let server = await startS3({ dir });
    try {
      const { workspace } = await env.ws.create('big');
      await writeFile(join(workspace.worktree, 'small.txt'), 'first export\n');
      const url = `s3://${BUCKET}/big`;
      const config = () => server.config({ partSizeBytes: 5 * 1024 * 1024, queueSize: 1 });
      const first = await exportWorkspace({ workspace, url, storage: config(), tempDir: env.tempDir });

      // ~24 MiB of incompressible data: several multipart parts.
      await writeFile(join(workspace.worktree, 'large.bin'), randomBytes(24 * 1024 * 1024));
      const before = { files: await snapshot(workspace.worktree), tracked: trackedState(workspace.worktree), log: history(env.repo, 'berth/big') };
      let killed = false;
      server.onRequest((req) => {
        if (!killed && /[?&]partNumber=2\b/.test(req.url ?? '')) {
          killed = true;
          server.kill();
        }
      });
      const err = await rejection(exportWorkspace({ workspace: await env.ws.get('big'), url, storage: config(), tempDir: env.tempDir }));
      expect(killed).toBe(true);
      expect(isBerthError(err, 'STORAGE_ERROR')).toBe(true);
      expect((err as BerthError).details?.reason).toBe('transport');
      expect(await readdir(env.tempDir)).toEqual([]);
      expect(await snapshot(workspace.worktree)).toEqual(before.files);
      expect(trackedState(workspace.worktree)).toEqual(before.tracked);
      expect(history(env.repo, 'berth/big')).toBe(before.log);

      // The close-path wrapper reports instead of throwing.
      const onClose = await exportOnClose({ workspace: await env.ws.get('big'), url, storage: config(), tempDir: env.tempDir });
      expect(onClose.ok).toBe(false);
      if (!onClose.ok) {
        expect(onClose.warning).toContain('the local workspace is intact');
        expect(isBerthError(onClose.error, 'STORAGE_ERROR')).toBe(true);
      }
      expect(await readdir(env.tempDir)).toEqual([]);

      // Back up on the same storage: the previous export is still the one that imports.
      await server.stop();
      server = await startS3({ dir });
      expect((await readManifestAt(server, 'big')).exportId).toBe(first.manifest.exportId);
      await env.ws.delete('big');
      const imp = await importWorkspace({ repo: env.repo, url, storage: server.config(), dataDir: env.dataDir, tempDir: env.tempDir });
      expect(imp.from.exportId).toBe(first.manifest.exportId);
      expect(await readFile(join(imp.workspace.worktree, 'small.txt'), 'utf8')).toBe('first export\n');
      expect(await exists(join(imp.workspace.worktree, 'large.bin'))).toBe(false);
    } finally {
      await server.stop();
    }
  });

  it('exportOnClose returns the result when the upload works', async () => {
    const env = await newEnv();
    const { workspace } = await env.ws.create('closing');
    const out = await exportOnClose({ workspace, url: `s3://${BUCKET}/closing`, storage: s3.config(), tempDir: env.tempDir });
    expect(out.ok).toBe(true);
    expect((await readManifest('closing')).workspace.name).toBe('closing');
  });
});

async function readManifestAt(server: TestS3, prefix: string): Promise<Manifest> {
  await using store = new ObjectStore(server.config(), BUCKET);
  const bytes = await store.getBytes(`${prefix}/manifest.json`, 1_000_000);
  if (!bytes) throw new Error(`no manifest under ${prefix}`);
  return parseManifest(bytes, prefix);
}

// WorkspaceFiles on real temp directories, real symlinks, FIFOs and hard links. Every confinement
// test also proves the host outside the worktree is untouched: a sibling directory with a sentinel
// is snapshotted before and compared after, and escape targets are checked not to exist.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError, type BerthError, type BerthErrorCode } from '../../src/errors.js';
import { WorkspaceFiles, type ResolveMode } from '../../runner/session/files.js';

const SENTINEL = 'SENTINEL: must never change\n';
const GITFILE = 'gitdir: ../main/.git/worktrees/agent-1\n';

interface Fixture {
  base: string;
  root: string;
  outside: string;
  sentinel: string;
  files: WorkspaceFiles;
}

const tmpDirs: string[] = [];

async function fixture(opts: { maxFileBytes?: number; resolveMode?: ResolveMode; containerWorkdir?: string } = {}): Promise<Fixture> {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-files-'));
  tmpDirs.push(base);
  const root = path.join(base, 'root');
  const outside = path.join(base, 'outside');
  await fs.mkdir(path.join(root, 'src'), { recursive: true });
  await fs.mkdir(outside);
  const sentinel = path.join(outside, 'sentinel.txt');
  await fs.writeFile(sentinel, SENTINEL);
  await fs.writeFile(path.join(root, '.git'), GITFILE);
  await fs.writeFile(path.join(root, 'src', 'a.ts'), 'export const a = 1;\n');
  const files = new WorkspaceFiles(root, { containerWorkdir: '/workspace', ...opts });
  return { base, root, outside, sentinel, files };
}

/** Everything under a directory: path → type + content/target + mode. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walkDir = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const st = await fs.lstat(p);
      const rel = path.relative(dir, p);
      if (st.isSymbolicLink()) out[rel] = `link:${await fs.readlink(p)}`;
      else if (st.isDirectory()) {
        out[rel] = `dir:${(st.mode & 0o7777).toString(8)}`;
        await walkDir(p);
      } else out[rel] = `file:${(st.mode & 0o7777).toString(8)}:${await fs.readFile(p, 'base64')}`;
    }
  };
  await walkDir(dir);
  return out;
}

/** Run `fn`, expecting a BerthError with `code`; returns it. */
async function rejects(fn: () => Promise<unknown>, code: BerthErrorCode): Promise<BerthError> {
  try {
    await fn();
  } catch (err) {
    if (!isBerthError(err)) throw err;
    expect(err.code, err.message).toBe(code);
    return err;
  }
  throw new Error(`expected ${code}, but the call succeeded`);
}

beforeEach(() => {
  tmpDirs.length = 0;
});

afterEach(async () => {
  // fs.rm does not follow symlinks, so links to / or the sibling dir are removed as links.
  for (const d of tmpDirs) await fs.rm(d, { recursive: true, force: true });
});

const modes: ResolveMode[] = process.platform === 'linux' ? ['fd', 'path'] : ['path'];

describe.each(modes)('confinement (resolveMode %s)', (resolveMode) => {
  let fx: Fixture;
  let before: Record<string, string>;
  let baseBefore: string[];

  beforeEach(async () => {
    fx = await fixture({ resolveMode });
    before = await snapshot(fx.outside);
    baseBefore = (await fs.readdir(fx.base)).sort();
  });

  afterEach(async () => {
    expect(await snapshot(fx.outside)).toEqual(before);
    expect(readFileSync(fx.sentinel, 'utf8')).toBe(SENTINEL);
    expect((await fs.readdir(fx.base)).sort()).toEqual(baseBefore);
  });

  it('rejects empty, NUL, over-long and non-string paths with PATH_INVALID quoting the path', async () => {
    expect((await rejects(() => fx.files.read(''), 'PATH_INVALID')).message).toContain('""');
    const nul = await rejects(() => fx.files.write('src/a\0.ts', 'x'), 'PATH_INVALID');
    expect(nul.message).toContain('"src/a\\u0000.ts"');
    expect((await rejects(() => fx.files.read(`src/${'x'.repeat(5000)}`), 'PATH_INVALID')).message).toContain('4096');
    expect((await rejects(() => fx.files.write(`src/${'n'.repeat(300)}.ts`, 'x'), 'PATH_INVALID')).message).toContain('255');
    await rejects(() => fx.files.read(42 as unknown as string), 'PATH_INVALID');
    expect(await fs.readdir(path.join(fx.root, 'src'))).toEqual(['a.ts']);
  });

  it('a refused path leaves no file descriptor open (an agent repeating bad paths cannot exhaust them)', async () => {
    const openFds = () => readdirSync('/proc/self/fd').length;
    await fx.files.read('src/a.ts'); // the root's realpath is cached from here on
    const before = openFds();
    for (let i = 0; i < 50; i++) {
      await rejects(() => fx.files.read(''), 'PATH_INVALID');
      await rejects(() => fx.files.write('../outside/x', 'x'), 'PATH_OUTSIDE');
      await rejects(() => fx.files.stat('/etc/passwd'), 'PATH_OUTSIDE');
    }
    expect(openFds()).toBe(before);
  });

  it('rejects .. escapes (read, write, edit, list, delete, stat) and creates nothing outside', async () => {
    const rel = '../outside/sentinel.txt';
    for (const op of [
      () => fx.files.read(rel),
      () => fx.files.write(rel, 'pwned'),
      () => fx.files.edit(rel, { search: 'SENTINEL', replace: 'pwned' }),
      () => fx.files.list('..'),
      () => fx.files.delete(rel),
      () => fx.files.stat(rel),
    ]) {
      expect((await rejects(op, 'PATH_OUTSIDE')).message).toMatch(/"\.\.(\/outside\/sentinel\.txt)?"/);
    }
    await rejects(() => fx.files.write('src/../../outside/new.txt', 'x'), 'PATH_OUTSIDE');
    await rejects(() => fx.files.write('src/../../escaped.txt', 'x'), 'PATH_OUTSIDE');
    // `..` that stays inside is fine.
    await fx.files.write('src/../b.txt', 'inside');
    expect(readFileSync(path.join(fx.root, 'b.txt'), 'utf8')).toBe('inside');
  });

  it('accepts absolute paths only inside the root, in host or container form', async () => {
    expect((await fx.files.read(path.join(fx.root, 'src/a.ts'))).content).toBe('export const a = 1;\n');
    expect((await fx.files.read('/workspace/src/a.ts')).content).toBe('export const a = 1;\n');
    const w = await fx.files.write('/workspace/src/new.ts', 'n');
    expect(w.path).toBe('src/new.ts');
    expect(readFileSync(path.join(fx.root, 'src/new.ts'), 'utf8')).toBe('n');
    for (const p of [fx.sentinel, '/etc/passwd', '/workspace/../outside/sentinel.txt', '/workspacex/a.ts', `${fx.root}x/a`]) {
      expect((await rejects(() => fx.files.read(p), 'PATH_OUTSIDE')).message).toContain(JSON.stringify(p));
    }
    await rejects(() => fx.files.write(path.join(fx.outside, 'new.txt'), 'x'), 'PATH_OUTSIDE');
  });

  it('a symlink to / is never followed out: read, write, edit, list, delete are refused; the link itself can be deleted', async () => {
    await fs.symlink('/', path.join(fx.root, 'slash'));
    const escape = `berth-escape-${randomBytes(6).toString('hex')}`;
    const viaSlash = `slash${fx.sentinel}`;
    await rejects(() => fx.files.read(viaSlash), 'PATH_OUTSIDE');
    await rejects(() => fx.files.read('slash/etc/passwd'), 'PATH_OUTSIDE');
    const w = await rejects(() => fx.files.write(`slash/tmp/${escape}`, 'pwned'), 'PATH_OUTSIDE');
    expect(w.message).toContain('"slash"');
    await rejects(() => fx.files.write(`slash${fx.outside}/new.txt`, 'pwned'), 'PATH_OUTSIDE');
    await rejects(() => fx.files.edit(viaSlash, { search: 'SENTINEL', replace: 'pwned' }), 'PATH_OUTSIDE');
    await rejects(() => fx.files.list('slash'), 'PATH_OUTSIDE');
    await rejects(() => fx.files.list('slash/tmp'), 'PATH_OUTSIDE');
    await rejects(() => fx.files.delete(viaSlash), 'PATH_OUTSIDE');
    await rejects(() => fx.files.delete(`slash${fx.outside}`, { recursive: true }), 'PATH_OUTSIDE');
    expect(existsSync(path.join('/tmp', escape))).toBe(false);

    const listing = await fx.files.list('.', { recursive: true, maxEntries: 10_000 });
    expect(listing.entries.find((e) => e.path === 'slash')).toMatchObject({ type: 'symlink', symlinkTarget: '/' });
    expect(listing.entries.some((e) => e.path.startsWith('slash/'))).toBe(false);
    expect(await fx.files.stat('slash')).toMatchObject({ type: 'symlink', symlinkTarget: '/' });

    expect(await fx.files.delete('slash', { recursive: true })).toMatchObject({ type: 'symlink', removed: 1 });
    expect(existsSync(path.join(fx.root, 'slash'))).toBe(false);
    expect(existsSync('/etc/passwd') || existsSync('/bin')).toBe(true);
  });

  it('symlinks to a sibling directory (relative and absolute) are refused for every operation', async () => {
    await fs.symlink('../outside', path.join(fx.root, 'rel-out'));
    await fs.symlink(fx.outside, path.join(fx.root, 'src', 'abs-out'));
    for (const link of ['rel-out', 'src/abs-out']) {
      const err = await rejects(() => fx.files.read(`${link}/sentinel.txt`), 'PATH_OUTSIDE');
      expect(err.message).toContain(JSON.stringify(link));
      await rejects(() => fx.files.write(`${link}/sentinel.txt`, 'pwned'), 'PATH_OUTSIDE');
      await rejects(() => fx.files.write(`${link}/created/deep.txt`, 'pwned'), 'PATH_OUTSIDE');
      await rejects(() => fx.files.edit(`${link}/sentinel.txt`, { search: 'SENTINEL', replace: 'pwned' }), 'PATH_OUTSIDE');
      await rejects(() => fx.files.list(link), 'PATH_OUTSIDE');
      await rejects(() => fx.files.delete(`${link}/sentinel.txt`), 'PATH_OUTSIDE');
      await rejects(() => fx.files.stat(`${link}/sentinel.txt`), 'PATH_OUTSIDE');
    }
    // Deleting the links (even recursively) removes the links, never the target directory.
    expect(await fx.files.delete('rel-out', { recursive: true })).toMatchObject({ type: 'symlink' });
    expect(await fx.files.delete('src/abs-out')).toMatchObject({ type: 'symlink' });
  });

  it('file symlinks (existing and dangling) pointing outside are refused; stat reports them', async () => {
    await fs.symlink(fx.sentinel, path.join(fx.root, 'leak.txt'));
    await fs.symlink('../outside/not-yet.txt', path.join(fx.root, 'dangling.txt'));
    await rejects(() => fx.files.read('leak.txt'), 'PATH_OUTSIDE');
    await rejects(() => fx.files.write('leak.txt', 'pwned'), 'PATH_OUTSIDE');
    await rejects(() => fx.files.edit('leak.txt', { search: 'SENTINEL', replace: 'pwned' }), 'PATH_OUTSIDE');
    await rejects(() => fx.files.write('dangling.txt', 'pwned'), 'PATH_OUTSIDE');
    expect(existsSync(path.join(fx.outside, 'not-yet.txt'))).toBe(false);
    expect(await fx.files.stat('leak.txt')).toMatchObject({ type: 'symlink', symlinkTarget: fx.sentinel });
    const dir = await fx.files.list('.');
    expect(dir.entries.find((e) => e.path === 'leak.txt')).toMatchObject({ type: 'symlink', symlinkTarget: fx.sentinel });
    await fx.files.delete('leak.txt');
    await fx.files.delete('dangling.txt');
  });

  it('a recursive delete of a directory holding outside links removes the links only', async () => {
    await fs.mkdir(path.join(fx.root, 'junk/deeper'), { recursive: true });
    await fs.symlink(fx.outside, path.join(fx.root, 'junk/dirlink'));
    await fs.symlink(fx.sentinel, path.join(fx.root, 'junk/deeper/filelink'));
    await fs.symlink('/', path.join(fx.root, 'junk/deeper/slash'));
    await fs.writeFile(path.join(fx.root, 'junk/deeper/f.txt'), 'f');
    const res = await fx.files.delete('junk', { recursive: true });
    expect(res).toEqual({ path: 'junk', type: 'dir', removed: 6 });
    expect(existsSync(path.join(fx.root, 'junk'))).toBe(false);
  });

  it('symlinks inside the root are followed for read/write; container-form absolute links map to the root', async () => {
    await fs.symlink('src/a.ts', path.join(fx.root, 'alias.ts'));
    await fs.symlink('/workspace/src', path.join(fx.root, 'ws-src'));
    await fs.symlink('..', path.join(fx.root, 'src', 'up'));
    expect((await fx.files.read('alias.ts')).content).toBe('export const a = 1;\n');
    expect((await fx.files.read('ws-src/a.ts')).content).toBe('export const a = 1;\n');
    expect((await fx.files.read('src/up/src/a.ts')).content).toBe('export const a = 1;\n');
    await fx.files.write('alias.ts', 'export const a = 2;\n');
    expect((await fs.lstat(path.join(fx.root, 'alias.ts'))).isSymbolicLink()).toBe(true);
    expect(readFileSync(path.join(fx.root, 'src/a.ts'), 'utf8')).toBe('export const a = 2;\n');
    // `..` in the agent's path is lexical (it cancels the component before it, as in a URL), so it
    // can't be used to climb out behind a link; `..` inside a link target is resolved like the kernel.
    await rejects(() => fx.files.read('src/up/../outside/sentinel.txt'), 'FILE_NOT_FOUND');
    await fs.symlink('up/..', path.join(fx.root, 'src', 'up2'));
    await rejects(() => fx.files.write('src/up2/outside/sentinel.txt', 'pwned'), 'PATH_OUTSIDE');

    // Without a container workdir, /workspace is just an outside absolute path.
    const plain = new WorkspaceFiles(fx.root, { resolveMode });
    await rejects(() => plain.read('ws-src/a.ts'), 'PATH_OUTSIDE');
    await rejects(() => plain.read('/workspace/src/a.ts'), 'PATH_OUTSIDE');
  });

  it('symlink loops and file-as-directory components are PATH_INVALID', async () => {
    await fs.symlink('loop2', path.join(fx.root, 'loop1'));
    await fs.symlink('loop1', path.join(fx.root, 'loop2'));
    expect((await rejects(() => fx.files.read('loop1'), 'PATH_INVALID')).message).toContain('symlinks');
    await rejects(() => fx.files.write('loop1/x', 'x'), 'PATH_INVALID');
    const err = await rejects(() => fx.files.write('src/a.ts/x.ts', 'x'), 'PATH_INVALID');
    expect(err.message).toContain('"src/a.ts"');
  });

  it('.git (a file in a worktree) cannot be written, edited or deleted, directly or through a link', async () => {
    await fs.symlink('.git', path.join(fx.root, 'g'));
    await fs.symlink('/workspace/.git', path.join(fx.root, 'src', 'g2'));
    for (const p of ['.git', '/workspace/.git', '.GIT', 'src/../.git', 'g', 'src/g2']) {
      await rejects(() => fx.files.write(p, 'gitdir: /elsewhere\n'), 'PATH_PROTECTED');
      await rejects(() => fx.files.edit(p, { search: 'gitdir', replace: 'gitdir: /elsewhere #' }), 'PATH_PROTECTED');
    }
    await rejects(() => fx.files.write('.git/config', 'x'), 'PATH_PROTECTED');
    await rejects(() => fx.files.delete('.git'), 'PATH_PROTECTED');
    await rejects(() => fx.files.delete('.git', { recursive: true }), 'PATH_PROTECTED');
    expect(readFileSync(path.join(fx.root, '.git'), 'utf8')).toBe(GITFILE);
    // Reading it and deleting a link to it are harmless.
    expect((await fx.files.read('.git')).content).toBe(GITFILE);
    await fx.files.delete('g');
    expect(readFileSync(path.join(fx.root, '.git'), 'utf8')).toBe(GITFILE);
  });

  it('refuses to delete the root in any spelling', async () => {
    for (const p of ['.', './', 'src/..', '/workspace', '/workspace/', fx.root]) {
      await rejects(() => fx.files.delete(p, { recursive: true }), 'PATH_PROTECTED');
    }
    await fs.symlink('.', path.join(fx.root, 'self'));
    await fs.symlink('/workspace', path.join(fx.root, 'src', 'self2'));
    // Deleting the links removes the links; everything else stays.
    await fx.files.delete('self', { recursive: true });
    await fx.files.delete('src/self2', { recursive: true });
    expect(readFileSync(path.join(fx.root, 'src/a.ts'), 'utf8')).toBe('export const a = 1;\n');
  });
});

describe('write', () => {
  it('creates parent directories, replaces atomically and keeps mode; no temp files remain', async () => {
    const fx = await fixture();
    const res = await fx.files.write('deep/er/f.sh', '#!/bin/sh\necho hi\n');
    expect(res).toEqual({ path: 'deep/er/f.sh', bytes: 18, created: true });
    const p = path.join(fx.root, 'deep/er/f.sh');
    await fs.chmod(p, 0o751);
    const inoBefore = (await fs.stat(p)).ino;
    expect(await fx.files.write('deep/er/f.sh', 'changed\n')).toEqual({ path: 'deep/er/f.sh', bytes: 8, created: false });
    const st = await fs.stat(p);
    expect(st.mode & 0o7777).toBe(0o751);
    expect(st.ino).not.toBe(inoBefore); // a new inode renamed into place
    expect(readFileSync(p, 'utf8')).toBe('changed\n');
    expect(await fs.readdir(path.join(fx.root, 'deep/er'))).toEqual(['f.sh']);
  });

  it('createDirs: false refuses a missing parent and creates nothing', async () => {
    const fx = await fixture();
    const err = await rejects(() => fx.files.write('nope/f.txt', 'x', { createDirs: false }), 'FILE_NOT_FOUND');
    expect(err.message).toContain('createDirs');
    expect(existsSync(path.join(fx.root, 'nope'))).toBe(false);
  });

  it('never writes into a hard-linked inode', async () => {
    const fx = await fixture();
    await fs.writeFile(path.join(fx.root, 'orig.txt'), 'original');
    await fs.link(path.join(fx.root, 'orig.txt'), path.join(fx.root, 'hl.txt'));
    await fx.files.write('hl.txt', 'new');
    expect(readFileSync(path.join(fx.root, 'orig.txt'), 'utf8')).toBe('original');
    expect(readFileSync(path.join(fx.root, 'hl.txt'), 'utf8')).toBe('new');
  });

  it('enforces the size limit on content and refuses directories and FIFOs', async () => {
    const fx = await fixture({ maxFileBytes: 1024 });
    const err = await rejects(() => fx.files.write('big.txt', 'x'.repeat(1025)), 'FILE_TOO_LARGE');
    expect(err.message).toContain('1025');
    expect(err.message).toContain('1024');
    expect(err.details).toEqual({ size: 1025, limit: 1024 });
    expect(existsSync(path.join(fx.root, 'big.txt'))).toBe(false);
    await fx.files.write('ok.txt', 'x'.repeat(1024));
    await rejects(() => fx.files.write('src', 'x'), 'BAD_INPUT');
    await rejects(() => fx.files.write('.', 'x'), 'BAD_INPUT');
    execFileSync('mkfifo', [path.join(fx.root, 'pipe')]);
    await rejects(() => fx.files.write('pipe', 'x'), 'BAD_INPUT');
  });

  it('round-trips bytes and unicode names/content', async () => {
    const fx = await fixture();
    const bytes = new Uint8Array([0, 1, 2, 255, 254]);
    await fx.files.write('bin.dat', bytes);
    expect(new Uint8Array(readFileSync(path.join(fx.root, 'bin.dat')))).toEqual(bytes);
    const text = 'héllo wörld — 日本語 🚀\n';
    await fx.files.write('données/日本語 ✓.txt', text);
    expect(readFileSync(path.join(fx.root, 'données/日本語 ✓.txt'), 'utf8')).toBe(text);
    expect((await fx.files.read('données/日本語 ✓.txt')).content).toBe(text);
  });

  it('refuses to create or enter a .git directory when the root is a plain repository', async () => {
    const fx = await fixture();
    await fs.rm(path.join(fx.root, '.git'));
    await rejects(() => fx.files.write('.git/hooks/pre-commit', '#!/bin/sh\ncurl evil\n'), 'PATH_PROTECTED');
    expect(existsSync(path.join(fx.root, '.git'))).toBe(false);
    await fs.mkdir(path.join(fx.root, '.git/hooks'), { recursive: true });
    await rejects(() => fx.files.write('.git/hooks/pre-commit', '#!/bin/sh\n'), 'PATH_PROTECTED');
    await rejects(() => fx.files.delete('.git/hooks', { recursive: true }), 'PATH_PROTECTED');
    expect(await fs.readdir(path.join(fx.root, '.git/hooks'))).toEqual([]);
    // Nested .git directories (fixtures, vendored repos) are ordinary.
    await fx.files.write('vendor/lib/.git/HEAD', 'ref: refs/heads/main\n');
  });
});

describe.runIf(process.getuid?.() === 0)('ownership (berth running as root)', () => {
  it("keeps the owner of replaced files and gives new files and dirs their parent's owner", async () => {
    const fx = await fixture();
    await fs.mkdir(path.join(fx.root, 'user'));
    await fs.chown(path.join(fx.root, 'user'), 1000, 1000);
    await fs.writeFile(path.join(fx.root, 'src/owned.ts'), 'x = 1\n');
    await fs.chown(path.join(fx.root, 'src/owned.ts'), 1234, 1235);
    await fx.files.write('user/new/deep.ts', 'y');
    await fx.files.edit('src/owned.ts', { search: '1', replace: '2' });
    for (const p of ['user/new', 'user/new/deep.ts']) {
      expect(await fs.stat(path.join(fx.root, p))).toMatchObject({ uid: 1000, gid: 1000 });
    }
    expect(await fs.stat(path.join(fx.root, 'src/owned.ts'))).toMatchObject({ uid: 1234, gid: 1235 });
    expect((await fs.stat(path.join(fx.root, 'src/a.ts'))).uid).toBe(0);
  });

  it('in a worktree handed to a session user (top dir root:<gid>), new top-level entries belong to that user', async () => {
    const fx = await fixture();
    await fs.chown(fx.root, 0, 65532);
    await fx.files.write('top.txt', 'x');
    await fx.files.write('newdir/deep.txt', 'y');
    for (const p of ['top.txt', 'newdir', 'newdir/deep.txt']) {
      expect(await fs.stat(path.join(fx.root, p))).toMatchObject({ uid: 65532, gid: 65532 });
    }
  });
});

describe('read', () => {
  it('reads whole files and inclusive line ranges, keeping CRLF and unicode', async () => {
    const fx = await fixture();
    const text = 'één\r\ntwee 🚀\r\ndrie\r\nvier';
    await fs.writeFile(path.join(fx.root, 'nl.txt'), text);
    expect(await fx.files.read('nl.txt')).toEqual({ content: text, totalLines: 4, startLine: 1, endLine: 4, size: Buffer.byteLength(text) });
    expect(await fx.files.read('nl.txt', { startLine: 2, endLine: 3 })).toMatchObject({
      content: 'twee 🚀\r\ndrie\r\n',
      startLine: 2,
      endLine: 3,
      totalLines: 4,
    });
    expect(await fx.files.read('nl.txt', { startLine: 4 })).toMatchObject({ content: 'vier', startLine: 4, endLine: 4 });
    expect(await fx.files.read('nl.txt', { startLine: 3, endLine: 99 })).toMatchObject({ content: 'drie\r\nvier', endLine: 4 });
    expect(await fx.files.read('src/a.ts')).toMatchObject({ totalLines: 1, endLine: 1 });
    const err = await rejects(() => fx.files.read('nl.txt', { startLine: 5 }), 'BAD_INPUT');
    expect(err.message).toContain('4 lines');
    await rejects(() => fx.files.read('nl.txt', { startLine: 3, endLine: 2 }), 'BAD_INPUT');
    await rejects(() => fx.files.read('nl.txt', { startLine: 0 }), 'BAD_INPUT');
    await fs.writeFile(path.join(fx.root, 'empty.txt'), '');
    expect(await fx.files.read('empty.txt')).toEqual({ content: '', totalLines: 0, startLine: 1, endLine: 0, size: 0 });
  });

  it('flags binary files instead of returning garbage', async () => {
    const fx = await fixture();
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]), randomBytes(2000)]);
    await fs.writeFile(path.join(fx.root, 'img.png'), png);
    expect(await fx.files.read('img.png')).toEqual({ content: '', totalLines: 0, startLine: 0, endLine: 0, size: png.length, binary: true });
    // A NUL far into an otherwise-text file is still detected, also on ranged reads.
    const late = Buffer.concat([Buffer.from('text\n'.repeat(5000)), Buffer.from([0])]);
    await fs.writeFile(path.join(fx.root, 'late.bin'), late);
    expect(await fx.files.read('late.bin')).toMatchObject({ binary: true, content: '' });
    expect(await fx.files.read('late.bin', { startLine: 1, endLine: 2 })).toMatchObject({ binary: true, content: '' });
  });

  it('refuses files over the limit unless a range is given, then streams lines', async () => {
    const fx = await fixture({ maxFileBytes: 64 * 1024 });
    const lines = Array.from({ length: 20_000 }, (_, i) => `line ${i + 1} ${'·'.repeat(i % 7)}`);
    const text = `${lines.join('\n')}\n`;
    const size = Buffer.byteLength(text);
    expect(size).toBeGreaterThan(64 * 1024 * 4);
    await fs.writeFile(path.join(fx.root, 'big.log'), text);
    const err = await rejects(() => fx.files.read('big.log'), 'FILE_TOO_LARGE');
    expect(err.message).toContain(String(size));
    expect(err.message).toContain(String(64 * 1024));
    expect(err.message).toContain('startLine');
    const mid = await fx.files.read('big.log', { startLine: 12_345, endLine: 12_347 });
    expect(mid).toEqual({ content: `${lines.slice(12_344, 12_347).join('\n')}\n`, totalLines: 20_000, startLine: 12_345, endLine: 12_347, size });
    expect((await fx.files.read('big.log', { startLine: 20_000 })).content).toBe(`line 20000 ${'·'.repeat(19_999 % 7)}\n`);
    // A range larger than the limit is cut at a line boundary and says so.
    const cut = await fx.files.read('big.log', { startLine: 1 });
    expect(cut.truncated).toBe(true);
    expect(cut.endLine).toBeLessThan(20_000);
    expect(cut.content).toBe(`${lines.slice(0, cut.endLine).join('\n')}\n`);
    expect(Buffer.byteLength(cut.content)).toBeLessThanOrEqual(64 * 1024);
  });

  it('cuts a single giant line at the limit on a UTF-8 boundary', async () => {
    const fx = await fixture({ maxFileBytes: 1000 });
    await fs.writeFile(path.join(fx.root, 'min.js'), `${'€'.repeat(2000)}\nnext\n`);
    await rejects(() => fx.files.read('min.js'), 'FILE_TOO_LARGE');
    const r = await fx.files.read('min.js', { startLine: 1, endLine: 1 });
    expect(r).toMatchObject({ truncated: true, startLine: 1, endLine: 1, totalLines: 2 });
    expect(r.content).toBe('€'.repeat(333)); // 3 bytes each: 999 bytes fit
  });

  it('enforces the default 10 MiB limit', async () => {
    const fx = await fixture({});
    const files = new WorkspaceFiles(fx.root);
    const big = path.join(fx.root, 'huge.txt');
    await fs.writeFile(big, Buffer.alloc(10 * 1024 * 1024 + 1, 'a'));
    const err = await rejects(() => files.read('huge.txt'), 'FILE_TOO_LARGE');
    expect(err.details).toEqual({ size: 10 * 1024 * 1024 + 1, limit: 10 * 1024 * 1024 });
    await rejects(() => files.edit('huge.txt', { search: 'a', replace: 'b' }), 'FILE_TOO_LARGE');
  });

  it('reports missing files, directories and FIFOs without hanging', async () => {
    const fx = await fixture();
    expect((await rejects(() => fx.files.read('src/missing.ts'), 'FILE_NOT_FOUND')).message).toContain('"src/missing.ts"');
    await rejects(() => fx.files.read('no/such/dir.ts'), 'FILE_NOT_FOUND');
    await rejects(() => fx.files.read('src'), 'BAD_INPUT');
    execFileSync('mkfifo', [path.join(fx.root, 'pipe')]);
    expect((await rejects(() => fx.files.read('pipe'), 'BAD_INPUT')).message).toContain('regular file');
  });
});

describe('edit', () => {
  it('replaces a unique match atomically, keeping mode, and returns its line', async () => {
    const fx = await fixture();
    const p = path.join(fx.root, 'src/a.ts');
    await fs.writeFile(p, 'import x from "x";\n\nexport const a = 1;\nexport const b = 2;\n');
    await fs.chmod(p, 0o640);
    expect(await fx.files.edit('src/a.ts', { search: 'const b = 2', replace: 'const b = 3' })).toEqual({
      path: 'src/a.ts',
      replaced: 1,
      line: 4,
      matchId: 'L4',
    });
    expect(readFileSync(p, 'utf8')).toBe('import x from "x";\n\nexport const a = 1;\nexport const b = 3;\n');
    expect((await fs.stat(p)).mode & 0o7777).toBe(0o640);
    await fx.files.edit('/workspace/src/a.ts', { search: 'import x from "x";\n\n', replace: '' });
    expect(readFileSync(p, 'utf8')).toBe('export const a = 1;\nexport const b = 3;\n');
    expect(await fs.readdir(path.join(fx.root, 'src'))).toEqual(['a.ts']);
  });

  it('lists ambiguous matches with stable IDs and context, then edits the chosen one', async () => {
    const fx = await fixture();
    const p = path.join(fx.root, 'm.py');
    await fs.writeFile(p, 'def f():\n    return 0\n\ndef g():\n    return 0  # zero, return 0\n');
    const err = await rejects(() => fx.files.edit('m.py', { search: 'return 0', replace: 'return 1' }), 'EDIT_AMBIGUOUS');
    const matches = err.details?.matches as { id: string; line: number; column: number; context: string }[];
    expect(matches.map((m) => m.id)).toEqual(['L2', 'L5', 'L5.2']);
    expect(matches.map((m) => [m.line, m.column])).toEqual([
      [2, 5],
      [5, 5],
      [5, 23],
    ]);
    expect(matches[0]?.context).toBe('  1 | def f():\n> 2 |     return 0\n  3 | ');
    expect(err.details?.total).toBe(3);
    expect(err.message).toContain('L5.2 (line 5, column 23)');
    expect(err.message).toContain('> 5 |     return 0  # zero, return 0');
    expect(readFileSync(p, 'utf8')).toContain('return 0\n\ndef g()');

    expect(await fx.files.edit('m.py', { search: 'return 0', replace: 'return 1', matchId: 'L5.2' })).toMatchObject({ line: 5, matchId: 'L5.2' });
    expect(readFileSync(p, 'utf8')).toBe('def f():\n    return 0\n\ndef g():\n    return 0  # zero, return 1\n');
    // IDs are positional, so L5 still names the same occurrence after the edit.
    await fx.files.edit('m.py', { search: 'return 0', replace: 'return 2', matchId: 'l5' });
    expect(readFileSync(p, 'utf8')).toBe('def f():\n    return 0\n\ndef g():\n    return 2  # zero, return 1\n');
    // A stale ID fails rather than editing some other occurrence.
    const stale = await rejects(() => fx.files.edit('m.py', { search: 'return 0', replace: 'x', matchId: 'L5' }), 'EDIT_NO_MATCH');
    expect(stale.message).toContain('L2');
    expect(readFileSync(p, 'utf8')).toBe('def f():\n    return 0\n\ndef g():\n    return 2  # zero, return 1\n');
  });

  it('explains misses: whitespace differences, a diverging line, the closest line', async () => {
    const fx = await fixture();
    await fs.writeFile(path.join(fx.root, 'w.ts'), 'function f() {\n\tif (x) {\n\t\treturn y;\n\t}\n}\nconst total = compute(items);\n');
    const ws = await rejects(() => fx.files.edit('w.ts', { search: 'if (x) {\n    return y;', replace: '' }), 'EDIT_NO_MATCH');
    expect(ws.message).toContain('differs only in whitespace');
    expect(ws.details?.hint).toEqual({ kind: 'whitespace', line: 2 });
    const prefix = await rejects(() => fx.files.edit('w.ts', { search: '\tif (x) {\n\t\treturn z;\n', replace: '' }), 'EDIT_NO_MATCH');
    expect(prefix.details?.hint).toEqual({ kind: 'prefix', line: 2 });
    expect(prefix.message).toContain('"\\t\\treturn z;"');
    const close = await rejects(() => fx.files.edit('w.ts', { search: 'const totl = compute(item);', replace: '' }), 'EDIT_NO_MATCH');
    expect(close.details?.hint).toEqual({ kind: 'closest-line', line: 6 });
    expect(close.message).toContain('const total = compute(items);');
    const none = await rejects(() => fx.files.edit('w.ts', { search: 'zzzzqqqq', replace: '' }), 'EDIT_NO_MATCH');
    expect(none.details?.hint).toEqual({ kind: 'none' });
  });

  it('keeps Windows CRLF line endings, also when the model sends LF', async () => {
    const fx = await fixture();
    const p = path.join(fx.root, 'win.txt');
    await fs.writeFile(p, 'alpha\r\nbeta\r\ngamma\r\ndelta\r\n');
    await fx.files.edit('win.txt', { search: 'beta\ngamma', replace: 'BETA\nGAMMA\nextra' });
    expect(readFileSync(p, 'utf8')).toBe('alpha\r\nBETA\r\nGAMMA\r\nextra\r\ndelta\r\n');
    await fx.files.edit('win.txt', { search: 'delta', replace: 'DELTA' });
    expect(readFileSync(p, 'utf8')).toBe('alpha\r\nBETA\r\nGAMMA\r\nextra\r\nDELTA\r\n');
    // LF files stay LF even if the search came with CRLF.
    await fs.writeFile(path.join(fx.root, 'unix.txt'), 'one\ntwo\n');
    await fx.files.edit('unix.txt', { search: 'one\r\ntwo', replace: '1\r\n2' });
    expect(readFileSync(path.join(fx.root, 'unix.txt'), 'utf8')).toBe('1\n2\n');
  });

  it('preserves a BOM and unicode, and refuses binary, invalid UTF-8 and bad input', async () => {
    const fx = await fixture();
    const p = path.join(fx.root, 'bom.txt');
    await fs.writeFile(p, '\uFEFFnaïve café 🚀\n');
    await fx.files.edit('bom.txt', { search: 'café', replace: 'kaffee ☕' });
    expect(readFileSync(p).subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
    expect(readFileSync(p, 'utf8')).toBe('\uFEFFnaïve kaffee ☕ 🚀\n');
    await fs.writeFile(path.join(fx.root, 'b.bin'), Buffer.from([65, 0, 66]));
    await rejects(() => fx.files.edit('b.bin', { search: 'A', replace: 'C' }), 'BAD_INPUT');
    const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]);
    await fs.writeFile(path.join(fx.root, 'l1.txt'), latin1);
    await rejects(() => fx.files.edit('l1.txt', { search: 'caf', replace: 'CAF' }), 'BAD_INPUT');
    expect(readFileSync(path.join(fx.root, 'l1.txt'))).toEqual(latin1);
    await rejects(() => fx.files.edit('bom.txt', { search: '', replace: 'x' }), 'BAD_INPUT');
    await rejects(() => fx.files.edit('bom.txt', { search: 'x' } as unknown as { search: string; replace: string }), 'BAD_INPUT');
    await rejects(() => fx.files.edit('missing.txt', { search: 'x', replace: 'y' }), 'FILE_NOT_FOUND');
  });

  it('refuses an edit that would exceed the size limit', async () => {
    const fx = await fixture({ maxFileBytes: 100 });
    await fs.writeFile(path.join(fx.root, 's.txt'), 'x'.repeat(90));
    const err = await rejects(() => fx.files.edit('s.txt', { search: 'x'.repeat(90), replace: 'y'.repeat(101) }), 'FILE_TOO_LARGE');
    expect(err.message).toContain('101');
    expect(readFileSync(path.join(fx.root, 's.txt'), 'utf8')).toBe('x'.repeat(90));
  });
});

describe('list', () => {
  it('lists one level, hiding dot-entries and .git by default', async () => {
    const fx = await fixture();
    await fs.writeFile(path.join(fx.root, '.env'), 'A=1');
    await fs.writeFile(path.join(fx.root, 'README.md'), '# hi\n');
    const names = async (o: Parameters<WorkspaceFiles['list']>[1]) => (await fx.files.list('.', o)).entries.map((e) => e.path);
    expect(await names({})).toEqual(['README.md', 'src']);
    expect(await names({ includeHidden: true })).toEqual(['.env', 'README.md', 'src']);
    expect(await names({ includeHidden: true, includeGit: true })).toEqual(['.env', '.git', 'README.md', 'src']);
    const readme = (await fx.files.list('.')).entries[0];
    expect(readme).toMatchObject({ path: 'README.md', type: 'file', size: 5 });
    expect(readme?.mtimeMs).toBeGreaterThan(0);
    expect((await fx.files.list('src/a.ts')).entries).toMatchObject([{ path: 'src/a.ts', type: 'file' }]);
    await rejects(() => fx.files.list('nope'), 'FILE_NOT_FOUND');
  });

  it('recurses breadth-first with paths relative to the root, bounded by maxEntries', async () => {
    const fx = await fixture();
    await fs.mkdir(path.join(fx.root, 'src/lib/deep'), { recursive: true });
    await fs.writeFile(path.join(fx.root, 'src/lib/deep/z.ts'), '');
    await fs.writeFile(path.join(fx.root, 'src/lib/b.ts'), '');
    await fs.mkdir(path.join(fx.root, 'docs/日本'), { recursive: true });
    await fs.writeFile(path.join(fx.root, 'docs/日本/ü.md'), 'ü');
    const all = await fx.files.list('.', { recursive: true });
    expect(all).toEqual({
      entries: expect.any(Array),
      truncated: false,
    });
    expect(all.entries.map((e) => `${e.type}:${e.path}`)).toEqual([
      'dir:docs',
      'dir:src',
      'dir:docs/日本',
      'file:src/a.ts',
      'dir:src/lib',
      'file:docs/日本/ü.md',
      'file:src/lib/b.ts',
      'dir:src/lib/deep',
      'file:src/lib/deep/z.ts',
    ]);
    expect((await fx.files.list('/workspace/src', { recursive: true })).entries.map((e) => e.path)).toEqual([
      'src/a.ts',
      'src/lib',
      'src/lib/b.ts',
      'src/lib/deep',
      'src/lib/deep/z.ts',
    ]);
    const cut = await fx.files.list('.', { recursive: true, maxEntries: 4 });
    expect(cut.truncated).toBe(true);
    expect(cut.entries.map((e) => e.path)).toEqual(['docs', 'src', 'docs/日本', 'src/a.ts']);
    await rejects(() => fx.files.list('.', { maxEntries: 0 }), 'BAD_INPUT');
    await rejects(() => fx.files.list('.', { recursive: true, signal: AbortSignal.abort() }), 'ABORTED');
    await rejects(() => fx.files.read('src/a.ts', { signal: AbortSignal.abort() }), 'ABORTED');
    await rejects(() => fx.files.delete('src', { recursive: true, signal: AbortSignal.abort() }), 'ABORTED');
    expect(existsSync(path.join(fx.root, 'src/a.ts'))).toBe(true);
  });

  it('handles wide trees beyond its open-handle budget and skips nested .git', async () => {
    const fx = await fixture();
    for (let i = 0; i < 150; i++) await fs.mkdir(path.join(fx.root, 'wide', `d${String(i).padStart(3, '0')}`, 'leaf'), { recursive: true });
    await fs.mkdir(path.join(fx.root, 'wide/d000/.git'));
    await fs.writeFile(path.join(fx.root, 'wide/d000/.git/HEAD'), 'x');
    const res = await fx.files.list('wide', { recursive: true, maxEntries: 10_000 });
    expect(res.truncated).toBe(false);
    expect(res.entries).toHaveLength(300);
    expect(res.entries.at(-1)?.path).toBe('wide/d149/leaf');
    expect(res.entries.some((e) => e.path.includes('.git'))).toBe(false);
  });
});

describe('delete and stat', () => {
  it('deletes files, empty dirs, and non-empty dirs only when recursive', async () => {
    const fx = await fixture();
    await fs.mkdir(path.join(fx.root, 'tree/a/b'), { recursive: true });
    await fs.writeFile(path.join(fx.root, 'tree/a/b/f.txt'), 'f');
    await fs.writeFile(path.join(fx.root, 'tree/g.txt'), 'g');
    await fs.mkdir(path.join(fx.root, 'empty'));
    expect(await fx.files.delete('src/a.ts')).toEqual({ path: 'src/a.ts', type: 'file', removed: 1 });
    expect(await fx.files.delete('empty')).toEqual({ path: 'empty', type: 'dir', removed: 1 });
    const err = await rejects(() => fx.files.delete('tree'), 'BAD_INPUT');
    expect(err.message).toContain('recursive');
    expect(existsSync(path.join(fx.root, 'tree/a/b/f.txt'))).toBe(true);
    expect(await fx.files.delete('tree', { recursive: true })).toEqual({ path: 'tree', type: 'dir', removed: 5 });
    expect(await fs.readdir(fx.root)).toEqual(['.git', 'src']);
    await rejects(() => fx.files.delete('tree'), 'FILE_NOT_FOUND');
  });

  it('stats files, dirs and links with lstat semantics', async () => {
    const fx = await fixture();
    await fs.chmod(path.join(fx.root, 'src/a.ts'), 0o600);
    await fs.symlink('a.ts', path.join(fx.root, 'src/link'));
    expect(await fx.files.stat('src/a.ts')).toMatchObject({ path: 'src/a.ts', type: 'file', size: 20, mode: 0o600 });
    expect(await fx.files.stat('/workspace/src')).toMatchObject({ path: 'src', type: 'dir' });
    expect(await fx.files.stat('.')).toMatchObject({ path: '.', type: 'dir' });
    expect(await fx.files.stat('src/link')).toMatchObject({ type: 'symlink', symlinkTarget: 'a.ts' });
    await rejects(() => fx.files.stat('src/none'), 'FILE_NOT_FOUND');
  });

  it('validates its construction and reports a missing root', async () => {
    expect(() => new WorkspaceFiles('relative/root')).toThrow(/absolute/);
    expect(() => new WorkspaceFiles('/x', { containerWorkdir: 'workspace' })).toThrow(/containerWorkdir/);
    const gone = new WorkspaceFiles(path.join(os.tmpdir(), `berth-files-missing-${randomBytes(6).toString('hex')}`));
    await rejects(() => gone.read('a'), 'FILE_NOT_FOUND');
  });
});

describe.runIf(process.platform === 'linux')('swap races (fd-relative resolution)', () => {
  it('an agent flipping a directory and an outside symlink never gets a read or write outside', async () => {
    const fx = await fixture({ resolveMode: 'fd' });
    const before = await snapshot(fx.outside);
    await fs.writeFile(path.join(fx.outside, 'f'), SENTINEL);
    const outsideSnap = await snapshot(fx.outside);
    await fs.mkdir(path.join(fx.root, 'real'));
    await fs.writeFile(path.join(fx.root, 'real/f'), 'inside\n');
    await fs.symlink(fx.outside, path.join(fx.root, 'evil'));
    // A separate process swaps root/d between the real directory and the outside link as fast as
    // it can, the way a hostile agent in the container would.
    const script = `
      const fs = require('fs'); const r = process.argv[1];
      for (;;) {
        try { fs.renameSync(r + '/real', r + '/d'); fs.renameSync(r + '/d', r + '/real'); } catch {}
        try { fs.renameSync(r + '/evil', r + '/d'); fs.renameSync(r + '/d', r + '/evil'); } catch {}
      }`;
    const swapper = spawn(process.execPath, ['-e', script, fx.root], { stdio: 'ignore' });
    const seen = { inside: 0, outside: 0, other: 0 };
    try {
      for (let i = 0; i < 4000 && (seen.inside < 20 || seen.outside < 20 || i < 400); i++) {
        try {
          const r = await fx.files.read('d/f');
          expect(r.content).toBe('inside\n');
          seen.inside++;
        } catch (err) {
          if (!isBerthError(err)) throw err;
          if (err.code === 'PATH_OUTSIDE') seen.outside++;
          else seen.other++;
        }
        await fx.files.write('d/f', 'inside\n').catch((err: unknown) => {
          if (!isBerthError(err)) throw err;
        });
        await fx.files.delete('d/f').catch((err: unknown) => {
          if (!isBerthError(err)) throw err;
        });
      }
    } finally {
      swapper.kill('SIGKILL');
      await new Promise((resolve) => swapper.once('exit', resolve));
    }
    // The race really happened both ways, and the outside never changed.
    expect(seen.inside).toBeGreaterThan(0);
    expect(seen.outside).toBeGreaterThan(0);
    expect(await snapshot(fx.outside)).toEqual(outsideSnap);
    expect(before).toEqual({ 'sentinel.txt': expect.any(String) });
  });
});

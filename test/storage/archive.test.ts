/**
 * The worktree tarball on a real file system: packing, and extracting hostile archives into a
 * destination inside a sandbox directory, so anything that escaped would be visible next to it.
 */
import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, symlink, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../../src/errors.js';
import { extractArchive } from '../../runner/storage/archive.js';
import { packFiles } from '../../runner/storage/pack.js';
import { tarBuffer, tgz } from './tarball.js';

let sandbox: string;
let dest: string;

beforeEach(async () => {
  sandbox = await mkdtemp(join(tmpdir(), 'berth-archive-test-'));
  dest = join(sandbox, 'dest');
  await mkdir(dest);
});

afterEach(async () => {
  await rm(sandbox, { recursive: true, force: true });
});

async function walk(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    out.push(p);
    if (e.isDirectory()) out.push(...(await walk(root, p)));
  }
  return out.sort();
}

describe('extractArchive', () => {
  it('writes the safe entries and rejects and reports every escaping or special one', async () => {
    const outside = join(sandbox, 'abs.txt');
    const archive = tgz([
      { path: 'ok.txt', body: 'fine\n' },
      { path: 'dir/nested.txt', body: 'nested\n' },
      { path: '../escape.txt', body: 'escaped\n' },
      { path: 'a/../../escape2.txt', body: 'escaped\n' },
      { path: outside, body: 'absolute\n' },
      { path: '.git/config', body: '[core]\n\tfsmonitor = touch /tmp/pwned\n' },
      { path: 'sub/.GIT/hooks/post-checkout', body: '#!/bin/sh\n', mode: 0o755 },
      { path: 'etc', type: 'SymbolicLink', linkpath: '/etc' },
      { path: 'up', type: 'SymbolicLink', linkpath: '..' },
      { path: 'here', type: 'SymbolicLink', linkpath: '.' },
      { path: 'chain', type: 'SymbolicLink', linkpath: 'here/..' },
      { path: 'good-link', type: 'SymbolicLink', linkpath: 'dir/nested.txt' },
      { path: 'hard', type: 'Link', linkpath: '/etc/passwd' },
      { path: 'hard2', type: 'Link', linkpath: 'ok.txt' },
      { path: 'null2', type: 'CharacterDevice', mode: 0o666 },
      { path: 'disk', type: 'BlockDevice', mode: 0o660 },
      { path: 'fifo', type: 'FIFO' },
      { path: 'suid.sh', body: '#!/bin/sh\necho hi\n', mode: 0o4755 },
      { path: 'sgid.txt', body: 'shared\n', mode: 0o2666 },
      { path: 'ok.txt', body: 'second copy\n' },
      { path: 'ok.txt/inner', body: 'under a file\n' },
    ]);
    const report = await extractArchive(Readable.from([archive]), dest);

    // Nothing next to dest, nothing unexpected inside it.
    expect(await readdir(sandbox)).toEqual(['dest']);
    expect(await walk(dest)).toEqual(['dir', 'dir/nested.txt', 'good-link', 'here', 'ok.txt', 'sgid.txt', 'suid.sh']);
    expect(await readFile(join(dest, 'ok.txt'), 'utf8')).toBe('fine\n');
    expect(await readlink(join(dest, 'good-link'))).toBe('dir/nested.txt');
    expect((await stat(join(dest, 'suid.sh'))).mode & 0o7777).toBe(0o755);
    expect((await stat(join(dest, 'sgid.txt'))).mode & 0o7777).toBe(0o644);
    expect((await stat(join(dest, 'ok.txt'))).mode & 0o7777).toBe(0o644);

    const reasons = Object.fromEntries(report.rejected.map((r) => [r.path, r.reason]));
    expect(reasons['../escape.txt']).toMatch(/\.\./);
    expect(reasons['a/../../escape2.txt']).toMatch(/\.\./);
    expect(reasons[outside]).toMatch(/absolute path/);
    expect(reasons['.git/config']).toMatch(/\.git/);
    expect(reasons['sub/.GIT/hooks/post-checkout']).toMatch(/\.git/);
    expect(reasons.etc).toMatch(/absolute path "\/etc"/);
    expect(reasons.up).toMatch(/outside/);
    expect(reasons.chain).toMatch(/through another symlink/);
    expect(reasons.hard).toMatch(/hard link/);
    expect(reasons.hard2).toMatch(/hard link/);
    expect(reasons.null2).toMatch(/device/);
    expect(reasons.disk).toMatch(/device/);
    expect(reasons.fifo).toMatch(/FIFO/);
    expect(reasons['ok.txt/inner']).toMatch(/not a directory/);
    expect(report.rejected.filter((r) => r.path === 'ok.txt').map((r) => r.reason)).toEqual(['already exists (not overwritten)']);
    expect(report.rejected).toHaveLength(15);
    expect(report.adjusted.map((a) => a.path).sort()).toEqual(['sgid.txt', 'suid.sh']);
    expect(report).toMatchObject({ files: 4, symlinks: 2 });
  });

  it('never writes through a symlink that is already in the destination', async () => {
    const victim = join(sandbox, 'victim');
    await mkdir(victim);
    await symlink(victim, join(dest, 'link-out'));
    await writeFile(join(dest, 'existing.txt'), 'mine');
    const report = await extractArchive(
      Readable.from([
        tgz([
          { path: 'link-out/owned.txt', body: 'x' },
          { path: 'link-out', type: 'Directory', mode: 0o755 },
          { path: 'existing.txt', body: 'theirs' },
        ]),
      ]),
      dest,
    );
    expect(await readdir(victim)).toEqual([]);
    expect(await readFile(join(dest, 'existing.txt'), 'utf8')).toBe('mine');
    expect(report.rejected.map((r) => r.reason)).toEqual([
      'parent "link-out" is a symlink',
      'parent "link-out" is a symlink',
      'already exists (not overwritten)',
    ]);
  });

  it('aborts when the archive has more entries than allowed', async () => {
    const entries = Array.from({ length: 30 }, (_, i) => ({ path: `f${i}.txt`, body: 'x' }));
    const err = await extractArchive(Readable.from([tgz(entries)]), dest, { limits: { maxEntries: 10 } }).catch((e: unknown) => e);
    expect(isBerthError(err, 'FILE_TOO_LARGE')).toBe(true);
    expect((await readdir(dest)).length).toBeLessThanOrEqual(10);
  });

  it('stops a decompression bomb at the byte limit', async () => {
    // 64 MiB of zeros gzip to ~64 KiB; the header announces the full size.
    const bomb = gzipSync(tarBuffer([{ path: 'zeros.bin', body: Buffer.alloc(64 * 1024 * 1024) }]));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const err = await extractArchive(Readable.from([bomb]), dest, { limits: { maxBytes: 1024 * 1024 } }).catch((e: unknown) => e);
    expect(isBerthError(err, 'FILE_TOO_LARGE')).toBe(true);
    expect((err as Error).message).toContain('zeros.bin');
    // Refused from the header's size: not a byte was written.
    expect(await readdir(dest)).toEqual([]);
  });

  it('counts real bytes too, across many files', async () => {
    const entries = Array.from({ length: 8 }, (_, i) => ({ path: `part${i}.bin`, body: randomBytes(200 * 1024) }));
    const err = await extractArchive(Readable.from([tgz(entries)]), dest, { limits: { maxBytes: 1024 * 1024 } }).catch((e: unknown) => e);
    expect(isBerthError(err, 'FILE_TOO_LARGE')).toBe(true);
    let total = 0;
    for (const f of await readdir(dest)) total += (await stat(join(dest, f))).size;
    expect(total).toBeLessThanOrEqual(1024 * 1024);
  });

  it('reports a non-gzip or truncated archive as damaged', async () => {
    const notGzip = await extractArchive(Readable.from([Buffer.from('this is not an archive at all')]), dest).catch((e: unknown) => e);
    expect(isBerthError(notGzip, 'BAD_INPUT')).toBe(true);
    expect((notGzip as Error).message).toContain('damaged');
    const full = gzipSync(tarBuffer([{ path: 'big.bin', body: randomBytes(100_000) }]));
    const truncated = gzipSync(tarBuffer([{ path: 'big.bin', body: randomBytes(100_000) }]).subarray(0, 20_000));
    expect(full.length).toBeGreaterThan(0);
    const err = await extractArchive(Readable.from([truncated]), dest).catch((e: unknown) => e);
    expect(isBerthError(err, 'BAD_INPUT')).toBe(true);
  });

  it('honours an abort signal', async () => {
    const ac = new AbortController();
    ac.abort();
    const err = await extractArchive(Readable.from([tgz([{ path: 'a', body: 'b' }])]), dest, { signal: ac.signal }).catch((e: unknown) => e);
    expect(isBerthError(err, 'ABORTED')).toBe(true);
  });
});

describe('packFiles', () => {
  it('round-trips names tar would misread, modes, symlinks and hard-linked files', async () => {
    const src = join(sandbox, 'src');
    await mkdir(join(src, 'deep', 'er'), { recursive: true });
    const files: Record<string, Buffer> = {
      '@looks-like-an-archive.txt': Buffer.from('at sign'),
      'with space and ü.txt': Buffer.from('unicode'),
      'deep/er/data.bin': randomBytes(70_000),
      'run.sh': Buffer.from('#!/bin/sh\necho run\n'),
      '-dash.txt': Buffer.from('dash'),
    };
    for (const [p, b] of Object.entries(files)) await writeFile(join(src, p), b);
    await chmod(join(src, 'run.sh'), 0o755);
    await link(join(src, 'deep/er/data.bin'), join(src, 'hardlinked.bin'));
    await symlink('deep/er/data.bin', join(src, 'link'));
    const list = [...Object.keys(files), 'hardlinked.bin', 'link'];

    const report = await extractArchive(packFiles(src, list), dest);
    expect(report.rejected).toEqual([]);
    for (const [p, b] of Object.entries(files)) expect((await readFile(join(dest, p))).equals(b), p).toBe(true);
    expect((await readFile(join(dest, 'hardlinked.bin'))).equals(files['deep/er/data.bin'] as Buffer)).toBe(true);
    expect((await lstat(join(dest, 'hardlinked.bin'))).nlink).toBe(1);
    expect(await readlink(join(dest, 'link'))).toBe('deep/er/data.bin');
    expect((await stat(join(dest, 'run.sh'))).mode & 0o777).toBe(0o755);
    expect(report).toMatchObject({ files: 6, symlinks: 1 });
  });

  it('skips, and reports, a listed file that vanished before it was read', async () => {
    // Changed with the walkTree-based packer: a file deleted after git listed it is as if it were
    // deleted before the export (it used to fail the whole export with ENOENT).
    const src = join(sandbox, 'src');
    await mkdir(src);
    await writeFile(join(src, 'here.txt'), 'x');
    const skipped: string[] = [];
    const report = await extractArchive(packFiles(src, ['here.txt', 'gone.txt', 'sub/gone.txt'], { onSkipped: (rel) => skipped.push(rel) }), dest);
    expect(report).toMatchObject({ files: 1, rejected: [] });
    expect(skipped).toEqual(['gone.txt', 'sub/gone.txt']);
  });
});

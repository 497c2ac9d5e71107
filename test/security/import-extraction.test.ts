/**
 * Attack: an export's untracked-files archive crafted to write outside the worktree on import. Real
 * crafted tars (headers encoded by hand, pax records included) are extracted into a destination
 * inside a sandbox; afterwards nothing may exist outside the destination, no host file may have
 * changed, and every refused entry is reported. Cases test/storage/archive.test.ts and the
 * transfer suite do not cover already: duplicate entries, a symlink followed by writes through
 * it in the same archive, a pax record renaming a harmless ustar name to "../", hard links out,
 * block and char devices, FIFOs, an entry-count bomb and a size bomb.
 */
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { Pax } from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../../src/errors.js';
import { extractArchive } from '../../runner/storage/archive.js';
import { tarBuffer, tgz, type RawEntry } from '../storage/tarball.js';

let sandbox: string;
let dest: string;
let outside: string;

beforeEach(async () => {
  sandbox = await mkdtemp(join(tmpdir(), 'berth-sec-extract-'));
  dest = join(sandbox, 'dest');
  outside = join(sandbox, 'outside');
  await mkdir(dest);
  await mkdir(outside);
  await writeFile(join(outside, 'host.txt'), 'host original\n');
});

afterEach(async () => {
  await rm(sandbox, { recursive: true, force: true });
});

async function extract(entries: readonly RawEntry[] | Buffer, limits = {}) {
  const gz = Buffer.isBuffer(entries) ? gzipSync(entries) : tgz(entries);
  return extractArchive(Readable.from([gz]), dest, { limits });
}

/** The sandbox must hold exactly dest/ and outside/host.txt (unchanged). */
async function assertConfined(): Promise<void> {
  expect((await readdir(sandbox)).sort()).toEqual(['dest', 'outside']);
  expect(await readdir(outside)).toEqual(['host.txt']);
  expect(await readFile(join(outside, 'host.txt'), 'utf8')).toBe('host original\n');
}

describe('security: confined extraction of an untracked-files archive', () => {
  it('keeps the first of duplicate entries and never overwrites it', async () => {
    const r = await extract([
      { path: 'a.txt', body: 'first\n' },
      { path: 'a.txt', body: 'second\n' },
      { path: './a.txt', body: 'third\n' },
      { path: 'dir/../a.txt', body: 'fourth\n' },
    ]);
    expect(await readFile(join(dest, 'a.txt'), 'utf8')).toBe('first\n');
    expect(r.files).toBe(1);
    expect(r.rejected).toHaveLength(3);
    await assertConfined();
  });

  it('does not write through a symlink the same archive created (before or after the files)', async () => {
    const r = await extract([
      { path: 'esc', type: 'SymbolicLink', linkpath: '../outside' },
      { path: 'esc/host.txt', body: 'pwned\n' },
      { path: 'esc/new.txt', body: 'pwned\n' },
      { path: 'abs', type: 'SymbolicLink', linkpath: outside },
      { path: 'abs/new.txt', body: 'pwned\n' },
      { path: 'in', type: 'SymbolicLink', linkpath: 'real' },
      { path: 'real/x', body: 'ok\n' },
      { path: 'chain', type: 'SymbolicLink', linkpath: 'in/../../outside' },
    ]);
    await assertConfined();
    // The files went into real directories inside dest; every escaping or shadowed link was refused.
    expect((await lstat(join(dest, 'esc'))).isDirectory()).toBe(true);
    expect(await readFile(join(dest, 'esc', 'host.txt'), 'utf8')).toBe('pwned\n');
    expect((await lstat(join(dest, 'abs'))).isDirectory()).toBe(true);
    expect(r.rejected.map((x) => x.path).sort()).toEqual(['abs', 'chain', 'esc']);
  });

  it('judges the pax path, not the harmless ustar name, and refuses hard links and special files', async () => {
    const pax = new Pax({ path: '../outside/pax.txt' }).encode();
    const renamed = tarBuffer([{ path: 'harmless.txt', body: 'pwned\n' }]);
    const archive = Buffer.concat([pax, renamed]);
    const r1 = await extract(archive);
    expect(r1.files).toBe(0);
    expect(r1.rejected.map((x) => x.path)).toEqual(['../outside/pax.txt']);

    const r2 = await extract([
      { path: 'hl', type: 'Link', linkpath: '../outside/host.txt' },
      { path: 'hl2', type: 'Link', linkpath: join(outside, 'host.txt') },
      { path: 'blk', type: 'BlockDevice' },
      { path: 'chr', type: 'CharacterDevice' },
      { path: 'fifo', type: 'FIFO' },
    ]);
    expect(r2.rejected.map((x) => x.path).sort()).toEqual(['blk', 'chr', 'fifo', 'hl', 'hl2']);
    expect(await readdir(dest)).toEqual([]);
    await assertConfined();
  });

  it('stops an entry-count bomb and a size bomb before they fill the disk', async () => {
    const many = Array.from({ length: 500 }, (_, i) => ({ path: `d/${i}`, type: 'Directory' as const }));
    const e1 = await extract(many, { maxEntries: 100 }).catch((e: unknown) => e);
    expect(isBerthError(e1, 'FILE_TOO_LARGE')).toBe(true);

    const big = Buffer.alloc(4 * 1024 * 1024);
    const e2 = await extract(
      [
        { path: 'a.bin', body: big },
        { path: 'b.bin', body: big },
      ],
      { maxBytes: 6 * 1024 * 1024 },
    ).catch((e: unknown) => e);
    expect(isBerthError(e2, 'FILE_TOO_LARGE')).toBe(true);
    expect((await readdir(dest)).sort()).toEqual(['a.bin', 'd']);
    await assertConfined();
  });
});

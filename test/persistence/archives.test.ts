// The untrusted-input side of persistence, without Docker: vetting a volume archive from an export,
// the manifest's container section, and repacking image archives without their tags.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBerthError } from '../../src/errors.js';
import { imageObjectKey, volumeObjectKey } from '../../runner/storage/container-manifest.js';
import { parseManifest } from '../../runner/storage/manifest.js';
import { repackImageArchive } from '../../runner/storage/image-archive.js';
import { vetVolumeArchive } from '../../runner/storage/volume-archive.js';
import { readTarEntries, tarBuffer, tgz, type RawEntry } from '../storage/tarball.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-persist-archives-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;

interface Listed {
  path: string;
  type: string;
  mode: number;
  body: string;
  linkpath?: string;
}

async function listTar(file: string): Promise<Listed[]> {
  return (await readTarEntries(await readFile(file))).map((e) => ({
    path: e.path,
    type: e.type,
    mode: e.mode ?? 0,
    body: e.body.toString('utf8'),
    ...(e.linkpath ? { linkpath: e.linkpath } : {}),
  }));
}

describe('volume archive vetting', () => {
  it('keeps files, directories (modes, .git) and inside links; rejects what could escape or is not plain data', async () => {
    const out = join(dir, 'hostile.tar');
    const report = await vetVolumeArchive(
      Readable.from([
        tgz([
          { path: './', type: 'Directory', mode: 0o755 },
          { path: './db/', type: 'Directory', mode: 0o700 },
          { path: './db/data', body: 'rows' },
          { path: './repo/.git/HEAD', body: 'ref: refs/heads/main\n' },
          { path: './tool', body: '#!/bin/sh\n', mode: 0o4755 },
          { path: '/etc/passwd', body: 'root::0:0' },
          { path: '../outside', body: 'x' },
          { path: './hard', type: 'Link', linkpath: 'db/data' },
          { path: './dev', type: 'CharacterDevice' },
          { path: './fifo', type: 'FIFO' },
          { path: './up', type: 'SymbolicLink', linkpath: '../../etc' },
          { path: './abs', type: 'SymbolicLink', linkpath: '/etc/shadow' },
          { path: './ok', type: 'SymbolicLink', linkpath: 'db/data' },
          { path: './chain', type: 'SymbolicLink', linkpath: 'ok2/x' },
          { path: './ok2', type: 'SymbolicLink', linkpath: 'db' },
          { path: './db/data', body: 'second copy' },
          { path: './db', type: 'SymbolicLink', linkpath: 'repo' },
          { path: './x/y', body: 'z' },
          { path: './x', type: 'SymbolicLink', linkpath: 'db' },
        ]),
      ]),
      out,
    );
    const entries = await listTar(out);
    const byPath = new Map(entries.map((e) => [e.path, e]));
    expect([...byPath.keys()].sort()).toEqual(['db/', 'db/data', 'ok', 'ok2', 'repo/.git/HEAD', 'tool', 'x/y'].sort());
    expect(byPath.get('db/')?.mode).toBe(0o700);
    expect(byPath.get('db/data')?.body).toBe('rows');
    expect(byPath.get('tool')?.mode).toBe(0o755);
    expect(byPath.get('ok')?.linkpath).toBe('db/data');
    expect(report.adjusted).toEqual([expect.objectContaining({ path: 'tool' })]);
    const reasons = new Map(report.rejected.map((r) => [r.path.replace(/^\.\//, ''), r.reason]));
    expect(reasons.get('/etc/passwd')).toMatch(/absolute/);
    expect(reasons.get('../outside')).toMatch(/\.\./);
    expect(reasons.get('hard')).toMatch(/hard link/);
    expect(reasons.get('dev')).toMatch(/device/);
    expect(reasons.get('fifo')).toMatch(/FIFO/);
    expect(reasons.get('up')).toMatch(/outside/);
    expect(reasons.get('abs')).toMatch(/absolute/);
    expect(reasons.get('chain')).toMatch(/another symlink/);
    expect(reasons.get('db/data')).toMatch(/duplicate/);
    expect(reasons.get('db')).toMatch(/duplicate/);
    expect(reasons.get('x')).toMatch(/also a file or directory/);
    expect(report).toMatchObject({ files: 4, directories: 1, symlinks: 2, bytes: 4 + 21 + 10 + 1 });
  });

  it('enforces the entry and byte limits, and fails on a damaged archive', async () => {
    const many = Array.from({ length: 5 }, (_, i) => ({ path: `f${i}`, body: 'x' }));
    const e1 = await vetVolumeArchive(Readable.from([tgz(many)]), join(dir, 'many.tar'), { limits: { maxEntries: 3 } }).catch((e: unknown) => e);
    expect(isBerthError(e1, 'FILE_TOO_LARGE')).toBe(true);
    const e2 = await vetVolumeArchive(Readable.from([tgz([{ path: 'big', body: Buffer.alloc(5000) }])]), join(dir, 'big.tar'), {
      limits: { maxBytes: 4096 },
    }).catch((e: unknown) => e);
    expect(isBerthError(e2, 'FILE_TOO_LARGE')).toBe(true);
    const e3 = await vetVolumeArchive(Readable.from([Buffer.from('not gzip at all')]), join(dir, 'bad.tar')).catch((e: unknown) => e);
    expect(isBerthError(e3, 'BAD_INPUT')).toBe(true);
  });
});

describe('manifest container section', () => {
  const base = {
    format: 'berth-workspace-export',
    version: 1,
    exportId: '20250101T000000Z-0badcafe',
    createdAt: '2025-01-01T00:00:00.000Z',
    producer: 'test',
    workspace: { name: 'w', branch: 'berth/w', head: 'a'.repeat(40), rootSha: 'b'.repeat(40), baseRef: 'HEAD', baseSha: 'c'.repeat(40), createdAt: 'x' },
    worktree: { untrackedFiles: 0, skipped: [] },
    objects: [{ role: 'bundle', key: 'objects/20250101T000000Z-0badcafe/repo.bundle', size: 1, sha256: 'd'.repeat(64) }],
  };
  const blob = { size: 1, sha256: 'e'.repeat(64) };

  it('accepts keys inside the export and rejects any other key or a duplicate volume', () => {
    const id = base.exportId;
    const ok = {
      ...base,
      container: {
        image: { key: imageObjectKey(id), ...blob, checkpoint: 'a'.repeat(40), ref: 'berth-ckpt/r-w:aaaa' },
        volumes: [{ name: 'data', key: volumeObjectKey(id, 'data'), ...blob }],
      },
    };
    expect(parseManifest(Buffer.from(JSON.stringify(ok)), 'm').container?.volumes[0]?.name).toBe('data');
    const outside = { ...ok, container: { ...ok.container, volumes: [{ name: 'data', key: '../../other/secret', ...blob }] } };
    expect(() => parseManifest(Buffer.from(JSON.stringify(outside)), 'm')).toThrow(/key outside this export/);
    const dup = { ...ok, container: { volumes: [ok.container.volumes[0], ok.container.volumes[0]] } };
    expect(() => parseManifest(Buffer.from(JSON.stringify(dup)), 'm')).toThrow(/duplicate volume/);
    const badName = { ...ok, container: { volumes: [{ name: '../x', key: volumeObjectKey(id, '../x'), ...blob }] } };
    expect(() => parseManifest(Buffer.from(JSON.stringify(badName)), 'm')).toThrow(/not a valid berth export manifest/);
  });
});

describe('image archive repacking (no Docker)', () => {
  const cfgBody = '{"rootfs":{"type":"layers","diff_ids":[]}}';
  const cfgHex = createHash('sha256').update(cfgBody).digest('hex');
  const config = `${cfgHex}.json`;
  const limits = { maxEntries: 1000, maxBytes: 1024 * 1024 };
  const allowTag = (t: string) => t.startsWith('berth-ckpt/');
  async function imageTar(manifest: unknown, extra: RawEntry[] = []): Promise<string> {
    const file = join(dir, `image-${n++}.tar`);
    await writeFile(
      file,
      tarBuffer([
        { path: config, body: cfgBody },
        { path: 'l1/layer.tar', body: 'layer-one' },
        { path: 'l2/layer.tar', type: 'SymbolicLink', linkpath: '../l1/layer.tar' },
        ...extra,
        { path: 'manifest.json', body: JSON.stringify(manifest) },
      ]),
    );
    return file;
  }
  const repack = async (file: string) => {
    const out = join(dir, `repacked-${n++}.tar`);
    return { out, res: await repackImageArchive(file, out, { limits, allowTag }) };
  };

  it('keeps config and layers (layer symlinks resolved), drops tags and everything else', async () => {
    const file = await imageTar(
      [{ Config: config, RepoTags: ['berth-ckpt/r-w:aaaa'], Layers: ['l1/layer.tar', 'l2/layer.tar'] }],
      [{ path: 'repositories', body: '{"berth-busybox":{"1":"x"}}' }],
    );
    const { out, res } = await repack(file);
    expect(res).toEqual({ id: `sha256:${cfgHex}`, droppedTags: ['berth-ckpt/r-w:aaaa'] });
    const listed = await listTar(out);
    expect(listed.map((e) => `${e.type} ${e.path}`)).toEqual([`File ${config}`, 'File l1/layer.tar', 'File manifest.json']);
    expect(JSON.parse(listed[2]?.body ?? '')).toEqual([{ Config: config, RepoTags: [], Layers: ['l1/layer.tar', 'l1/layer.tar'] }]);
  });

  it('refuses foreign tags, several images, a config not named by its digest, and bad layers', async () => {
    const cases: unknown[] = [
      [{ Config: config, RepoTags: ['berth-busybox:1'], Layers: [] }],
      [
        { Config: config, Layers: [] },
        { Config: config, Layers: [] },
      ],
      [{ Config: '../../etc/passwd', Layers: [] }],
      [{ Config: `${'f'.repeat(64)}.json`, Layers: [] }],
      [{ Config: config, Layers: ['/etc/passwd'] }],
      [{ Config: config, Layers: ['missing/layer.tar'] }],
      { not: 'a list' },
    ];
    for (const m of cases) {
      const err = await repack(await imageTar(m)).catch((e: unknown) => e);
      expect(isBerthError(err, 'BAD_INPUT'), JSON.stringify(m)).toBe(true);
    }
    const linked = join(dir, 'linked.tar');
    await writeFile(
      linked,
      tarBuffer([
        { path: 'evil.json', body: '[]' },
        { path: 'manifest.json', type: 'SymbolicLink', linkpath: 'evil.json' },
      ]),
    );
    expect(((await repack(linked).catch((e: unknown) => e)) as Error).message).toContain('manifest.json is a symlink');
    const none = join(dir, 'none.tar');
    await writeFile(none, tarBuffer([{ path: 'other.json', body: '{}' }]));
    expect(isBerthError(await repack(none).catch((e: unknown) => e), 'BAD_INPUT')).toBe(true);
  });
});

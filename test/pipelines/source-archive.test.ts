// What a local pipeline copies into its container: real temp trees, real tar streams (read back
// with node-tar). The user's tree must come out byte-identical.
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dockerignoreToGitignore, listSource, packSource } from '../../pipelines/index.js';
import { readTarEntries } from '../storage/tarball.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-source-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function put(files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), text);
  }
}

/** Read the tar stream back: path → type (and link target or contents); `modes` gets each entry's mode. */
async function readTar(stream: NodeJS.ReadableStream, modes?: Map<string, number>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readTarEntries(stream)) {
    const name = e.path.replace(/^\.\//, '').replace(/\/$/, '');
    modes?.set(name, e.mode ?? -1);
    out.set(name, e.type === 'SymbolicLink' ? `link:${e.linkpath}` : e.type === 'Directory' ? 'dir' : `file:${e.body.toString()}`);
  }
  return out;
}

describe('listSource', () => {
  it('honours nested .gitignore files (deeper wins), skips .git, keeps parents before children', async () => {
    await put({
      '.gitignore': '*.log\nbuild/\n',
      'a.log': 'x',
      'main.js': 'main',
      'build/out.js': 'x',
      'sub/.gitignore': '!keep.log\nlocal.txt\n',
      'sub/keep.log': 'kept',
      'sub/drop.log.txt': 'not a .log',
      'sub/local.txt': 'x',
      'other/local.txt': 'kept: the sub/.gitignore does not apply here',
      '.git/HEAD': 'ref: refs/heads/main\n',
      'vendor/lib/.git': 'gitdir: ../../.git/modules/lib\n',
      'vendor/lib/index.js': 'lib',
    });
    const listing = await listSource(root);
    expect(listing.entries).toEqual([
      '.gitignore',
      'main.js',
      'other',
      'other/local.txt',
      'sub',
      'sub/.gitignore',
      'sub/drop.log.txt',
      'sub/keep.log',
      'vendor',
      'vendor/lib',
      'vendor/lib/index.js',
    ]);
    expect(listing.files).toBe(7);
  });

  it('reads .dockerignore the way Docker does: anchored at the root, with exceptions', async () => {
    await put({
      '.dockerignore': '# secrets\nsecret.env\n/tmp\ndocs/*.md\n!docs/KEEP.md\n',
      'secret.env': 'x',
      'nested/secret.env': 'kept: .dockerignore patterns are anchored',
      'tmp/x': 'x',
      'docs/a.md': 'x',
      'docs/KEEP.md': 'kept',
    });
    expect((await listSource(root)).entries).toEqual(['.dockerignore', 'docs', 'docs/KEEP.md', 'nested', 'nested/secret.env']);
    expect(dockerignoreToGitignore('foo\n!/bar\n./baz/\n\n# c\n')).toEqual(['/foo', '!/bar', '/baz/']);
  });

  it('enforces the size and entry bounds', async () => {
    await put({ 'a.bin': 'x'.repeat(2000), 'b.txt': 'y' });
    await expect(listSource(root, { maxBytes: 1000 })).rejects.toMatchObject({ code: 'FILE_TOO_LARGE' });
    await expect(listSource(root, { maxEntries: 1 })).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringMatching(/more than 1 files/) });
  });

  it('rejects a source that is not a directory', async () => {
    await put({ 'f.txt': 'x' });
    await expect(listSource(join(root, 'missing'))).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringMatching(/is not a directory/) });
    await expect(listSource(join(root, 'f.txt'))).rejects.toMatchObject({ code: 'BAD_INPUT' });
  });
});

describe('packSource', () => {
  it('archives contents, links as links (never followed), "@" names as files, and skips FIFOs', async () => {
    await put({ 'src/app.js': 'console.log(1)\n', '@evil': 'not an archive', 'empty/.keep': '' });
    await symlink('/etc/passwd', join(root, 'passwd-link'));
    await symlink('../src/app.js', join(root, 'empty', 'rel-link'));
    execFileSync('mkfifo', [join(root, 'pipe')]);
    const before = execFileSync('sh', ['-c', `cd "${root}" && find . -exec ls -ld {} + | sort && find . -type f -exec sha256sum {} + | sort`]).toString();

    const listing = await listSource(root);
    expect(listing.entries).not.toContain('pipe');
    const tarred = await readTar(packSource(root, listing));
    expect(Object.fromEntries(tarred)).toEqual({
      '@evil': 'file:not an archive',
      empty: 'dir',
      'empty/.keep': 'file:',
      'empty/rel-link': 'link:../src/app.js',
      'passwd-link': 'link:/etc/passwd',
      src: 'dir',
      'src/app.js': 'file:console.log(1)\n',
    });
    const after = execFileSync('sh', ['-c', `cd "${root}" && find . -exec ls -ld {} + | sort && find . -type f -exec sha256sum {} + | sort`]).toString();
    expect(after).toBe(before);
  });
});

describe("packSource: what an agent's tree cannot smuggle into the copy", () => {
  it('drops setuid, setgid and sticky bits; owner is root in the headers', async () => {
    await put({ 'bin/tool': '#!/bin/sh\n', 'bin/plain': 'x' });
    await chmod(join(root, 'bin', 'tool'), 0o6755);
    await mkdir(join(root, 'shared'));
    await chmod(join(root, 'shared'), 0o1777);
    const modes = new Map<string, number>();
    const tarred = await readTar(packSource(root, await listSource(root)), modes);
    expect(tarred.get('bin/tool')).toBe('file:#!/bin/sh\n');
    expect(modes.get('bin/tool')).toBe(0o755);
    expect(modes.get('shared')).toBe(0o777);
    expect(modes.get('bin/plain')! & 0o7000).toBe(0);
  });

  it('long and non-ASCII paths and link targets survive (PAX records)', async () => {
    const deep = `${'d'.repeat(60)}/${'e'.repeat(60)}/ünïcødé-${'f'.repeat(80)}.txt`;
    await put({ [deep]: 'deep' });
    await symlink(`../${'t'.repeat(150)}`, join(root, 'long-link'));
    const tarred = await readTar(packSource(root, await listSource(root)));
    expect(tarred.get(deep)).toBe('file:deep');
    expect(tarred.get('long-link')).toBe(`link:../${'t'.repeat(150)}`);
  });

  it('re-checks the size bound while archiving (a file that grew after the listing)', async () => {
    await put({ 'a.bin': 'x'.repeat(100) });
    const listing = await listSource(root, { maxBytes: 1000 });
    await writeFile(join(root, 'a.bin'), 'x'.repeat(5000));
    const err = await new Promise((resolve) => {
      const s = packSource(root, listing);
      s.on('data', () => {});
      s.on('error', resolve);
      s.on('end', () => resolve(undefined));
    });
    expect(err).toMatchObject({ code: 'FILE_TOO_LARGE' });
  });

  it('reads a .gitignore that sorts after the names it ignores (".env" before ".gitignore")', async () => {
    await put({ '.gitignore': '.env\n.cache/\n', '.env': 'SECRET=1', '.cache/x': 'x', 'app.js': '1' });
    expect((await listSource(root)).entries).toEqual(['.gitignore', 'app.js']);
  });
});

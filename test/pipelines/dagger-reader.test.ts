// DirectorySourceReader over a Directory-shaped adapter of a local folder (no Dagger engine can run
// here): it must read exactly what LocalSourceReader reads, so spec resolution gives the same result
// through either.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectorySourceReader, dockerignorePatterns, manifestName, type DirectoryLike } from '../../pipelines/index.js';
import { LocalSourceReader } from '../../src/source-reader.js';
import { resolveSpec } from '../../src/project/index.js';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

/** A local folder shaped like Dagger's Directory: entries() marks directories with a trailing "/". */
function localDirectory(root: string, log: string[] = []): DirectoryLike {
  return {
    async entries(opts) {
      log.push(`entries:${opts?.path ?? ''}`);
      const ds = await readdir(join(root, opts?.path ?? ''), { withFileTypes: true });
      return ds.map((d) => (d.isDirectory() ? `${d.name}/` : d.name));
    },
    file(path) {
      return {
        contents: async () => {
          log.push(`contents:${path}`);
          return readFile(join(root, path), 'utf8');
        },
      };
    },
  };
}

let tree: string;
beforeAll(async () => {
  tree = await mkdtemp(join(tmpdir(), 'berth-dagger-reader-'));
  await mkdir(join(tree, 'sub', 'deeper'), { recursive: true });
  await writeFile(join(tree, 'top.txt'), 'top\n');
  await writeFile(join(tree, 'sub', 'deeper', 'leaf.txt'), 'leaf\n');
});
afterAll(async () => {
  await rm(tree, { recursive: true, force: true });
});

describe('DirectorySourceReader', () => {
  it('reads root and nested files, and undefined for missing files and directories', async () => {
    const log: string[] = [];
    const r = new DirectorySourceReader(localDirectory(tree, log));
    expect(await r.readFile('top.txt')).toBe('top\n');
    expect(await r.readFile('sub/deeper/leaf.txt')).toBe('leaf\n');
    expect(await r.readFile('./sub//deeper/leaf.txt')).toBe('leaf\n');
    expect(await r.readFile('missing.txt')).toBeUndefined();
    expect(await r.readFile('sub/missing/leaf.txt')).toBeUndefined();
    expect(await r.readFile('sub')).toBeUndefined();
    expect(await r.readFile('top.txt/x')).toBeUndefined();
    // Missing files never reach contents(): existence comes from the listings, which are cached.
    expect(log.filter((l) => l.startsWith('contents:'))).toEqual(['contents:top.txt', 'contents:sub/deeper/leaf.txt', 'contents:sub/deeper/leaf.txt']);
    expect(log.filter((l) => l === 'entries:')).toHaveLength(1);
  });

  it('lists the root without the directory slash, like LocalSourceReader', async () => {
    const r = new DirectorySourceReader(localDirectory(tree));
    expect((await r.listRoot()).sort()).toEqual(['sub', 'top.txt']);
    expect((await r.listRoot()).sort()).toEqual((await new LocalSourceReader(tree).listRoot()).sort());
  });

  it('rejects absolute, escaping, empty and NUL paths', async () => {
    const r = new DirectorySourceReader(localDirectory(tree), 'test dir');
    for (const bad of ['/etc/passwd', '../x', 'sub/../../x', '', 'a\0b']) {
      await expect(r.readFile(bad), bad).rejects.toMatchObject({ code: 'PATH_INVALID' });
    }
    await expect(r.readFile('../x')).rejects.toThrow(/"..\/x" in test dir must be relative/);
  });

  it('does not cache a failed listing', async () => {
    let calls = 0;
    const flaky: DirectoryLike = {
      async entries() {
        calls++;
        if (calls === 1) throw new Error('engine hiccup');
        return ['a.txt'];
      },
      file: () => ({ contents: async () => 'A' }),
    };
    const r = new DirectorySourceReader(flaky);
    await expect(r.readFile('a.txt')).rejects.toThrow('engine hiccup');
    expect(await r.readFile('a.txt')).toBe('A');
  });

  for (const name of ['node-pass', 'node-fail', 'node-lint', 'make']) {
    it(`resolves the same spec as the local reader: ${name}`, async () => {
      const viaDagger = await resolveSpec(new DirectorySourceReader(localDirectory(fixture(name))));
      const viaLocal = await resolveSpec(new LocalSourceReader(fixture(name)));
      expect(viaDagger.spec).toEqual(viaLocal.spec);
      expect(viaDagger.hash).toBe(viaLocal.hash);
      expect(viaDagger.origins).toEqual(viaLocal.origins);
    });
  }

  it('reports the same berth.yaml error as the local reader: broken-yaml', async () => {
    const viaDagger = resolveSpec(new DirectorySourceReader(localDirectory(fixture('broken-yaml'))));
    await expect(viaDagger).rejects.toMatchObject({ code: 'SPEC_YAML' });
    await expect(viaDagger).rejects.toThrow(/berth\.yaml:\d+:\d+/);
  });
});

describe('manifestName / dockerignorePatterns', () => {
  it('takes the project name from the first manifest that has one', async () => {
    expect(await manifestName(new DirectorySourceReader(localDirectory(fixture('node-pass'))))).toBe('berth-fixture-node-pass');
    expect(await manifestName(new DirectorySourceReader(localDirectory(fixture('make'))))).toBeUndefined();
    const dir = await mkdtemp(join(tmpdir(), 'berth-manifest-'));
    try {
      await writeFile(join(dir, 'package.json'), '{ not json');
      await writeFile(join(dir, 'go.mod'), '// comment\nmodule example.com/tool\n\ngo 1.22\n');
      expect(await manifestName(new LocalSourceReader(dir))).toBe('example.com/tool');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps patterns and exceptions, drops comments and blanks', () => {
    expect(dockerignorePatterns('# c\nnode_modules\n\n  *.log  \n!keep.log\r\n')).toEqual(['node_modules', '*.log', '!keep.log']);
  });
});

// Real temp directories with real files for the spec suites; every tree is removed after each test.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach } from 'vitest';
import { LocalSourceReader } from '../../src/source-reader.js';

const created: string[] = [];

afterEach(async () => {
  await Promise.all(created.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** Create a temp tree with the given files (path -> contents) and return its root. */
export async function tree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'berth-spec-'));
  created.push(root);
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
  return root;
}

export async function reader(files: Record<string, string>): Promise<LocalSourceReader> {
  return new LocalSourceReader(await tree(files));
}

export const pkg = (scripts: Record<string, string>, extra: Record<string, unknown> = {}) => JSON.stringify({ name: 'x', version: '1.0.0', scripts, ...extra });

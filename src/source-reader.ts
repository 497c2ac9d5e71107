/**
 * Detection and spec resolution read the source tree only through this interface, so the same code
 * runs over a local directory (LocalSourceReader) and over a Dagger Directory (pipelines/dagger-reader.ts).
 * Paths are POSIX, relative to the tree's root, never absolute and never containing "..".
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export interface SourceReader {
  /** A short description for error messages, e.g. the directory path. */
  readonly label: string;
  /** File contents as UTF-8, or undefined when the file does not exist. */
  readFile(path: string): Promise<string | undefined>;
  /** Entry names of the root directory (files and directories). */
  listRoot(): Promise<string[]>;
}

export class LocalSourceReader implements SourceReader {
  readonly root: string;
  readonly label: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.label = this.root;
  }

  async readFile(path: string): Promise<string | undefined> {
    if (path.startsWith('/') || path.split('/').includes('..') || path.includes('\0')) {
      throw new Error(`source path ${JSON.stringify(path)} must be relative and stay inside the tree`);
    }
    const full = join(this.root, path);
    try {
      if (!(await stat(full)).isFile()) return undefined;
      return await readFile(full, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw err;
    }
  }

  async listRoot(): Promise<string[]> {
    return readdir(this.root);
  }
}

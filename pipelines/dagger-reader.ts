/**
 * A SourceReader over a Dagger Directory, so spec detection and resolution run unchanged inside the
 * Dagger module. It depends only on the two Directory calls it needs (DirectoryLike), which lets
 * tests drive it with an adapter over a local folder instead of a Dagger engine.
 */
import type { SourceReader } from '../src/source-reader.js';
import { BerthError } from '../src/errors.js';

/** The slice of Dagger's `Directory` this reader uses. A real `Directory` satisfies it. */
export interface DirectoryLike {
  /**
   * Names in the directory at `opts.path` (the root when omitted). Dagger (since v0.17) marks
   * directories with a trailing "/"; see https://github.com/dagger/dagger/pull/9118.
   */
  entries(opts?: { path?: string }): Promise<string[]>;
  file(path: string): { contents(): Promise<string> };
}

export class DirectorySourceReader implements SourceReader {
  readonly label: string;
  readonly #dir: DirectoryLike;
  /** Listings per directory path ('' is the root); detection asks for the same few files repeatedly. */
  readonly #listings = new Map<string, Promise<string[]>>();

  constructor(dir: DirectoryLike, label = 'the Dagger source directory') {
    this.#dir = dir;
    this.label = label;
  }

  async readFile(path: string): Promise<string | undefined> {
    const parts = checkPath(path, this.label);
    // Walk the listings instead of calling contents() and guessing from the error text whether
    // the file was missing: a missing file, a directory and an engine failure all throw there.
    let dir = '';
    for (let i = 0; i < parts.length; i++) {
      const name = parts[i] as string;
      const names = await this.#list(dir);
      const last = i === parts.length - 1;
      if (last) {
        if (!names.includes(name)) return undefined;
        break;
      }
      // Only a "name/" entry is a directory; a plain "name" here is a file, so the path cannot exist.
      if (!names.includes(`${name}/`)) return undefined;
      dir = dir === '' ? name : `${dir}/${name}`;
    }
    return this.#dir.file(parts.join('/')).contents();
  }

  async listRoot(): Promise<string[]> {
    return (await this.#list('')).map((n) => (n.endsWith('/') ? n.slice(0, -1) : n));
  }

  #list(dir: string): Promise<string[]> {
    let p = this.#listings.get(dir);
    if (!p) {
      p = this.#dir.entries(dir === '' ? undefined : { path: dir });
      this.#listings.set(dir, p);
      // A failed listing is not cached: the next call retries.
      p.catch(() => this.#listings.delete(dir));
    }
    return p;
  }
}

function checkPath(path: string, label: string): string[] {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (path.startsWith('/') || path.includes('\0') || parts.includes('..') || parts.length === 0) {
    throw new BerthError(
      'PATH_INVALID',
      `source path ${JSON.stringify(path)} in ${label} must be relative, non-empty and stay inside the tree (no "..", no NUL).`,
    );
  }
  return parts;
}

/**
 * The repo identity the Dagger path keys caches by. A Dagger Directory carries no host path, so
 * the project's own name from its manifest stands in (package.json, go.mod, Cargo.toml,
 * pyproject.toml), falling back to "source". The manifest is untrusted: only the name is used,
 * and repoKey() slugs and hashes it.
 */
export async function manifestName(reader: SourceReader): Promise<string | undefined> {
  const pkg = await reader.readFile('package.json');
  if (pkg !== undefined) {
    try {
      const name = (JSON.parse(pkg) as { name?: unknown }).name;
      if (typeof name === 'string' && name.trim() !== '') return name.trim();
    } catch {
      // Not JSON: fall through to the other manifests.
    }
  }
  const gomod = await reader.readFile('go.mod');
  const mod = gomod === undefined ? undefined : /^\s*module\s+(\S+)/m.exec(gomod)?.[1];
  if (mod) return mod;
  for (const file of ['Cargo.toml', 'pyproject.toml']) {
    const text = await reader.readFile(file);
    const name = text === undefined ? undefined : /^\s*name\s*=\s*["']([^"'\n]+)["']/m.exec(text)?.[1];
    if (name) return name;
  }
  return undefined;
}

/**
 * .dockerignore lines as Dagger exclude patterns. Dagger (BuildKit) matches excludes with the
 * .dockerignore matcher itself, `!` exceptions included, so only comments and blanks are dropped.
 */
export function dockerignorePatterns(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/**
 * The copy of the user's source a local pipeline works on: a tar stream of the tree, minus `.git`,
 * anything .gitignore'd (every .gitignore in the tree, scoped to its directory, deeper files
 * winning as in git) and anything the root .dockerignore excludes. The user's directory is only
 * ever read. Symlinks are archived as links (never followed), sockets/FIFOs/devices are skipped.
 */
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import ignore, { type Ignore } from 'ignore';
import { create as createTar } from 'tar';
import { BerthError } from '../src/errors.js';

/** Upper bounds for a source tree: it comes from an agent's checkout, so it is untrusted. */
export const DEFAULT_MAX_SOURCE_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_MAX_SOURCE_ENTRIES = 200_000;

export interface SourceListing {
  /** POSIX paths relative to the root, parents before children; directories included. */
  readonly entries: readonly string[];
  readonly files: number;
  readonly bytes: number;
}

export interface ListSourceOptions {
  readonly maxBytes?: number;
  readonly maxEntries?: number;
  readonly signal?: AbortSignal;
}

interface Layer {
  /** Directory the patterns are relative to ('' for the root). */
  readonly base: string;
  readonly ig: Ignore;
}

/**
 * .dockerignore patterns are anchored at the context root (`foo` means /foo only), unlike
 * .gitignore where `foo` matches at any depth; anchor them so the `ignore` package (gitignore
 * semantics) reads them the way Docker does. https://docs.docker.com/build/concepts/context/#dockerignore-files
 */
export function dockerignoreToGitignore(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1).trim();
    line = line.replace(/^(\.\/|\/)+/, '');
    if (line === '' || line === '.') continue;
    out.push(`${negate ? '!' : ''}/${line}`);
  }
  return out;
}

/** Walk `root` and list what goes into the copy. Throws BerthError BAD_INPUT past the bounds. */
export async function listSource(root: string, opts: ListSourceOptions = {}): Promise<SourceListing> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_SOURCE_BYTES;
  const maxEntries = opts.maxEntries ?? DEFAULT_MAX_SOURCE_ENTRIES;
  const entries: string[] = [];
  let files = 0;
  let bytes = 0;

  // The .dockerignore and the .gitignore layers are independent: excluded by either is out.
  let docker: Ignore | undefined;

  const isIgnored = (rel: string, isDir: boolean, gitLayers: readonly Layer[]): boolean => {
    const probe = isDir ? `${rel}/` : rel;
    if (docker?.ignores(probe)) return true;
    let verdict = false;
    for (const l of gitLayers) {
      const sub = l.base === '' ? probe : probe.slice(l.base.length + 1);
      const r = l.ig.test(sub);
      if (r.ignored) verdict = true;
      else if (r.unignored) verdict = false;
    }
    return verdict;
  };

  const walk = async (rel: string, parentLayers: readonly Layer[]): Promise<void> => {
    if (opts.signal?.aborted) throw new BerthError('ABORTED', 'copying the source was cancelled.');
    const abs = rel === '' ? root : join(root, rel);
    const gitignore = await readText(join(abs, '.gitignore'));
    const layers = gitignore === undefined ? parentLayers : [...parentLayers, { base: rel, ig: ignore().add(gitignore) }];
    const dirents = await readdir(abs, { withFileTypes: true });
    dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const d of dirents) {
      if (d.name === '.git') continue;
      const path = rel === '' ? d.name : `${rel}/${d.name}`;
      const isDir = d.isDirectory();
      if (!isDir && !d.isFile() && !d.isSymbolicLink()) continue;
      if (isIgnored(path, isDir, layers)) continue;
      entries.push(path);
      if (entries.length > maxEntries) {
        throw new BerthError(
          'BAD_INPUT',
          `source ${JSON.stringify(root)} has more than ${maxEntries} files and directories (after .gitignore/.dockerignore). Ignore build outputs and dependencies, or point --source at a smaller tree.`,
        );
      }
      if (isDir) {
        await walk(path, layers);
      } else if (d.isFile()) {
        files++;
        bytes += (await lstat(join(root, path))).size;
        if (bytes > maxBytes) {
          throw new BerthError(
            'FILE_TOO_LARGE',
            `source ${JSON.stringify(root)} is larger than ${Math.round(maxBytes / 1024 / 1024)} MiB (after .gitignore/.dockerignore). Ignore large artifacts in .dockerignore or point --source at a smaller tree.`,
          );
        }
      }
    }
  };

  try {
    const st = await lstat(root);
    if (!st.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    const dockerignore = await readText(join(root, '.dockerignore'));
    if (dockerignore !== undefined) docker = ignore().add(dockerignoreToGitignore(dockerignore));
    await walk('', []);
  } catch (err) {
    if (err instanceof BerthError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new BerthError('BAD_INPUT', `source ${JSON.stringify(root)} is not a directory. Pass --source DIR with an existing project directory.`, { cause: err });
    }
    throw new BerthError('BAD_INPUT', `cannot read source ${JSON.stringify(root)}: ${(err as Error).message}. Check its permissions.`, { cause: err });
  }
  return { entries, files, bytes };
}

/** A tar stream of `listing` (as produced by listSource for the same root). */
export function packSource(root: string, listing: SourceListing): Readable {
  // './' prefix: node-tar reads list entries starting with '@' as archives to splice in
  // (https://github.com/isaacs/node-tar#tarcreateoptions-filelist-callback), and a source tree
  // may well contain a file named "@x". portable: no host uid/gid/uname in the headers, so the
  // daemon extracts everything as root and the executor chowns for a non-root plan user.
  const pack = createTar({ cwd: root, portable: true, noDirRecurse: true, follow: false }, listing.entries.map((e) => `./${e}`));
  return Readable.from(pack);
}

async function readText(path: string): Promise<string | undefined> {
  try {
    const st = await lstat(path);
    if (!st.isFile()) return undefined;
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}

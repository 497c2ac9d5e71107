/**
 * Finding and reading a repository's devcontainer.json. The source tree is agent-controlled (a
 * workspace's agent can commit anything, and the user's checkout may be a clone of anything), so a
 * local tree is read only through the safe walker (src/fs/tree.ts: fd-relative, O_NOFOLLOW), never
 * by path. A symlink on the way (the file itself, or the `.devcontainer` folder) is followed only
 * when its target, resolved lexically, stays inside the repository; one pointing outside is refused
 * with DEVCONTAINER_INVALID, so `devcontainer.json -> /etc/passwd` never reaches the parser.
 */
import { posix } from 'node:path';
import { BerthError } from '../errors.js';
import { readEntry, walkTree } from '../fs/index.js';
import { LocalSourceReader, type SourceReader } from '../source-reader.js';

/** A devcontainer.json is a short hand-written file; anything bigger is a mistake or an attack. */
export const MAX_DEVCONTAINER_BYTES = 256 * 1024;

/** Where the devcontainer spec looks, in its order (https://containers.dev/implementors/spec/#devcontainerjson). */
export const DEVCONTAINER_FILES = ['.devcontainer/devcontainer.json', '.devcontainer.json'] as const;

/** Symlink hops followed inside the repository before giving up (a loop, or a chain meant to confuse). */
const MAX_HOPS = 4;

export interface DevcontainerText {
  /** Path relative to the repository root, as found (e.g. `.devcontainer/devcontainer.json`). */
  readonly rel: string;
  readonly text: string;
}

/** The first devcontainer.json of the tree, or undefined. Throws DEVCONTAINER_INVALID for an unsafe or oversized one. */
export async function readDevcontainer(reader: SourceReader): Promise<DevcontainerText | undefined> {
  for (const rel of DEVCONTAINER_FILES) {
    const text = reader instanceof LocalSourceReader ? await readLocal(reader.root, rel) : await readOther(reader, rel);
    if (text !== undefined) return { rel, text };
  }
  return undefined;
}

async function readOther(reader: SourceReader, rel: string): Promise<string | undefined> {
  // A Dagger Directory is an immutable snapshot: no race, and its symlinks cannot leave it.
  const text = await reader.readFile(rel).catch(() => undefined);
  if (text !== undefined && Buffer.byteLength(text) > MAX_DEVCONTAINER_BYTES) throw tooLarge(rel);
  return text;
}

type Found = { kind: 'file'; data: Buffer } | { kind: 'link'; at: string; target: string } | undefined;

async function readLocal(root: string, rel: string): Promise<string | undefined> {
  let path = rel;
  for (let hop = 0; hop <= MAX_HOPS; hop++) {
    const found = await findEntry(root, path);
    if (found === undefined) return undefined;
    if (found.kind === 'file') return found.data.toString('utf8');
    // Resolve the link lexically from its own folder; anything that leaves the root is refused.
    const resolved = posix.normalize(posix.join(posix.dirname(found.at), found.target));
    if (posix.isAbsolute(found.target) || resolved === '..' || resolved.startsWith('../')) {
      throw new BerthError(
        'DEVCONTAINER_INVALID',
        `${found.at} is a symlink to ${JSON.stringify(found.target)}, outside the repository: berth reads ${rel} only from inside the repository. ` +
          'Replace the link with the file itself (or copy it into the repository).',
        { details: { file: rel, link: found.at, target: found.target }, remedy: 'replace the symlink with the file itself' },
      );
    }
    path = found.at === path ? resolved : posix.join(resolved, path.slice(found.at.length + 1));
  }
  throw new BerthError('DEVCONTAINER_INVALID', `${rel}: more than ${MAX_HOPS} symlinks on the way to the file: replace them with the file itself.`, {
    details: { file: rel },
  });
}

/** Walk only the components of `rel`; report the file, or the first symlink met on the way. */
async function findEntry(root: string, rel: string): Promise<Found> {
  const wanted = (r: string) => r === rel || rel.startsWith(`${r}/`);
  for await (const entry of walkTree(root, { include: (r) => wanted(r) })) {
    if (entry.kind === 'symlink') return { kind: 'link', at: entry.rel, target: entry.linkTarget ?? '' };
    if (entry.rel !== rel) continue;
    if (entry.kind !== 'file') return undefined;
    if (entry.size > MAX_DEVCONTAINER_BYTES) throw tooLarge(rel);
    const data = await readEntry(entry, MAX_DEVCONTAINER_BYTES).catch((err: unknown) => {
      if (err instanceof BerthError && err.code === 'FILE_TOO_LARGE') throw tooLarge(rel);
      throw err;
    });
    return data === undefined ? undefined : { kind: 'file', data };
  }
  return undefined;
}

function tooLarge(rel: string): BerthError {
  return new BerthError('DEVCONTAINER_INVALID', `${rel} is larger than ${MAX_DEVCONTAINER_BYTES} bytes: berth does not read a devcontainer.json that big.`, {
    details: { file: rel },
  });
}

/**
 * The copy of the user's source a local pipeline works on: a tar stream of the tree, minus `.git`,
 * anything .gitignore'd (every .gitignore in the tree, scoped to its directory, deeper files
 * winning as in git) and anything the root .dockerignore excludes. The user's directory is only
 * ever read.
 *
 * The tree belongs to an agent that may swap a directory for a symlink to a host path while we
 * read it, so both passes (the listing, then the archive) go through `walkTree` (src/fs/tree.ts):
 * every directory and file is opened fd-relative with O_NOFOLLOW and checked with fstat, never by
 * path. Symlinks are archived as links (never followed), sockets/FIFOs/devices are skipped,
 * setuid/setgid/sticky bits are dropped, and the total size is capped. An entry that vanishes,
 * changes kind or shrinks between the listing and the archive fails the copy with one BerthError
 * (FS_ERROR) through the stream's `error`, which dockerode turns into a rejected putArchive, so
 * the executor's teardown runs (https://github.com/apocas/docker-modem, `data.on('error')`).
 */
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import ignore, { type Ignore } from 'ignore';
import { Header, Pax, type HeaderData } from 'tar';
import { BerthError } from '../src/errors.js';
import { walkTree, type EntryKind, type TreeEntry } from '../src/fs/index.js';

/** Upper bounds for a source tree: it comes from an agent's checkout, so it is untrusted. */
export const DEFAULT_MAX_SOURCE_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_MAX_SOURCE_ENTRIES = 200_000;
/** Largest .gitignore / .dockerignore read (a hostile tree could offer a huge one). */
const MAX_IGNORE_FILE_BYTES = 1024 * 1024;

export interface SourceListing {
  /** POSIX paths relative to the root, parents before children; directories included. */
  readonly entries: readonly string[];
  readonly files: number;
  readonly bytes: number;
  /** What each entry was when listed; the archive pass refuses an entry that changed kind. */
  readonly kinds: ReadonlyMap<string, EntryKind>;
  /** The size bound the archive pass re-checks (files may grow between the passes). */
  readonly maxBytes: number;
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

/** The ignore rules of one walk, loaded per directory as walkTree opens it. */
class IgnoreRules {
  #docker: Ignore | undefined;
  readonly #layers = new Map<string, readonly Layer[]>();

  /** walkTree's onDirectory: load the directory's .gitignore (and the root's .dockerignore) before its entries. */
  readonly load = async (rel: string, readFile: (name: string, maxBytes: number) => Promise<Buffer | undefined>): Promise<void> => {
    if (rel === '') {
      const docker = await readFile('.dockerignore', MAX_IGNORE_FILE_BYTES);
      if (docker !== undefined) this.#docker = ignore().add(dockerignoreToGitignore(docker.toString('utf8')));
    }
    const parent = rel === '' ? [] : (this.#layers.get(parentOf(rel)) ?? []);
    const own = await readFile('.gitignore', MAX_IGNORE_FILE_BYTES);
    this.#layers.set(rel, own === undefined ? parent : [...parent, { base: rel, ig: ignore().add(own.toString('utf8')) }]);
  };

  ignores(rel: string, kind: EntryKind): boolean {
    if (rel.split('/').pop() === '.git') return true;
    const probe = kind === 'dir' ? `${rel}/` : rel;
    if (this.#docker?.ignores(probe)) return true;
    let verdict = false;
    for (const l of this.#layers.get(parentOf(rel)) ?? []) {
      const r = l.ig.test(l.base === '' ? probe : probe.slice(l.base.length + 1));
      if (r.ignored) verdict = true;
      else if (r.unignored) verdict = false;
    }
    return verdict;
  }
}

function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
}

/** Walk `root` and list what goes into the copy. Throws BerthError BAD_INPUT / FILE_TOO_LARGE past the bounds. */
export async function listSource(root: string, opts: ListSourceOptions = {}): Promise<SourceListing> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_SOURCE_BYTES;
  const maxEntries = opts.maxEntries ?? DEFAULT_MAX_SOURCE_ENTRIES;
  const entries: string[] = [];
  const kinds = new Map<string, EntryKind>();
  let files = 0;
  let bytes = 0;
  const rules = new IgnoreRules();
  try {
    const walk = walkTree(root, {
      include: (rel, kind) => !rules.ignores(rel, kind),
      onDirectory: rules.load,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    for await (const e of walk) {
      entries.push(e.rel);
      kinds.set(e.rel, e.kind);
      if (entries.length > maxEntries) {
        throw new BerthError(
          'BAD_INPUT',
          `source ${JSON.stringify(root)} has more than ${maxEntries} files and directories (after .gitignore/.dockerignore). Ignore build outputs and dependencies, or point --source at a smaller tree.`,
        );
      }
      if (e.kind !== 'file') continue;
      files++;
      bytes += e.size;
      if (bytes > maxBytes) throw tooLarge(root, maxBytes);
    }
  } catch (err) {
    throw sourceError(err, root);
  }
  return { entries, files, bytes, kinds, maxBytes };
}

function tooLarge(root: string, maxBytes: number): BerthError {
  return new BerthError(
    'FILE_TOO_LARGE',
    `source ${JSON.stringify(root)} is larger than ${Math.round(maxBytes / 1024 / 1024)} MiB (after .gitignore/.dockerignore). Ignore large artifacts in .dockerignore or point --source at a smaller tree.`,
  );
}

function sourceError(err: unknown, root: string): BerthError {
  if (err instanceof BerthError) return err;
  if ((err as Error | null)?.name === 'AbortError') return new BerthError('ABORTED', 'copying the source was cancelled.', { cause: err });
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new BerthError('BAD_INPUT', `source ${JSON.stringify(root)} is not a directory. Pass --source DIR with an existing project directory.`, {
      cause: err,
    });
  }
  return new BerthError('BAD_INPUT', `cannot read source ${JSON.stringify(root)}: ${(err as Error).message}. Check its permissions.`, { cause: err });
}

function changed(root: string, rel: string, what: string): BerthError {
  return new BerthError(
    'FS_ERROR',
    `source ${JSON.stringify(root)} changed while berth was copying it: ${JSON.stringify(rel)} ${what}. Retry when nothing is writing to the tree (stop watchers and background jobs).`,
    { details: { path: rel }, remedy: 'retry when nothing is writing to the source tree' },
  );
}

/**
 * A tar stream of `listing` (as produced by listSource for the same root), read in a second safe
 * walk. Only listed entries are archived (so the bounds hold); a listed entry that is gone,
 * changed kind or shrank while being read destroys the stream with BerthError FS_ERROR.
 */
export function packSource(root: string, listing: SourceListing): Readable {
  return Readable.from(archive(root, listing), { objectMode: false });
}

async function* archive(root: string, listing: SourceListing): AsyncGenerator<Buffer> {
  let packed = 0;
  let bytes = 0;
  let problem: BerthError | undefined;
  try {
    const walk = walkTree(root, {
      include: (rel, kind) => {
        const want = listing.kinds.get(rel);
        if (want !== undefined && want !== kind) problem ??= changed(root, rel, `was a ${want} and is now a ${kind}`);
        return want === kind;
      },
      onVanished: (rel) => {
        if (listing.kinds.has(rel)) problem ??= changed(root, rel, 'vanished or was swapped');
      },
    });
    const out = new Batch();
    for await (const e of walk) {
      if (problem) throw problem;
      packed++;
      if (e.kind === 'file') {
        bytes += e.size;
        if (bytes > listing.maxBytes) throw tooLarge(root, listing.maxBytes);
        const h = await e.open();
        if (!h) throw changed(root, e.rel, 'vanished or was swapped');
        const shrank = () => changed(root, e.rel, 'shrank while being read');
        try {
          // The size is the one lstat'ed in this walk (the open handle is checked to be that file):
          // exactly that many bytes are archived, and fewer on read means the file shrank.
          out.add(header(e, e.size));
          if (e.size <= SMALL_FILE_BYTES) out.add(await readExactly(h, e.size, shrank));
          else for await (const chunk of fileBlocks(h, e.size, shrank)) yield* out.add(chunk).drain();
        } finally {
          await h.close();
        }
      } else {
        out.add(header(e, 0));
      }
      yield* out.drain();
    }
    if (problem) throw problem;
    if (packed !== listing.entries.length) throw changed(root, missing(listing, packed), 'vanished');
    out.add(Buffer.alloc(1024));
    yield* out.drain(true);
  } catch (err) {
    throw sourceError(err, root);
  }
}

/** Files up to this size are read in one go and batched with their neighbours. */
const SMALL_FILE_BYTES = 1024 * 1024;

/**
 * Collects small pieces (headers, small files, padding) into chunks of about BATCH_BYTES, so a tree
 * of many small files costs a few stream chunks instead of three per file.
 */
class Batch {
  static readonly BATCH_BYTES = 256 * 1024;
  #parts: Buffer[] = [];
  #bytes = 0;
  add(b: Buffer): this {
    if (b.length) {
      this.#parts.push(b);
      this.#bytes += b.length;
    }
    return this;
  }
  *drain(all = false): Generator<Buffer> {
    if (this.#bytes === 0 || (!all && this.#bytes < Batch.BATCH_BYTES)) return;
    const chunk = this.#parts.length === 1 ? (this.#parts[0] as Buffer) : Buffer.concat(this.#parts, this.#bytes);
    this.#parts = [];
    this.#bytes = 0;
    yield chunk;
  }
}

/** The whole (small) file, zero-padded to the 512-byte record. */
async function readExactly(h: FileHandle, size: number, shrank: () => BerthError): Promise<Buffer> {
  const padded = Buffer.alloc(size + ((512 - (size % 512)) % 512));
  let at = 0;
  while (at < size) {
    const { bytesRead } = await h.read(padded, at, size - at, null);
    if (bytesRead === 0) throw shrank();
    at += bytesRead;
  }
  return padded;
}

function missing(listing: SourceListing, packed: number): string {
  return listing.entries[packed] ?? listing.entries[listing.entries.length - 1] ?? '.';
}

/** Tar header block(s) of an entry: portable (owner root, no names), permissions without setuid/setgid/sticky. */
function header(e: TreeEntry, size: number): Buffer {
  const data: HeaderData = {
    path: e.kind === 'dir' ? `${e.rel}/` : e.rel,
    mode: e.mode & 0o777,
    uid: 0,
    gid: 0,
    size,
    mtime: new Date(Math.floor(e.mtimeMs)),
    type: e.kind === 'dir' ? 'Directory' : e.kind === 'symlink' ? 'SymbolicLink' : 'File',
    ...(e.kind === 'symlink' ? { linkpath: e.linkTarget ?? '' } : {}),
    uname: '',
    gname: '',
  };
  const h = new Header(data);
  // encode() answers whether the fields fit the ustar block; long or non-ASCII paths need a PAX record first.
  const needPax = h.encode();
  const block = h.block as Buffer;
  if (!needPax) return block;
  const pax = new Pax({ path: data.path, ...(data.linkpath === undefined ? {} : { linkpath: data.linkpath }), size, mtime: data.mtime }).encode();
  return Buffer.concat([pax, block]);
}

/** Exactly `size` bytes of the open file, zero-padded to the 512-byte record; fewer bytes means it shrank. */
async function* fileBlocks(h: FileHandle, size: number, shrank: () => BerthError): AsyncGenerator<Buffer> {
  let left = size;
  while (left > 0) {
    const buf = Buffer.allocUnsafe(Math.min(left, 256 * 1024));
    const { bytesRead } = await h.read(buf, 0, buf.length, null);
    if (bytesRead === 0) throw shrank();
    left -= bytesRead;
    yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
  }
  const pad = (512 - (size % 512)) % 512;
  if (pad) yield Buffer.alloc(pad);
}

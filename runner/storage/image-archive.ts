/**
 * The container snapshot of an export (`docker save` output) is untrusted on import: `docker load`
 * creates every tag its manifest.json names, follows a manifest.json that is a symlink, and takes
 * the last of several entries that clean to the same name ("manifest.json", "./manifest.json").
 * Any of these let a tampered export re-point a local image such as `berth-node:bookworm-1`.
 *
 * So Docker never sees the archive as uploaded. repackImageArchive() reads it twice:
 *  1. scan: every entry once, refusing anything a docker-save archive does not hold (paths that
 *     escape, duplicate names after normalisation, hard links, devices), bounding entry count and
 *     bytes, hashing every regular file and keeping manifest.json (a regular file, ≤ 1 MiB);
 *     the manifest must name exactly one image whose config is a regular file whose sha256 is the
 *     digest its name claims, and whose layers are regular files (a layer symlink, which docker
 *     save writes for a repeated layer, is resolved inside the archive to the file it names);
 *  2. repack: a new plain tar with only the config and the layers (content re-hashed against the
 *     scan) and a manifest.json written by us that carries no RepoTags.
 * The image id is the config's digest; the caller loads the repacked file, checks Docker loaded
 * exactly that id, and tags it under a name berth chooses (docker/snapshots.ts).
 * Format: https://github.com/moby/moby/blob/v20.10.0/image/tarexport/load.go
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import type { ReadEntry } from 'tar';
import { z } from 'zod';
import { BerthError } from '../../src/errors.js';
import { checkEntryPath, type ArchiveLimits, type RejectedEntry } from './archive.js';
import { readGzipTar, tarHeaderBlocks } from './tar-io.js';

const MAX_MANIFEST_BYTES = 1024 * 1024;
const MAX_LAYERS = 1000;
const MAX_LINK_HOPS = 8;
const DIGEST_NAME = /^(?:blobs\/sha256\/)?([0-9a-f]{64})(?:\.json)?$/;

type Scanned = { kind: 'file'; size: number; sha256: string } | { kind: 'dir' } | { kind: 'symlink'; target: string };

export interface ImageArchiveOptions {
  readonly limits: ArchiveLimits;
  /** Tags an archive may carry (they are dropped either way); any other tag refuses the archive. */
  readonly allowTag: (tag: string) => boolean;
  readonly signal?: AbortSignal | undefined;
}

export interface RepackedImage {
  /** sha256:<hex> of the config: the id Docker must load the repacked archive as. */
  readonly id: string;
  /** The tags the uploaded archive carried (all dropped). */
  readonly droppedTags: readonly string[];
}

function bad(why: string, extra: Record<string, unknown> = {}): BerthError {
  return new BerthError(
    'BAD_INPUT',
    `the exported container image is not a plain docker-save archive (${why}): refusing to load it; re-export the workspace from a trusted copy`,
    {
      details: { reason: 'image-archive', ...extra },
    },
  );
}

const ManifestSchema = z
  .array(
    z
      .object({
        Config: z.string().max(300),
        RepoTags: z.array(z.string().max(300)).max(100).nullish(),
        Layers: z.array(z.string().max(300)).max(MAX_LAYERS),
        LayerSources: z.record(z.string(), z.unknown()).nullish(),
        Parent: z.string().max(300).optional(),
      })
      .passthrough(),
  )
  .length(1);

async function hashEntry(entry: ReadEntry, budget: { bytes: number; max: number }): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of entry as AsyncIterable<Buffer>) {
    budget.bytes += chunk.length;
    if (budget.bytes > budget.max) {
      throw new BerthError(
        'FILE_TOO_LARGE',
        `the exported container image expands beyond the ${budget.max}-byte import limit: raise the limit if this export is trusted`,
        {
          details: { maxBytes: budget.max },
        },
      );
    }
    h.update(chunk);
  }
  return h.digest('hex');
}

async function readSmall(entry: ReadEntry): Promise<Buffer> {
  if (entry.size > MAX_MANIFEST_BYTES) throw bad(`manifest.json is ${entry.size} bytes`);
  const chunks: Buffer[] = [];
  for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Pass 1: every entry once; returns what each normalised path is, and manifest.json's bytes. */
async function scan(file: string, opts: ImageArchiveOptions): Promise<{ entries: Map<string, Scanned>; manifest: Buffer }> {
  const entries = new Map<string, Scanned>();
  const budget = { bytes: 0, max: opts.limits.maxBytes };
  const rejected: RejectedEntry[] = [];
  let manifest: Buffer | undefined;
  const onEntry = async (entry: ReadEntry) => {
    if (entries.size >= opts.limits.maxEntries) {
      throw new BerthError('FILE_TOO_LARGE', `the exported container image has more than ${opts.limits.maxEntries} entries: refusing to load it`, {
        details: { maxEntries: opts.limits.maxEntries },
      });
    }
    const check = checkEntryPath(entry.path, { allowGit: true });
    if (!check.ok) throw bad(`entry ${JSON.stringify(entry.path)}: ${check.reason}`);
    const rel = check.segments.join('/');
    if (entries.has(rel)) throw bad(`two entries are named ${JSON.stringify(rel)}`);
    if (entry.type === 'Directory') {
      entries.set(rel, { kind: 'dir' });
      entry.resume();
    } else if (entry.type === 'SymbolicLink') {
      if (rel === 'manifest.json') throw bad('manifest.json is a symlink');
      entries.set(rel, { kind: 'symlink', target: entry.linkpath ?? '' });
      entry.resume();
    } else if (entry.type === 'File' || entry.type === 'OldFile' || entry.type === 'ContiguousFile') {
      if (rel === 'manifest.json') manifest = await readSmall(entry);
      entries.set(rel, { kind: 'file', size: entry.size, sha256: rel === 'manifest.json' ? '' : await hashEntry(entry, budget) });
    } else {
      throw bad(`entry ${JSON.stringify(rel)} is a ${entry.type}`);
    }
  };
  await readGzipTar(createReadStream(file), {
    gzip: false,
    label: 'the exported container image',
    cancelled: 'loading the container image was cancelled',
    rejected,
    onEntry,
    signal: opts.signal,
  });
  if (rejected.length > 0) throw bad(`unreadable entry ${JSON.stringify(rejected[0]?.path)}`);
  if (manifest === undefined) throw bad('no manifest.json');
  return { entries, manifest };
}

/** A path named by the manifest, followed through symlinks inside the archive to a regular file. */
function resolveFile(entries: ReadonlyMap<string, Scanned>, raw: string, what: string): string {
  let check = checkEntryPath(raw, { allowGit: true });
  for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
    if (!check.ok) throw bad(`${what} ${JSON.stringify(raw)}: ${check.reason}`);
    const rel = check.segments.join('/');
    const e = entries.get(rel);
    if (e?.kind === 'file') return rel;
    if (e?.kind !== 'symlink') throw bad(`${what} ${JSON.stringify(raw)} is not a file in the archive`);
    if (e.target.startsWith('/')) throw bad(`${what} ${JSON.stringify(raw)} is a symlink out of the archive`);
    check = checkEntryPath(posix.join(posix.dirname(rel), e.target), { allowGit: true });
  }
  throw bad(`${what} ${JSON.stringify(raw)} is a chain of symlinks`);
}

interface Plan {
  readonly id: string;
  readonly config: string;
  readonly layers: readonly string[];
  readonly droppedTags: readonly string[];
  /** Path → sha256 of every file the repacked archive holds. */
  readonly files: ReadonlyMap<string, string>;
}

function plan(entries: ReadonlyMap<string, Scanned>, manifestBytes: Buffer, opts: ImageArchiveOptions): Plan {
  let raw: unknown;
  try {
    raw = JSON.parse(manifestBytes.toString('utf8'));
  } catch {
    throw bad('manifest.json is not JSON');
  }
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) throw bad('manifest.json must describe exactly one image with a config and layers');
  const image = parsed.data[0] as z.infer<typeof ManifestSchema>[number];
  if (image.LayerSources && Object.keys(image.LayerSources).length > 0) throw bad('it names foreign layer sources');
  const tags = image.RepoTags ?? [];
  const foreign = tags.find((t) => !opts.allowTag(t));
  if (foreign !== undefined) throw bad(`it would tag ${JSON.stringify(foreign)}, outside berth's checkpoint images`, { tag: foreign });
  const named = DIGEST_NAME.exec(image.Config);
  if (!named) throw bad('its config is not named by a sha256 digest');
  const config = resolveFile(entries, image.Config, 'config');
  const files = new Map<string, string>();
  const cfg = entries.get(config) as Extract<Scanned, { kind: 'file' }>;
  if (cfg.sha256 !== named[1]) throw bad(`its config's content does not match the digest in its name ${JSON.stringify(image.Config)}`);
  files.set(config, cfg.sha256);
  const layers = image.Layers.map((l) => {
    const rel = resolveFile(entries, l, 'layer');
    if (rel === config || rel === 'manifest.json') throw bad(`layer ${JSON.stringify(l)} is not a layer`);
    files.set(rel, (entries.get(rel) as Extract<Scanned, { kind: 'file' }>).sha256);
    return rel;
  });
  return { id: `sha256:${cfg.sha256}`, config, layers, droppedTags: tags, files };
}

/** Pass 2: copy the planned files (re-hashed) and write our own manifest.json. */
async function repack(file: string, out: FileHandle, p: Plan, opts: ImageArchiveOptions): Promise<void> {
  const write = async (bufs: Buffer[]) => {
    for (const b of bufs) await out.write(b);
  };
  const common = { uid: 0, gid: 0, uname: '', gname: '', mode: 0o644, mtime: new Date(0) };
  const written = new Set<string>();
  const onEntry = async (entry: ReadEntry) => {
    const check = checkEntryPath(entry.path, { allowGit: true });
    const rel = check.ok ? check.segments.join('/') : '';
    const want = p.files.get(rel);
    if (want === undefined || written.has(rel) || entry.type === 'SymbolicLink' || entry.type === 'Directory') return void entry.resume();
    await write(tarHeaderBlocks({ ...common, path: rel, type: 'File', size: entry.size }));
    const h = createHash('sha256');
    let n = 0;
    for await (const chunk of entry as AsyncIterable<Buffer>) {
      n += chunk.length;
      h.update(chunk);
      await out.write(chunk);
    }
    if (n !== entry.size || h.digest('hex') !== want) throw bad(`${JSON.stringify(rel)} changed between two reads`);
    const pad = (512 - (entry.size % 512)) % 512;
    if (pad > 0) await out.write(Buffer.alloc(pad));
    written.add(rel);
  };
  await readGzipTar(createReadStream(file), {
    gzip: false,
    label: 'the exported container image',
    cancelled: 'loading the container image was cancelled',
    rejected: [],
    onEntry,
    signal: opts.signal,
  });
  if (written.size !== p.files.size) throw bad('an entry vanished between two reads');
  const manifest = Buffer.from(JSON.stringify([{ Config: p.config, RepoTags: [], Layers: p.layers }]));
  await write(tarHeaderBlocks({ ...common, path: 'manifest.json', type: 'File', size: manifest.length }));
  await out.write(manifest);
  await out.write(Buffer.alloc((512 - (manifest.length % 512)) % 512));
  await out.write(Buffer.alloc(1024));
}

/**
 * Vet the docker-save archive `file` and write a clean one to the new file `out` (see the module
 * comment). Resolves with the image id the clean archive loads as; rejects with BAD_INPUT
 * (reason image-archive) for anything a plain docker save does not produce, FILE_TOO_LARGE for
 * the limits, or ABORTED.
 */
export async function repackImageArchive(file: string, out: string, opts: ImageArchiveOptions): Promise<RepackedImage> {
  const { entries, manifest } = await scan(file, opts);
  const p = plan(entries, manifest, opts);
  const fh = await open(out, 'wx', 0o600);
  try {
    await repack(file, fh, p, opts);
  } finally {
    await fh.close();
  }
  return { id: p.id, droppedTags: p.droppedTags };
}

/**
 * `build:` in berth.yaml: build the project's Dockerfile with the engine (dockerode buildImage),
 * streaming its output, and never run an unchanged build twice.
 *
 * The image is tagged from the spec (`berth-build-<hash of the build config>`, so the spec hash
 * and warm pool see it), and carries a label with the hash of what the build reads: the
 * Dockerfile, every file of the context that .dockerignore keeps (path, mode, bytes), the args and
 * the target. An existing image whose label matches is reused; otherwise the build runs and the
 * tag moves to the new image.
 *
 * The context is the user's checkout (the repository root, or --source), read like `docker build`
 * reads it; agent worktrees are never a build context.
 */
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink, realpath } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import ignore from 'ignore';
import { create as createTar } from 'tar';
import { BerthError } from '../src/errors.js';
import { call, docker, type Docker } from './client.js';
import { followProgress } from './progress.js';

export const BUILD_HASH_LABEL = 'dev.berth.build.input-hash';

export interface BuildSpec {
  /** Relative to the source root. */
  readonly dockerfile: string;
  /** Relative to the source root. */
  readonly context: string;
  readonly args: Readonly<Record<string, string>>;
  readonly target?: string | undefined;
}

export interface BuildOpts {
  /** The source root the spec's paths are relative to. */
  root: string;
  onProgress?: (line: string) => void;
  /** Network for RUN steps; the engine may have no bridge. Default none. */
  network?: 'none' | 'host' | 'bridge';
  client?: Docker;
}

/** Build `ref` from `spec` unless an image with the same input hash exists. Returns true if it built. */
export async function ensureBuilt(ref: string, spec: BuildSpec, opts: BuildOpts): Promise<boolean> {
  const client = opts.client ?? docker();
  const say = opts.onProgress ?? (() => {});
  const context = await inside(opts.root, spec.context, 'build.context');
  const dockerfile = await inside(opts.root, join(spec.context, spec.dockerfile), 'build.dockerfile');
  const files = await contextFiles(context);
  const hash = await inputHash(context, files, spec);
  const existing = await client
    .getImage(ref)
    .inspect()
    .catch(() => undefined);
  if (existing?.Config?.Labels?.[BUILD_HASH_LABEL] === hash) {
    say(`${ref}: up to date (Dockerfile, context and args unchanged)`);
    return false;
  }
  say(`${ref}: building ${relative(opts.root, dockerfile) || spec.dockerfile} (context ${spec.context}, ${files.length} files) ...`);
  const tar = createTar({ cwd: context, portable: true, noDirRecurse: true }, files) as unknown as Readable;
  const stream = await call(`build ${ref}`, () =>
    client.buildImage(tar, {
      t: ref,
      dockerfile: relative(context, dockerfile).split(sep).join('/'),
      buildargs: { ...spec.args },
      ...(spec.target ? { target: spec.target } : {}),
      labels: { [BUILD_HASH_LABEL]: hash },
      networkmode: opts.network ?? 'none',
      rm: true,
      forcerm: true,
    }),
  );
  await followProgress(
    client,
    stream,
    (detail, cause) =>
      cause
        ? new BerthError('IMAGE_BUILD_FAILED', `building ${ref}: ${detail}`, { cause })
        : new BerthError('IMAGE_BUILD_FAILED', `building ${ref} failed: ${detail}. Fix the Dockerfile (or build: in berth.yaml) and retry.`),
    (e) => {
      for (const l of (e.stream ?? e.status ?? '').split('\n')) if (l.trim()) say(`  ${l.trimEnd()}`);
    },
  );
  // The rebuild moved the tag: the superseded image is unreferenced now; remove it unless a
  // container still uses it (then Docker refuses, and it stays).
  const built = await client
    .getImage(ref)
    .inspect()
    .catch(() => undefined);
  if (existing?.Id && built?.Id !== existing.Id)
    await client
      .getImage(existing.Id)
      .remove()
      .catch(() => undefined);
  return true;
}

/** `rel` under `root`, refusing anything that resolves outside it (symlinks included). */
async function inside(root: string, rel: string, field: string): Promise<string> {
  const realRoot = await realpath(root);
  let real: string;
  try {
    real = await realpath(join(realRoot, rel));
  } catch {
    throw new BerthError('SPEC_INVALID', `${field} ${JSON.stringify(rel)} does not exist under ${root}: fix the path in berth.yaml.`);
  }
  if (real !== realRoot && !real.startsWith(realRoot + sep)) {
    throw new BerthError('SPEC_INVALID', `${field} ${JSON.stringify(rel)} resolves outside the source (${real}): keep the build inside the repository.`);
  }
  return real;
}

/** Every file and symlink of the context that .dockerignore keeps, sorted; .git is never sent. */
async function contextFiles(context: string): Promise<string[]> {
  const ig = ignore().add('.git');
  const dockerignore = await readFile(join(context, '.dockerignore'), 'utf8').catch(() => '');
  ig.add(
    dockerignore
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.replace(/^\//, '')),
  );
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const d of (await readdir(join(context, dir), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const rel = dir ? `${dir}/${d.name}` : d.name;
      if (ig.ignores(d.isDirectory() ? `${rel}/` : rel)) continue;
      if (d.isDirectory()) await walk(rel);
      else if (d.isFile() || d.isSymbolicLink()) out.push(rel);
    }
  };
  await walk('');
  return out;
}

async function inputHash(context: string, files: string[], spec: BuildSpec): Promise<string> {
  const h = createHash('sha256');
  h.update(JSON.stringify({ dockerfile: spec.dockerfile, args: Object.entries(spec.args).sort(), target: spec.target ?? null }));
  for (const f of files) {
    const full = join(context, f);
    const st = await lstat(full);
    h.update(`\0${f}\0${st.mode}\0`);
    h.update(st.isSymbolicLink() ? await readlink(full) : await readFile(full));
  }
  return h.digest('hex');
}

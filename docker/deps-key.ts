/**
 * The ready-deps key: what an install phase's result depends on, hashed. A snapshot is reused only
 * when every input that can change the installed files is the same:
 *   - the scope (the repository: keys are per repo, see the threat model in the README),
 *   - the base image's id (not its tag: a rebuilt image misses),
 *   - the setup and install commands, the environment, the workdir and the user,
 *   - the content of every dependency manifest in the source (package.json and lockfiles at any
 *     depth, so workspaces count; requirements/pyproject/setup.*; go.mod/go.sum; Cargo.*).
 * Only installs berth can reason about are cached: the detected package-manager commands. A custom
 * install (`make deps`) or one whose result depends on more than the manifests (`pip install .`
 * copies the source; a root `prepare`/`postinstall` script may read any file) is never cached,
 * and the reason is printed.
 *
 * The manifests are read through the safe walker (src/fs): the source is agent-controlled.
 */
import { createHash } from 'node:crypto';
import { BerthError } from '../src/errors.js';
import { readEntry, walkTree } from '../src/lib.js';

type Ecosystem = 'node' | 'python' | 'go' | 'rust';

/** Detected install commands (pipelines/plan and berth init write exactly these), by ecosystem. */
const INSTALLS: readonly [Ecosystem, RegExp][] = [
  ['node', /^npm (ci|install|i)( --?[a-z][a-z-]*(=\S+)?)*$/],
  ['node', /^pnpm (install|i)( --[a-z][a-z-]*)*$/],
  ['node', /^yarn( install)?( --[a-z][a-z-]*)*$/],
  // `-e .` stays a link to the live source; `pip install .` would copy the source: not cacheable.
  ['python', /^(python3? -m pip|pip3?) install( --?[a-zA-Z][a-zA-Z-]*)*( (-r|-c|--requirement|--constraint) [\w./-]+| -e \.)+$/],
  ['python', /^poetry install( --[a-z][a-z-]*)*$/],
  ['go', /^go mod download( -x)?$/],
  ['rust', /^cargo fetch( --locked| --frozen)*$/],
];

/** Manifest files of each ecosystem (basename, or a path under a requirements/ dir). */
const MANIFESTS: Readonly<Record<Ecosystem, (name: string, rel: string) => boolean>> = {
  node: (n) =>
    [
      'package.json',
      'package-lock.json',
      'npm-shrinkwrap.json',
      'pnpm-lock.yaml',
      'pnpm-workspace.yaml',
      'yarn.lock',
      '.npmrc',
      '.yarnrc',
      '.yarnrc.yml',
      '.pnpmfile.cjs',
    ].includes(n),
  python: (n, rel) =>
    /^(pyproject\.toml|setup\.py|setup\.cfg|poetry\.lock|Pipfile|Pipfile\.lock|.*requirements.*\.txt|constraints.*\.txt)$/.test(n) ||
    /(^|\/)requirements[^/]*\/[^/]+\.txt$/.test(rel),
  go: (n) => ['go.mod', 'go.sum', 'go.work', 'go.work.sum'].includes(n),
  rust: (n, rel) => ['Cargo.toml', 'Cargo.lock', 'rust-toolchain', 'rust-toolchain.toml'].includes(n) || rel === '.cargo/config.toml',
};

/** Directories never searched for manifests: install outputs and tool state, not sources. */
const PRUNED = new Set(['.git', 'node_modules', '.venv', 'venv', '__pycache__', 'target', '.tox', '.mypy_cache', '.pytest_cache']);

/** npm runs these scripts of the project's own packages during an install: they may read any file. */
const ROOT_LIFECYCLE = ['preinstall', 'install', 'postinstall', 'preprepare', 'prepare', 'postprepare'];

const MAX_MANIFEST_BYTES = 32 * 1024 * 1024;
const MAX_WALK_ENTRIES = 200_000;

export type Cacheable = { readonly ok: true; readonly ecosystems: readonly Ecosystem[] } | { readonly ok: false; readonly reason: string };

/** Whether every install command is one berth knows the inputs of. */
export function cacheableInstall(install: readonly string[]): Cacheable {
  if (install.length === 0) return { ok: false, reason: 'no install commands' };
  const eco = new Set<Ecosystem>();
  for (const cmd of install) {
    const hit = INSTALLS.find(([, re]) => re.test(cmd.trim()));
    if (!hit) return { ok: false, reason: `${JSON.stringify(cmd)} is not a package-manager install berth can key by lockfile` };
    eco.add(hit[0]);
  }
  return { ok: true, ecosystems: [...eco].sort() };
}

export interface ManifestDigest {
  /** sha256 over (path, content hash) of every manifest found, sorted by path. */
  readonly digest: string;
  readonly files: readonly string[];
  /** Set when the install cannot be cached after all (a root lifecycle script). */
  readonly uncacheable?: string;
}

/**
 * Hash the dependency manifests under `root` (an agent-controlled tree: read through the safe
 * walker). A node_modules already in the tree would become part of what the install leaves (`npm
 * install` keeps packages it finds) without being in the key, so it makes the install uncacheable;
 * `installedIgnored` is for a caller that checked that itself against its own ignore rules.
 */
export async function manifestDigest(
  root: string,
  ecosystems: readonly Ecosystem[],
  opts: { readonly signal?: AbortSignal | undefined; readonly installedIgnored?: boolean } = {},
): Promise<ManifestDigest> {
  const wanted = ecosystems.map((e) => MANIFESTS[e]);
  const found: [string, string][] = [];
  let uncacheable: string | undefined;
  let n = 0;
  const walk = walkTree(root, {
    include: (rel, kind) => {
      if (kind !== 'dir') return true;
      const name = rel.slice(rel.lastIndexOf('/') + 1);
      if (name === 'node_modules' && !opts.installedIgnored) uncacheable ??= installedIn(rel);
      return !PRUNED.has(name);
    },
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  for await (const e of walk) {
    if (++n > MAX_WALK_ENTRIES) throw new BerthError('BAD_INPUT', `more than ${MAX_WALK_ENTRIES} entries under ${root}: too large to key its dependencies`);
    if (e.kind !== 'file' || !wanted.some((m) => m(e.name, e.rel))) continue;
    const body = await readEntry(e, MAX_MANIFEST_BYTES);
    if (body === undefined) throw new BerthError('FS_ERROR', `${JSON.stringify(e.rel)} changed while berth read it: retry when nothing writes to the tree`);
    found.push([e.rel, createHash('sha256').update(body).digest('hex')]);
    if (e.name === 'package.json') uncacheable ??= lifecycleScript(e.rel, body);
  }
  found.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const h = createHash('sha256');
  for (const [rel, sum] of found) h.update(`${rel}\0${sum}\n`);
  return { digest: h.digest('hex'), files: found.map(([rel]) => rel), ...(uncacheable ? { uncacheable } : {}) };
}

/** Why a tree that already holds `rel` (a node_modules) cannot be keyed by its manifests. */
export function installedIn(rel: string): string {
  return `the source already contains ${rel}, which the install would build on`;
}

function lifecycleScript(rel: string, body: Buffer): string | undefined {
  let pkg: unknown;
  try {
    pkg = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined; // npm fails on it anyway; the key still covers its bytes
  }
  const scripts = (pkg as { scripts?: unknown } | null)?.scripts;
  if (!scripts || typeof scripts !== 'object') return undefined;
  const s = ROOT_LIFECYCLE.find((k) => typeof (scripts as Record<string, unknown>)[k] === 'string');
  return s ? `${rel} has a "${s}" script, which runs during the install and may read any source file` : undefined;
}

export interface DepsKeyInput {
  /** Whose snapshot this is: the repository key (pipelines) or repo id (sessions). */
  readonly scope: string;
  readonly imageId: string;
  readonly toolchain: string;
  readonly setup: readonly string[];
  readonly install: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly workdir: string;
  readonly user: string | undefined;
  readonly manifests: string;
  /** Anything else the result depends on (pipelines: the creation time of go/cargo cache volumes). */
  readonly extra?: string;
}

/** 24 hex chars of sha256 over the canonical inputs (the image tag of the snapshot). */
export function depsKey(k: DepsKeyInput): string {
  const env = Object.keys(k.env)
    .sort()
    .map((name) => [name, k.env[name]]);
  const canonical = JSON.stringify([
    'berth-deps/1',
    k.scope,
    k.imageId,
    k.toolchain,
    k.setup,
    k.install,
    env,
    k.workdir,
    k.user ?? null,
    k.manifests,
    k.extra ?? '',
  ]);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 24);
}

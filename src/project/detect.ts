/**
 * Toolchain detection: looks at a handful of well-known files through a SourceReader (never the
 * file system directly, so it works on a Dagger Directory too) and proposes a partial spec. The
 * repository is untrusted input: malformed manifests degrade to "no scripts found" plus a warning,
 * never to an exception.
 *
 * Order of precedence when several markers exist: node, python, go, rust, then a Makefile. A
 * Makefile is only a fallback for repositories with no recognized language toolchain.
 */
import { IMAGES, goImage, nodeImage, pythonImage, rustImage, DEFAULT_NODE_MAJOR, OFFLINE_TOOLCHAINS } from '../images.js';
import type { SourceReader } from '../source-reader.js';
import { chooseGo, chooseNode, choosePython, chooseRust, goDirective, requiresPython, rustChannel, type ImageChoice, type NodeRequest } from './versions.js';
import type { SpecLayer } from './schema.js';
import type { CacheMount, StepName, Toolchain } from './types.js';

export type PackageManager = 'npm' | 'pnpm' | 'yarn';

/**
 * The image each toolchain gets when its project states no version. node, python, go and rust
 * have their own locally built images (see src/images.ts); a project's version files refine the
 * choice (src/project/versions.ts). make and generic get the general Debian image.
 */
export const TOOLCHAIN_IMAGES: Readonly<Record<Toolchain, string>> = Object.freeze({
  node: nodeImage(DEFAULT_NODE_MAJOR).ref,
  python: pythonImage().ref,
  go: goImage(OFFLINE_TOOLCHAINS.go[1]).ref,
  rust: rustImage().ref,
  make: IMAGES.node,
  generic: IMAGES.node,
});

/**
 * Root of the toolchain cache mounts. Caches live under a neutral path and the tool is pointed at
 * it with an environment variable, instead of mounting into $HOME (/root/.npm ...): workspaces run
 * as the host user by default, whose HOME inside the container is not /root (and /root is mode
 * 700), so a $HOME-based mount would silently go unused or be unreadable.
 */
export const CACHE_ROOT = '/var/cache/berth';

export interface Detection {
  readonly toolchain: Toolchain;
  readonly packageManager: PackageManager | undefined;
  /** The proposed layer (image, env, install, steps, caches). */
  readonly spec: SpecLayer;
  /** Files that drove the decision, e.g. ["package.json", "pnpm-lock.yaml"]. */
  readonly evidence: readonly string[];
  /** Things a human should know (unparseable manifest, a version berth cannot build ...); informational. */
  readonly warnings: readonly string[];
  /** How the toolchain image was chosen (node, python, go, rust only). */
  readonly image: ImageChoice | undefined;
}

type Steps = Partial<Record<StepName, string[]>>;

interface Proposal {
  toolchain: Toolchain;
  packageManager?: PackageManager;
  env?: Record<string, string>;
  install?: string[];
  steps: Steps;
  caches?: CacheMount[];
  evidence: string[];
  warnings?: string[];
  image?: ImageChoice;
}

const cache = (name: string): CacheMount => ({ name, path: `${CACHE_ROOT}/${name}` });

/** Detect the toolchain of the tree behind `reader` and propose a partial spec for it. */
export async function detect(reader: SourceReader): Promise<Detection> {
  const names = new Set(await reader.listRoot());
  const proposal = (await detectNode(reader, names)) ??
    (await detectPython(reader, names)) ??
    (await detectGo(reader, names)) ??
    (await detectRust(reader, names)) ??
    (await detectMake(reader, names)) ?? { toolchain: 'generic' as const, steps: {}, evidence: [] };

  const spec: SpecLayer = {
    image: proposal.image?.image.ref ?? TOOLCHAIN_IMAGES[proposal.toolchain],
    ...(proposal.env && Object.keys(proposal.env).length ? { env: proposal.env } : {}),
    ...(proposal.install ? { install: proposal.install } : {}),
    ...(proposal.caches ? { caches: proposal.caches } : {}),
    ...proposal.steps,
  };
  return {
    toolchain: proposal.toolchain,
    packageManager: proposal.packageManager,
    spec,
    evidence: proposal.evidence,
    warnings: [...(proposal.warnings ?? []), ...(proposal.image?.warning ? [proposal.image.warning] : [])],
    image: proposal.image,
  };
}

/** The text of `name` if the root lists it (a version file is optional: unreadable means absent). */
async function optional(reader: SourceReader, names: Set<string>, name: string): Promise<string | undefined> {
  return names.has(name) ? reader.readFile(name).catch(() => undefined) : undefined;
}

// ---------------------------------------------------------------------------------------------
// node
// ---------------------------------------------------------------------------------------------

// `npm init` writes this placeholder; running it only ever fails, so it is not a real test step.
const NPM_PLACEHOLDER_TEST = /no test specified/;

async function detectNode(reader: SourceReader, names: Set<string>): Promise<Proposal | undefined> {
  if (!names.has('package.json')) return undefined;
  const text = await reader.readFile('package.json');
  if (text === undefined) return undefined;
  const warnings: string[] = [];
  let pkg: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) pkg = parsed as Record<string, unknown>;
    else warnings.push('package.json is not a JSON object; no scripts detected');
  } catch (err) {
    warnings.push(`package.json is not valid JSON (${(err as Error).message}); no scripts detected`);
  }
  const scripts: Record<string, string> = {};
  if (pkg.scripts && typeof pkg.scripts === 'object' && !Array.isArray(pkg.scripts)) {
    for (const [k, v] of Object.entries(pkg.scripts as Record<string, unknown>)) if (typeof v === 'string' && v.trim()) scripts[k] = v;
  }

  const evidence = ['package.json'];
  const { pm, lockfile, berry } = nodePackageManager(pkg, names);
  if (lockfile) evidence.push(lockfile);

  let install: string;
  let run: (script: string) => string;
  let testCmd: string;
  let env: Record<string, string>;
  let caches: CacheMount[];
  switch (pm) {
    case 'pnpm':
      install = lockfile ? 'pnpm install --frozen-lockfile' : 'pnpm install';
      run = (s) => `pnpm run ${s}`;
      testCmd = 'pnpm test';
      // pnpm reads npm_config_* like npm does; store-dir is where its content-addressed store lives.
      env = { npm_config_store_dir: `${CACHE_ROOT}/pnpm` };
      caches = [cache('pnpm')];
      break;
    case 'yarn':
      // Yarn 1 spells "do not touch the lockfile" --frozen-lockfile; Yarn 2+ (berry) --immutable.
      install = lockfile ? (berry ? 'yarn install --immutable' : 'yarn install --frozen-lockfile') : 'yarn install';
      run = (s) => `yarn run ${s}`;
      testCmd = 'yarn test';
      env = { YARN_CACHE_FOLDER: `${CACHE_ROOT}/yarn` };
      caches = [cache('yarn')];
      break;
    default:
      install = lockfile ? 'npm ci' : 'npm install';
      run = (s) => `npm run ${s}`;
      testCmd = 'npm test';
      env = { npm_config_cache: `${CACHE_ROOT}/npm` };
      caches = [cache('npm')];
  }
  const requests: NodeRequest[] = [];
  for (const f of ['.nvmrc', '.node-version']) {
    const t = await optional(reader, names, f);
    if (t !== undefined) {
      requests.push({ source: f, text: t });
      evidence.push(f);
    }
  }
  const engines = pkg.engines as Record<string, unknown> | undefined;
  if (engines && typeof engines === 'object' && typeof engines.node === 'string') requests.push({ source: 'engines.node', text: engines.node });
  const steps: Steps = {};
  if (scripts.build) steps.build = [run('build')];
  if (scripts.test && !NPM_PLACEHOLDER_TEST.test(scripts.test)) steps.test = [testCmd];
  if (scripts.lint) steps.lint = [run('lint')];
  return { toolchain: 'node', packageManager: pm, env, install: [install], steps, caches, evidence, warnings, image: chooseNode(requests) };
}

function nodePackageManager(pkg: Record<string, unknown>, names: Set<string>): { pm: PackageManager; lockfile: string | undefined; berry: boolean } {
  const locks: [string, PackageManager][] = [
    ['pnpm-lock.yaml', 'pnpm'],
    ['yarn.lock', 'yarn'],
    ['package-lock.json', 'npm'],
    ['npm-shrinkwrap.json', 'npm'],
  ];
  // Corepack's "packageManager": "pnpm@9.1.0" is an explicit statement and wins over lockfiles
  // (repositories sometimes carry a stale lockfile of another manager).
  const declared = typeof pkg.packageManager === 'string' ? /^(npm|pnpm|yarn)@(\d+)?/.exec(pkg.packageManager) : null;
  const pm = (declared?.[1] as PackageManager | undefined) ?? locks.find(([f]) => names.has(f))?.[1] ?? 'npm';
  const lockfile = locks.find(([f, m]) => m === pm && names.has(f))?.[0];
  const berry = pm === 'yarn' && (names.has('.yarnrc.yml') || Number(declared?.[2] ?? 1) >= 2);
  return { pm, lockfile, berry };
}

// ---------------------------------------------------------------------------------------------
// python
// ---------------------------------------------------------------------------------------------

async function detectPython(reader: SourceReader, names: Set<string>): Promise<Proposal | undefined> {
  const markers = ['pyproject.toml', 'requirements.txt', 'setup.py'].filter((f) => names.has(f));
  if (markers.length === 0) return undefined;
  const pyproject = names.has('pyproject.toml') ? ((await reader.readFile('pyproject.toml')) ?? '') : '';
  const evidence = [...markers];
  const pythonVersion = await optional(reader, names, '.python-version');
  if (pythonVersion !== undefined) evidence.push('.python-version');
  const image = choosePython({ pythonVersion, requiresPython: requiresPython(pyproject) });
  const env: Record<string, string> = {
    PIP_CACHE_DIR: `${CACHE_ROOT}/pip`,
    // Debian-based images mark the system Python "externally managed" (PEP 668) and pip refuses to
    // install into it. The workspace container is already the isolation boundary, so allow it.
    PIP_BREAK_SYSTEM_PACKAGES: '1',
  };
  const caches = [cache('pip')];

  const hasRuff = names.has('ruff.toml') || names.has('.ruff.toml') || /^\[tool\.ruff[\].]/m.test(pyproject);
  const hasFlake8 = names.has('.flake8');

  const warnings: string[] = [];
  if (names.has('uv.lock')) {
    // uv is neither in Debian nor on npm, so berth's local Python image cannot have it.
    evidence.push('uv.lock');
    warnings.push(
      "uv.lock found, but berth's offline Python image has no uv: using pip and pytest. Set image, install and test in berth.yaml to use uv from an image that has it.",
    );
  }
  if (names.has('poetry.lock') || /^\[tool\.poetry\]/m.test(pyproject)) {
    if (names.has('poetry.lock')) evidence.push('poetry.lock');
    return {
      toolchain: 'python',
      env: { ...env, POETRY_CACHE_DIR: `${CACHE_ROOT}/poetry` },
      install: ['poetry install --no-interaction'],
      steps: { test: ['poetry run pytest'], ...(hasRuff ? { lint: ['poetry run ruff check .'] } : {}) },
      caches: [...caches, cache('poetry')],
      evidence,
      image,
    };
  }

  const install: string[] = [];
  if (names.has('requirements.txt')) install.push('python3 -m pip install -r requirements.txt');
  for (const dev of ['requirements-dev.txt', 'requirements_dev.txt', 'dev-requirements.txt']) {
    if (names.has(dev)) {
      install.push(`python3 -m pip install -r ${dev}`);
      evidence.push(dev);
      break;
    }
  }
  // A pyproject.toml without [project] or [build-system] is just tool configuration, not a package.
  const installable = names.has('setup.py') || /^\[(project|build-system)\]/m.test(pyproject);
  const setupText = `${(await optional(reader, names, 'setup.py')) ?? ''}\n${(await optional(reader, names, 'setup.cfg')) ?? ''}`;
  if (installable && pythonHasDependencies(pyproject, setupText)) {
    install.push('python3 -m pip install -e .');
  } else if (installable && names.has('src')) {
    // With no dependencies, installing only makes the package importable, and building it would
    // fetch its build backend (pip's build isolation) even offline. A src layout is importable
    // from the tree itself with src on the path.
    env.PYTHONPATH = 'src';
  }
  const lint = hasRuff ? ['ruff check .'] : hasFlake8 ? ['flake8'] : undefined;
  return {
    toolchain: 'python',
    env,
    install,
    steps: { test: ['python3 -m pytest'], ...(lint ? { lint } : {}) },
    caches,
    evidence,
    image,
    warnings,
  };
}

/** Does the package declare runtime dependencies (pyproject [project], setup.py/setup.cfg install_requires)? */
export function pythonHasDependencies(pyproject: string, setupText: string): boolean {
  const project = /^\[project\]\s*$([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(pyproject)?.[1] ?? '';
  if (/^\s*dynamic\s*=\s*\[[^\]]*["']dependencies["']/m.test(project)) return true;
  const deps = /^\s*dependencies\s*=\s*\[([^\]]*)\]/m.exec(project)?.[1];
  if (deps !== undefined && /["']/.test(deps)) return true;
  return /install_requires\s*[=:]\s*(?!\[\s*\])\S/.test(setupText);
}

// ---------------------------------------------------------------------------------------------
// go, rust
// ---------------------------------------------------------------------------------------------

async function detectGo(reader: SourceReader, names: Set<string>): Promise<Proposal | undefined> {
  if (!names.has('go.mod')) return undefined;
  const gomod = (await optional(reader, names, 'go.mod')) ?? '';
  return {
    image: chooseGo(goDirective(gomod)),
    toolchain: 'go',
    env: { GOMODCACHE: `${CACHE_ROOT}/go-mod`, GOCACHE: `${CACHE_ROOT}/go-build` },
    install: ['go mod download'],
    steps: { build: ['go build ./...'], test: ['go test ./...'], lint: ['go vet ./...'] },
    caches: [cache('go-mod'), cache('go-build')],
    evidence: names.has('go.sum') ? ['go.mod', 'go.sum'] : ['go.mod'],
  };
}

async function detectRust(reader: SourceReader, names: Set<string>): Promise<Proposal | undefined> {
  if (!names.has('Cargo.toml')) return undefined;
  const file = ['rust-toolchain.toml', 'rust-toolchain'].find((f) => names.has(f));
  const text = file ? await optional(reader, names, file) : undefined;
  return {
    image: chooseRust(text === undefined ? undefined : rustChannel(text)),
    toolchain: 'rust',
    // CARGO_HOME holds the registry index, downloaded crates and git checkouts: the part worth
    // sharing. Build output stays in <workdir>/target with the workspace.
    env: { CARGO_HOME: `${CACHE_ROOT}/cargo` },
    install: ['cargo fetch'],
    steps: { build: ['cargo build'], test: ['cargo test'], lint: ['cargo clippy --all-targets'] },
    caches: [cache('cargo')],
    evidence: names.has('Cargo.lock') ? ['Cargo.toml', 'Cargo.lock'] : ['Cargo.toml'],
  };
}

// ---------------------------------------------------------------------------------------------
// make
// ---------------------------------------------------------------------------------------------

const MAKEFILES = ['GNUmakefile', 'makefile', 'Makefile'] as const;

async function detectMake(reader: SourceReader, names: Set<string>): Promise<Proposal | undefined> {
  // GNU make's own lookup order.
  const file = MAKEFILES.find((f) => names.has(f));
  if (!file) return undefined;
  const text = await reader.readFile(file);
  if (text === undefined) return undefined;
  const targets = makeTargets(text);
  const steps: Steps = {};
  for (const step of ['build', 'test', 'lint'] as const) if (targets.has(step)) steps[step] = [`make ${step}`];
  return { toolchain: 'make', steps, evidence: [file] };
}

/**
 * Explicit target names defined in a Makefile: `name:`, `a b: deps`, `name:: ...`. Recipe lines
 * (tab-indented), comments, variable assignments (`X := y`, `X ::= y`, `X = a:b`) and
 * pattern/variable targets are ignored. Line continuations are joined first.
 */
export function makeTargets(text: string): Set<string> {
  const targets = new Set<string>();
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/);
  for (const line of lines) {
    if (line.startsWith('\t') || /^\s*#/.test(line)) continue;
    const m = /^([^:=#\t][^:=#]*?)\s*::?(?![=:])/.exec(line);
    if (!m) continue;
    for (const name of m[1]!.trim().split(/\s+/)) {
      if (/^[A-Za-z0-9_][A-Za-z0-9_./-]*$/.test(name)) targets.add(name);
    }
  }
  return targets;
}

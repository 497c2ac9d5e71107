/**
 * resolveSpec(): merge call options > berth.yaml > devcontainer.json > detection > defaults into one frozen
 * ResolvedSpec, field by field, and compute the hash the warm pool keys containers by.
 *
 * Merge rules:
 *   - scalar fields (image, workdir, network, user, timeouts) and command lists (setup, install,
 *     each step separately): the highest layer that specifies the field wins outright. An explicit
 *     empty list (`lint: []`) counts as specified, which is how a file disables a detected step.
 *   - env: merged key by key, higher layer winning per key.
 *   - caches, volumes: merged by name, higher layer winning per name.
 *   - resources, pool: merged per sub-field.
 */
import { createHash } from 'node:crypto';
import { BerthError } from '../errors.js';
import { DEFAULT_IMAGE } from '../images.js';
import { LocalSourceReader, type SourceReader } from '../source-reader.js';
import { detect, type Detection } from './detect.js';
import { loadDevcontainer, type Devcontainer } from './devcontainer.js';
import { allowedLocalEnv } from './devcontainer-vars.js';
import { parseSpecFile, parseSpecInput, specInvalid, type FieldPath, type ParsedSpecFile, type SpecProblem } from './parse.js';
import type { SpecInput, SpecLayer } from './schema.js';
import type { CacheMount, Resolved, ResolvedSpec, StepName } from './types.js';

export type Origin = 'call' | 'file' | 'devcontainer' | 'detected' | 'default';

export interface ResolveOptions {
  /** Call-level overrides, same shape as berth.yaml; validated like the file. Highest precedence. */
  readonly overrides?: SpecInput;
  /**
   * The config file, relative to the source root. Default: berth.yaml, else berth.yml, else none.
   * An explicitly named file must exist. `false` skips the file entirely (used by `berth init`).
   */
  readonly configFile?: string | false;
  /**
   * devcontainer.json: read by default; `false` skips it. `localEnv` are the host variables
   * `${localEnv:X}` may read (default: those named in BERTH_DEVCONTAINER_LOCAL_ENV).
   */
  readonly devcontainer?: false | { readonly localEnv?: Readonly<Record<string, string>> };
}

/** Defaults: the lowest layer. Exported so docs, `berth init` and tests agree on them. */
export const SPEC_DEFAULTS = Object.freeze({
  image: DEFAULT_IMAGE,
  workdir: '/workspace',
  network: 'none',
  installNetwork: 'bridge',
  pull: 'missing',
  user: undefined,
  idleTimeoutMs: 30 * 60_000,
  stepTimeoutMs: 30 * 60_000,
  resources: Object.freeze({ cpus: 2, memoryMb: 2048, pids: 1024 }),
  pool: Object.freeze({ size: 0 }),
} as const);

export const DEFAULT_CONFIG_FILES = ['berth.yaml', 'berth.yml'] as const;

const STEPS: readonly StepName[] = ['build', 'test', 'lint'];

/** Resolve the spec for the source tree behind `reader`. Throws BerthError SPEC_YAML / SPEC_INVALID / BAD_INPUT. */
export async function resolveSpec(reader: SourceReader, opts: ResolveOptions = {}): Promise<Resolved> {
  // Validate overrides first: a bad call should fail before any I/O.
  const call = opts.overrides === undefined ? undefined : parseSpecInput(opts.overrides, 'call options');
  const file = opts.configFile === false ? undefined : await readConfig(reader, opts.configFile);
  const devcontainer =
    opts.devcontainer === false
      ? undefined
      : await loadDevcontainer(reader, {
          root: reader instanceof LocalSourceReader ? reader.root : reader.label,
          workdir: call?.workdir ?? file?.spec.workdir,
          localEnv: opts.devcontainer?.localEnv ?? allowedLocalEnv(process.env),
        });
  const detection = await detect(reader);
  return resolveLayers({ call, file, devcontainer, detection, source: reader.label });
}

/**
 * The pure half of resolveSpec: merge already-validated layers. Useful when the caller has the
 * layers in hand (tests, the Dagger module, `berth init` which skips the file).
 */
export function resolveLayers(layers: {
  call?: SpecLayer | undefined;
  file?: ParsedSpecFile | undefined;
  devcontainer?: Devcontainer | undefined;
  detection: Detection;
  /** Identifies the source tree (its reader's label); keeps two repositories' build tags apart. */
  source?: string | undefined;
}): Resolved {
  const primary = mergeLayers(layers);
  const dc = layers.devcontainer;
  if (!dc) return deepFreeze(primary);
  // The image came from devcontainer.json: prepare the same spec on the detected image, for when
  // that image can't be pulled or built here. A named remoteUser belongs to the devcontainer's
  // image (e.g. "vscode") and would not exist in the toolchain image, so it goes too.
  const fromDc = primary.origins.image === 'devcontainer';
  const namedUser = dc.spec.user !== undefined && !/^\d+(:\d+)?$/.test(dc.spec.user);
  const { image: _i, build: _b, ...rest } = dc.spec;
  const fallbackDc = { ...dc, spec: namedUser ? { ...rest, user: undefined } : rest };
  const fallback = fromDc ? mergeLayers({ ...layers, devcontainer: fallbackDc }) : undefined;
  return deepFreeze({
    ...primary,
    devcontainer: {
      file: dc.file,
      lifecycle: dc.lifecycle,
      initialize: dc.initialize,
      features: dc.features,
      warnings: dc.warnings,
      ...(fallback
        ? {
            fallback: {
              ...fallback,
              devcontainer: { file: dc.file, lifecycle: dc.lifecycle, initialize: dc.initialize, features: dc.features, warnings: dc.warnings },
            },
          }
        : {}),
    },
  });
}

function mergeLayers(layers: Parameters<typeof resolveLayers>[0]): Resolved {
  const ordered: [Origin, SpecLayer][] = [];
  if (layers.call) ordered.push(['call', layers.call]);
  if (layers.file) ordered.push(['file', layers.file.spec]);
  if (layers.devcontainer) ordered.push(['devcontainer', layers.devcontainer.spec]);
  ordered.push(['detected', layers.detection.spec]);
  const origins: Record<string, Origin> = {};

  /** The highest layer's value for a field, or the default. */
  function pick<T>(field: string, get: (l: SpecLayer) => T | undefined, fallback: T): T {
    for (const [origin, layer] of ordered) {
      const v = get(layer);
      if (v !== undefined) {
        origins[field] = origin;
        return v;
      }
    }
    origins[field] = 'default';
    return fallback;
  }

  /** The highest layer that specifies a merged field at all, for its top-level origin. */
  function topOrigin(field: string, get: (l: SpecLayer) => unknown): void {
    origins[field] = ordered.find(([, l]) => get(l) !== undefined)?.[0] ?? 'default';
  }

  // Lowest layer first so higher layers overwrite per key.
  const lowToHigh = [...ordered].reverse();

  const env: Record<string, string> = {};
  for (const [origin, layer] of lowToHigh) {
    for (const [k, v] of Object.entries(layer.env ?? {})) {
      env[k] = v;
      origins[`env.${k}`] = origin;
    }
  }
  topOrigin('env', (l) => l.env);

  const mergeMounts = (kind: 'caches' | 'volumes'): CacheMount[] => {
    const byName = new Map<string, CacheMount>();
    for (const [origin, layer] of lowToHigh) {
      for (const m of layer[kind] ?? []) {
        byName.set(m.name, { name: m.name, path: m.path });
        origins[`${kind}.${m.name}`] = origin;
      }
    }
    topOrigin(kind, (l) => l[kind]);
    // Sorted by name: mount order carries no meaning, and a stable order keeps the hash stable.
    return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  };

  const steps = {} as Record<StepName, readonly string[]>;
  // `build:` as a mapping is the image build (below), not the build step.
  const stepOf = (l: SpecLayer, step: StepName): string[] | undefined => {
    const v = l[step];
    return v === undefined || Array.isArray(v) ? v : undefined;
  };
  for (const step of STEPS) steps[step] = pick(`steps.${step}`, (l) => stepOf(l, step), []);
  const stepOrigins = STEPS.map((s) => origins[`steps.${s}`]!);
  origins.steps = (['call', 'file', 'devcontainer', 'detected'] as const).find((o) => stepOrigins.includes(o)) ?? 'default';

  const resources = {
    cpus: pick('resources.cpus', (l) => l.resources?.cpus, SPEC_DEFAULTS.resources.cpus),
    memoryMb: pick('resources.memoryMb', (l) => l.resources?.memoryMb, SPEC_DEFAULTS.resources.memoryMb),
    pids: pick('resources.pids', (l) => l.resources?.pids, SPEC_DEFAULTS.resources.pids),
  };
  topOrigin('resources', (l) => l.resources);

  const buildLayer = pick(
    'imageBuild',
    (l) => (l.build === undefined || Array.isArray(l.build) ? undefined : l.build),
    undefined as Exclude<SpecLayer['build'], string[]> | undefined,
  );
  const build = buildLayer && {
    dockerfile: buildLayer.dockerfile ?? 'Dockerfile',
    context: buildLayer.context ?? '.',
    args: buildLayer.args ?? {},
    ...(buildLayer.target ? { target: buildLayer.target } : {}),
  };
  let image = pick('image', (l) => l.image, SPEC_DEFAULTS.image);
  if (build) {
    // The tag names the build config (and the source it belongs to); docker/build.ts labels the
    // image with the hash of the files it read and rebuilds only when that changes.
    image = `berth-build:${createHash('sha256')
      .update(canonicalJson({ build, source: layers.source ?? null }))
      .digest('hex')
      .slice(0, 16)}`;
    origins.image = origins.imageBuild!;
  }
  const spec: ResolvedSpec = {
    image,
    ...(build ? { build } : {}),
    ...(layers.devcontainer?.binds.length ? { binds: layers.devcontainer.binds } : {}),
    workdir: pick('workdir', (l) => l.workdir, SPEC_DEFAULTS.workdir),
    env,
    setup: pick('setup', (l) => l.setup, []),
    install: pick('install', (l) => l.install, []),
    steps,
    caches: mergeMounts('caches'),
    volumes: mergeMounts('volumes'),
    resources,
    network: pick('network', (l) => (typeof l.network === 'object' ? l.network.run : l.network), SPEC_DEFAULTS.network),
    pull: pick('pull', (l) => l.pull, SPEC_DEFAULTS.pull),
    installNetwork: pick('installNetwork', (l) => (typeof l.network === 'object' ? l.network.install : l.network), SPEC_DEFAULTS.installNetwork),
    user: pick<string | undefined>('user', (l) => l.user, SPEC_DEFAULTS.user),
    idleTimeoutMs: pick('idleTimeoutMs', (l) => l.idleTimeout, SPEC_DEFAULTS.idleTimeoutMs),
    stepTimeoutMs: pick('stepTimeoutMs', (l) => l.timeout, SPEC_DEFAULTS.stepTimeoutMs),
    pool: { size: pick('pool.size', (l) => l.pool?.size, SPEC_DEFAULTS.pool.size) },
    toolchain: layers.detection.toolchain,
    packageManager: layers.detection.packageManager,
  };
  topOrigin('pool', (l) => l.pool);
  origins.toolchain = 'detected';
  origins.packageManager = 'detected';

  checkMounts(spec, origins, layers.file);

  return {
    spec,
    hash: specHash(spec),
    configFile: layers.file?.label,
    origins,
    sources: sourcesOf(layers),
  };
}

/** Each origin in words: which file, or which evidence, for `berth spec --explain`. */
function sourcesOf(layers: Parameters<typeof resolveLayers>[0]): Record<Origin, string> {
  const evidence = layers.detection.evidence;
  return {
    call: 'call options',
    file: layers.file?.label ?? 'berth.yaml',
    devcontainer: layers.devcontainer?.file ?? 'devcontainer.json',
    detected: `detection (${layers.detection.toolchain}${evidence.length ? `: ${evidence.join(', ')}` : ''})`,
    default: 'default',
  };
}

/**
 * The warm-pool key: sha256 over the fields that shape the container itself (`installNetwork` shapes
 * only pipeline install containers, never a session's). `install`, the steps,
 * timeouts and pool size are deliberately left out: the pool pre-starts containers (image, env,
 * setup, mounts, limits) before any workspace's source is there, so those fields cannot have
 * influenced a pooled container and must not make it unusable. Changing `test` therefore keeps
 * the hash; changing `env` or `image` does not.
 */
export function specHash(spec: ResolvedSpec): string {
  const shaping = {
    image: spec.image,
    workdir: spec.workdir,
    env: spec.env,
    setup: spec.setup,
    caches: spec.caches,
    volumes: spec.volumes,
    resources: spec.resources,
    network: spec.network,
    user: spec.user ?? null,
    // Only when present, so a spec without binds keeps the hash it always had.
    ...(spec.binds?.length ? { binds: spec.binds } : {}),
  };
  return createHash('sha256').update(canonicalJson(shaping)).digest('hex').slice(0, 16);
}

/** JSON with object keys sorted at every level, so key order in the source never changes the hash. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

async function readConfig(reader: SourceReader, configFile: string | undefined): Promise<ParsedSpecFile | undefined> {
  const candidates = configFile === undefined ? DEFAULT_CONFIG_FILES : [configFile];
  for (const name of candidates) {
    let text: string | undefined;
    try {
      text = await reader.readFile(name);
    } catch (err) {
      throw new BerthError(
        'BAD_INPUT',
        `cannot read config file ${JSON.stringify(name)} in ${reader.label}: ${(err as Error).message}. ` +
          'Pass a path relative to the source root that stays inside it.',
        { cause: err },
      );
    }
    if (text !== undefined) return parseSpecFile(text, name);
  }
  if (configFile !== undefined) {
    throw new BerthError(
      'BAD_INPUT',
      `config file ${JSON.stringify(configFile)} does not exist in ${reader.label}. Create it (berth init) or omit the option to use berth.yaml.`,
    );
  }
  return undefined;
}

/** Cross-field checks the per-layer schema cannot do: mounts must not collide after merging. */
function checkMounts(spec: ResolvedSpec, origins: Record<string, Origin>, file: ParsedSpecFile | undefined): void {
  const problems: SpecProblem[] = [];
  const where = (kind: string, name: string): Pick<SpecProblem, 'file' | 'line' | 'col'> => {
    const origin = origins[`${kind}.${name}`];
    if (origin === 'file' && file) {
      const pos = findMountPosition(file, kind, name);
      return { file: file.label, line: pos?.line, col: pos?.col };
    }
    return { file: origin === 'call' ? 'call options' : origin === 'devcontainer' ? 'devcontainer.json' : 'detected spec', line: undefined, col: undefined };
  };
  const byPath = new Map<string, string>();
  for (const kind of ['caches', 'volumes'] as const) {
    for (const m of spec[kind]) {
      const field = `${kind}.${m.name}`;
      if (m.path === spec.workdir) {
        problems.push({ ...where(kind, m.name), field, message: `path "${m.path}" is the workdir; mount it somewhere else or change workdir` });
      }
      const other = byPath.get(m.path);
      if (other) problems.push({ ...where(kind, m.name), field, message: `path "${m.path}" is also used by ${other}; give each mount its own path` });
      else byPath.set(m.path, field);
    }
  }
  if (problems.length) throw specInvalid(problems, file?.label ?? 'spec');
}

function findMountPosition(file: ParsedSpecFile, kind: string, name: string) {
  // Map form (`caches: {npm: /x}`) or list form (`caches: [{name: npm, path: /x}]`).
  const direct = file.positionOf([kind, name], { exact: true });
  if (direct) return direct;
  const list = file.spec[kind === 'caches' ? 'caches' : 'volumes'] ?? [];
  const index = list.findIndex((m) => m.name === name);
  const path: FieldPath = index >= 0 ? [kind, index, 'path'] : [kind];
  return file.positionOf(path);
}

/**
 * The berth.yaml schema: the trust boundary for everything a repository (or a caller) says about
 * its workspace container. berth.yaml is written by whoever controls the repository, i.e. by the
 * agent, so every value is validated and bounded here and the rest of the library can rely on the
 * normalized output (lists instead of "string or list", milliseconds instead of durations, strings
 * instead of YAML numbers in env).
 *
 * The `.describe()` texts double as documentation: `berth init` writes them as the one-line comment
 * above each field, so keep them short and user-facing.
 */
import { z } from 'zod';
import type { CacheMount, Network } from './types.js';

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

export const MAX_COMMAND_CHARS = 16 * 1024;
const MAX_COMMANDS = 100;
const MAX_ENV_VALUE_CHARS = 32 * 1024;
const MAX_ENV_VARS = 500;
const MAX_MOUNTS = 32;

/**
 * Paths a cache, volume or the worktree must never be mounted over: doing so would hide the
 * image's own system files and produce a container that cannot start or behaves bizarrely.
 */
const RESERVED_CONTAINER_PATHS: ReadonlySet<string> = new Set([
  '/',
  '/bin',
  '/boot',
  '/dev',
  '/etc',
  '/lib',
  '/lib32',
  '/lib64',
  '/proc',
  '/run',
  '/sbin',
  '/sys',
  '/usr',
  '/var',
]);

// A conservative character set: container paths end up in Docker mount specs, where ':' and ','
// are separators, and in shell snippets written by executors.
const CONTAINER_PATH_CHARS = /^[A-Za-z0-9._+@/-]+$/;

export function containerPath(what: string) {
  return z.string({ error: `expected ${what} (an absolute container path such as /workspace)` }).transform((raw, ctx) => {
    const fail = (message: string) => {
      ctx.addIssue({ code: 'custom', message, input: raw });
      return z.NEVER;
    };
    if (!raw.startsWith('/')) return fail(`expected ${what} to be an absolute container path (starting with /)`);
    if (raw.length > 4096) return fail(`expected ${what} of at most 4096 characters`);
    if (!CONTAINER_PATH_CHARS.test(raw)) return fail(`expected ${what} made of letters, digits, / and . _ + @ - only`);
    const segments = raw.split('/').filter((s) => s !== '');
    if (segments.some((s) => s === '.' || s === '..')) return fail(`expected ${what} without "." or ".." segments`);
    const normalized = `/${segments.join('/')}`;
    if (RESERVED_CONTAINER_PATHS.has(normalized)) {
      return fail(`expected ${what} that is not a system directory (${[...RESERVED_CONTAINER_PATHS].join(' ')})`);
    }
    return normalized;
  });
}

const command = z
  .string({ error: 'expected a shell command (a string)' })
  .refine((s) => s.trim() !== '', { error: 'expected a non-empty shell command' })
  .refine((s) => !s.includes('\0'), { error: 'expected a shell command without NUL characters' })
  .refine((s) => s.length <= MAX_COMMAND_CHARS, { error: `expected a shell command of at most ${MAX_COMMAND_CHARS} characters` });

/** "cmd" or ["cmd", ...] → ["cmd", ...]. An empty list explicitly means "no commands". */
const commands = z
  .union([command, z.array(command).max(MAX_COMMANDS, { error: `expected at most ${MAX_COMMANDS} commands` })], {
    error: 'expected a shell command or a list of shell commands',
  })
  .transform((v): string[] => (typeof v === 'string' ? [v] : v));

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const envName = z
  .string()
  .regex(ENV_NAME, { error: 'expected an environment variable name (letters, digits and _, not starting with a digit)' })
  .max(256, { error: 'expected an environment variable name of at most 256 characters' });

// YAML turns `PORT: 3000` into a number and `DEBUG: true` into a boolean; environment variables are
// strings, so coerce instead of making people quote everything. (parseSpecFile goes further and
// keeps the source text, so `VERSION: 1.10` stays "1.10" rather than becoming "1.1".)
const envValue = z
  .union([z.string(), z.number(), z.boolean()], {
    error: 'expected a string, number or boolean value (write FOO: "" for an empty value)',
  })
  .transform((v) => String(v))
  .refine((s) => !s.includes('\0'), { error: 'expected a value without NUL characters' })
  .refine((s) => s.length <= MAX_ENV_VALUE_CHARS, { error: `expected a value of at most ${MAX_ENV_VALUE_CHARS} characters` });

/** A path inside the source tree: relative, no `..`, no NUL. */
const sourcePath = (what: string) =>
  z
    .string({ error: `expected ${what} as a relative path` })
    .min(1)
    .refine((p) => !p.startsWith('/') && !p.includes('\0') && !p.split('/').includes('..'), {
      error: `${what} must be a relative path inside the repository (no "..")`,
    });

export const buildSchema = z.strictObject({
  dockerfile: sourcePath('the Dockerfile').optional().describe('the Dockerfile, relative to context (default Dockerfile)'),
  context: sourcePath('the build context').optional().describe('the build context directory, relative to the repository root (default .)'),
  args: z
    .record(
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'build arg names are letters, digits and _' }),
      z.union([z.string(), z.number(), z.boolean()]).transform(String),
    )
    .optional()
    .describe('build arguments (ARG)'),
  target: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { error: 'expected a stage name' })
    .optional()
    .describe('the stage to build'),
});

const env = z
  .record(envName, envValue, { error: 'expected a mapping of NAME: value' })
  .refine((m) => Object.keys(m).length <= MAX_ENV_VARS, { error: `expected at most ${MAX_ENV_VARS} variables` });

export const MOUNT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const mountName = z
  .string({ error: 'expected a name (a string)' })
  .regex(MOUNT_NAME, { error: 'expected a name of letters, digits and _ . - (at most 64, starting with a letter or digit)' });

const mountEntry = z.strictObject(
  { name: mountName, path: containerPath('a mount path') },
  { error: (iss) => (iss.code === 'invalid_type' ? 'expected a mapping with name and path' : undefined) },
);

/** `[{name, path}]` or `{name: path}` → CacheMount[] with unique names. */
function mounts(kind: string) {
  return z
    .union([z.array(mountEntry).max(MAX_MOUNTS, { error: `expected at most ${MAX_MOUNTS} ${kind}` }), z.record(mountName, containerPath('a mount path'))], {
      error: `expected a list of {name, path} or a mapping of name: /absolute/path`,
    })
    .transform((v, ctx): CacheMount[] => {
      const list = Array.isArray(v) ? v : Object.entries(v).map(([name, path]) => ({ name, path }));
      if (list.length > MAX_MOUNTS) {
        ctx.addIssue({ code: 'custom', message: `expected at most ${MAX_MOUNTS} ${kind}`, input: v });
        return z.NEVER;
      }
      const seen = new Map<string, number>();
      list.forEach((m, i) => {
        const prev = seen.get(m.name);
        if (prev !== undefined) {
          ctx.addIssue({ code: 'custom', message: `duplicate name "${m.name}" (also used by entry ${prev}); give each its own name`, path: [i, 'name'] });
        }
        seen.set(m.name, i);
      });
      return list.map((m) => ({ name: m.name, path: m.path }));
    });
}

const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Timers above 2^31-1 ms overflow in Node and fire immediately, so durations are capped well below. */
export const MAX_DURATION_MS = 7 * UNIT_MS.d!;
const DURATION_HELP = 'a number of minutes or a string like "90s", "30m", "2h", "1h30m"';

/** Parse "90s", "30m", "2h", "1h30m", "500ms", "1d"; a bare number is minutes. Undefined when malformed. */
export function parseDuration(v: string | number): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? Math.round(v * UNIT_MS.m!) : undefined;
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * UNIT_MS.m!);
  DURATION_PART.lastIndex = 0;
  let total = 0;
  let consumed = 0;
  for (let m = DURATION_PART.exec(s); m; m = DURATION_PART.exec(s)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    consumed = DURATION_PART.lastIndex;
  }
  if (consumed === 0 || consumed !== s.length) return undefined;
  return Math.round(total);
}

/** The inverse for display and `berth init`: 1800000 → "30m", 5400000 → "90m", 1500 → "1500ms". */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', UNIT_MS.d!],
    ['h', UNIT_MS.h!],
    ['m', UNIT_MS.m!],
    ['s', UNIT_MS.s!],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

function duration(minMs: number) {
  return z.union([z.number(), z.string()], { error: `expected a duration: ${DURATION_HELP}` }).transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a duration: ${DURATION_HELP}`, input: v });
      return z.NEVER;
    }
    if (ms < minMs || ms > MAX_DURATION_MS) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a duration between ${formatDuration(minMs)} and ${formatDuration(MAX_DURATION_MS)}`,
        input: v,
      });
      return z.NEVER;
    }
    return ms;
  });
}

function intRange(min: number, max: number) {
  const msg = `expected an integer >= ${min}${max < Number.MAX_SAFE_INTEGER ? ` and <= ${max}` : ''}`;
  return z.int({ error: msg }).min(min, { error: msg }).max(max, { error: msg });
}

// Docker image reference: [registry/]name[:tag][@digest]. Kept permissive on structure but strict on
// characters so an image string can never smuggle whitespace or options into a CLI call.
export const IMAGE_REF = /^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$/;

// "1000", "1000:1000", "node", "node:staff". YAML reads a bare `1000` as a number; accept that too.
export const USER = /^([0-9]{1,10}|[A-Za-z_][A-Za-z0-9_.-]{0,31})(:([0-9]{1,10}|[A-Za-z_][A-Za-z0-9_.-]{0,31}))?$/;

// ---------------------------------------------------------------------------------------------
// The schema
// ---------------------------------------------------------------------------------------------

export const NETWORKS = ['none', 'bridge', 'host'] as const satisfies readonly Network[];

const networkName = z.enum(NETWORKS, { error: `expected one of ${NETWORKS.join(', ')}` });

export const resourcesSchema = z.strictObject(
  {
    cpus: z
      .number({ error: 'expected a number of CPUs > 0 (e.g. 1.5)' })
      .gt(0, { error: 'expected a number of CPUs > 0 (e.g. 1.5)' })
      .max(256, { error: 'expected a number of CPUs <= 256' })
      .optional()
      .describe('CPU cores the container may use (fractions allowed)'),
    memoryMb: intRange(16, 1024 * 1024)
      .optional()
      .describe('memory limit in MiB'),
    pids: intRange(16, 1_000_000).optional().describe('maximum number of processes/threads in the container'),
  },
  { error: (iss) => (iss.code === 'invalid_type' ? 'expected a mapping with cpus, memoryMb, pids' : undefined) },
);

export const poolSchema = z.strictObject(
  {
    size: intRange(0, 16).optional().describe('warm containers kept ready for new workspaces (0 = off)'),
  },
  { error: (iss) => (iss.code === 'invalid_type' ? 'expected a mapping with size' : undefined) },
);

export const berthYamlSchema = z.strictObject(
  {
    image: z
      .string({ error: 'expected an image reference (a string such as "berth-node:bookworm-1")' })
      .regex(IMAGE_REF, { error: 'expected an image reference of letters, digits and . _ / : @ - (no spaces)' })
      .optional()
      .describe('container image the workspace runs in'),
    workdir: containerPath('the workdir').optional().describe('absolute container path where the worktree is mounted'),
    env: env.optional().describe('environment variables for the container and every command'),
    setup: commands.optional().describe('image-level commands run once per container, before the source is there'),
    install: commands.optional().describe('commands run once the source is present (dependency install)'),
    build: z
      .union([commands, buildSchema])
      .optional()
      .describe('the build step (`berth build`; [] disables it), or {dockerfile, context, args, target}: build the image from a Dockerfile'),
    test: commands.optional().describe('the test step (`berth test`); [] disables it'),
    lint: commands.optional().describe('the lint step (`berth lint`); [] disables it'),
    caches: mounts('caches').optional().describe('toolchain caches shared across workspaces (name: /absolute/path)'),
    volumes: mounts('volumes').optional().describe('per-workspace volumes that persist with the workspace (name: /absolute/path)'),
    resources: resourcesSchema.optional().describe('container limits'),
    network: z
      .union(
        [
          networkName,
          z.strictObject({
            install: networkName.optional().describe('the install phase (default bridge: dependency installs fetch)'),
            run: networkName.optional().describe('setup, steps and agent commands (default none)'),
          }),
        ],
        { error: `expected one of ${NETWORKS.join(', ')}, or {install: ..., run: ...}` },
      )
      .optional()
      .describe('container network: one name for every phase, or {install, run}; default install bridge, run none'),
    pull: z
      .enum(['missing', 'always', 'never'], { error: 'expected missing, always or never' })
      .optional()
      .describe('when to pull a registry image: missing (default), always, or never'),
    user: z
      .union([z.string(), z.int().nonnegative()], { error: 'expected "uid:gid", "uid" or a user name' })
      .transform((v) => String(v))
      .refine((s) => USER.test(s), { error: 'expected "uid:gid", "uid" or a user name' })
      .optional()
      .describe('user commands run as ("uid:gid" or a name); unset means your own uid:gid'),
    idleTimeout: duration(1000).optional().describe('stop the container after this long without activity (minutes or "90s", "2h")'),
    timeout: duration(1000).optional().describe('time limit for each build/test/lint step (minutes or "90s", "2h")'),
    pool: poolSchema.optional().describe('warm pool of pre-started containers'),
  },
  { error: (iss) => (iss.code === 'invalid_type' ? 'expected a mapping of berth.yaml fields (image, env, test ...)' : undefined) },
);

/** The shape of berth.yaml, and of call-level overrides (same fields, already-parsed object). */
export type SpecInput = z.input<typeof berthYamlSchema>;
/**
 * One validated, normalized layer (file, call or detection): lists instead of "string or list",
 * CacheMount[] for caches/volumes, `idleTimeout`/`timeout` in milliseconds, env values as strings.
 */
export type SpecLayer = z.output<typeof berthYamlSchema>;

/** Field names berth.yaml accepts, in documentation order. */
export const SPEC_FIELDS = Object.keys(berthYamlSchema.shape) as (keyof typeof berthYamlSchema.shape)[];

/** Known keys of each nested mapping, for "did you mean" suggestions. Keyed by normalized path. */
export const KNOWN_KEYS: Readonly<Record<string, readonly string[]>> = {
  '': SPEC_FIELDS,
  resources: Object.keys(resourcesSchema.shape),
  pool: Object.keys(poolSchema.shape),
  'caches[]': Object.keys(mountEntry.shape),
  'volumes[]': Object.keys(mountEntry.shape),
};

/** The one-line description of a top-level field (or `resources.cpus`-style nested field). */
export function fieldDescription(field: string): string {
  const [top, sub] = field.split('.') as [string, string | undefined];
  const shape = berthYamlSchema.shape as Record<string, z.ZodType>;
  if (sub === undefined) return shape[top]?.description ?? '';
  const nested = top === 'resources' ? resourcesSchema.shape : top === 'pool' ? poolSchema.shape : undefined;
  return (nested as Record<string, z.ZodType> | undefined)?.[sub]?.description ?? '';
}

/**
 * devcontainer.json → one more layer of the resolved spec (berth.yaml > devcontainer.json >
 * detection, field by field; see resolve.ts), plus what only a dev environment has: lifecycle
 * commands, binds inside the repository, and the warnings about what berth does not apply.
 *
 * Read safely (devcontainer-read.ts), parsed with jsonc-parser (comments and trailing commas, as
 * VS Code accepts them), validated with zod (devcontainer-schema.ts); syntax and schema errors are
 * DEVCONTAINER_INVALID with file:line:col. Values a repository cannot be trusted with are dropped
 * with a warning rather than failing the workspace: a devcontainer.json is written for VS Code, and
 * most of it still gives a useful environment when one part can't be honoured here.
 */
import { posix } from 'node:path';
import { findNodeAtLocation, parse, parseTree, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { BerthError } from '../errors.js';
import type { SourceReader } from '../source-reader.js';
import { convertMounts, type DevcontainerBind } from './devcontainer-mounts.js';
import { readDevcontainer } from './devcontainer-read.js';
import { devcontainerSchema, isImageRef, type DevcontainerInput, type LifecycleInput } from './devcontainer-schema.js';
import { VarScope } from './devcontainer-vars.js';
import { containerPath, USER, type SpecLayer } from './schema.js';
import type { LifecycleStage } from './types.js';

export type LifecycleHook = LifecycleStage['hook'];
export type LifecycleCommand = LifecycleStage['commands'][number];
/** The in-container hooks, in the order the spec runs them. */
export const LIFECYCLE_HOOKS = ['onCreateCommand', 'updateContentCommand', 'postCreateCommand', 'postStartCommand'] as const;

export interface Devcontainer {
  /** Path relative to the repository root, e.g. `.devcontainer/devcontainer.json`. */
  readonly file: string;
  /** The layer it contributes: image or build, env, user, workdir, volumes. */
  readonly spec: SpecLayer;
  readonly lifecycle: readonly LifecycleStage[];
  /** Runs on the HOST: only with the user's consent (--allow-host-commands). */
  readonly initialize: LifecycleStage | undefined;
  readonly binds: readonly DevcontainerBind[];
  readonly features: readonly string[];
  /** What was not applied, and why. */
  readonly warnings: readonly string[];
}

export type { DevcontainerBind } from './devcontainer-mounts.js';

export interface DevcontainerContext {
  /** Host path of the repository root (for `${localWorkspaceFolder}` and bind containment). */
  readonly root: string;
  /** berth.yaml's workdir, which wins over workspaceFolder. */
  readonly workdir?: string | undefined;
  /** Host variables the user allowed for `${localEnv:X}`. */
  readonly localEnv: Readonly<Record<string, string>>;
}

/** Keys that would change how the container runs; berth's hardening decides those instead. */
const NOT_APPLIED: Readonly<Record<string, string>> = {
  runArgs: 'docker run arguments',
  privileged: 'a privileged container',
  capAdd: 'extra capabilities',
  securityOpt: 'security options',
  workspaceMount: 'its own workspace mount (berth mounts the worktree)',
  dockerComposeFile: 'Docker Compose',
  postAttachCommand: 'postAttachCommand (berth has no attach step)',
  overrideCommand: 'overrideCommand',
};

/** Find, read and parse the tree's devcontainer.json; undefined when there is none. */
export async function loadDevcontainer(reader: SourceReader, ctx: DevcontainerContext): Promise<Devcontainer | undefined> {
  const found = await readDevcontainer(reader);
  return found && parseDevcontainer(found.text, found.rel, ctx);
}

/** Parse devcontainer.json text. Throws DEVCONTAINER_INVALID with file:line:col. */
export function parseDevcontainer(text: string, file: string, ctx: DevcontainerContext): Devcontainer {
  const errors: ParseError[] = [];
  const data: unknown = parse(text, errors, { allowTrailingComma: true, disallowComments: false, allowEmptyContent: false });
  if (errors.length > 0) {
    const lines = errors.slice(0, 5).map((e) => `${file}:${where(text, e.offset)}: invalid JSON: ${printParseErrorCode(e.error)}`);
    throw invalid(lines, file, errors[0]!.offset, text);
  }
  const result = devcontainerSchema.safeParse(data);
  if (!result.success) {
    const tree = parseTree(text, [], { allowTrailingComma: true });
    const lines = result.error.issues.slice(0, 10).map((i) => {
      const path = i.path.filter((p): p is string | number => typeof p !== 'symbol');
      const node = tree && findNodeAtLocation(tree, path);
      const field = path
        .map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`))
        .join('')
        .replace(/^\./, '');
      return `${file}:${where(text, node?.offset ?? 0)}: ${field || '(top level)'}: ${i.message}`;
    });
    throw invalid(lines, file, undefined, text);
  }
  return convert(result.data, file, ctx);
}

function where(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `${line}:${offset - before.lastIndexOf('\n')}`;
}

function invalid(lines: string[], file: string, offset: number | undefined, text: string): BerthError {
  const pos = offset === undefined ? undefined : where(text, offset).split(':').map(Number);
  return new BerthError(
    'DEVCONTAINER_INVALID',
    `${lines.join('\n')}\nFix ${file} (or set the field in berth.yaml, which takes precedence); \`berth spec --explain\` shows the result.`,
    { details: { file, ...(pos ? { line: pos[0], col: pos[1] } : {}) } },
  );
}

function convert(d: DevcontainerInput, file: string, ctx: DevcontainerContext): Devcontainer {
  const warnings: string[] = [];
  const early = new VarScope({ root: ctx.root, workdir: ctx.workdir ?? '/workspace', localEnv: ctx.localEnv });
  const spec: Record<string, unknown> = {};
  const workdir = ctx.workdir ?? workspaceFolder(d, file, early, warnings);
  if (workdir !== undefined && ctx.workdir === undefined) spec.workdir = workdir;
  const vars = new VarScope({ root: ctx.root, workdir: workdir ?? '/workspace', localEnv: ctx.localEnv });
  for (const name of early.withheld) vars.withheld.add(name);

  imageOrBuild(d, file, vars, spec, warnings);
  const env = environment(d, file, vars, warnings);
  if (Object.keys(env).length) spec.env = env;
  const user = d.remoteUser ?? d.containerUser;
  if (user !== undefined) {
    if (USER.test(user)) spec.user = user;
    else warnings.push(`${file}: remoteUser ${JSON.stringify(user)} is not a user name or uid: ignored`);
  }
  const mounts = convertMounts(d.mounts ?? [], file, vars);
  warnings.push(...mounts.warnings);
  if (mounts.volumes.length) spec.volumes = mounts.volumes;

  const lifecycle = LIFECYCLE_HOOKS.flatMap((hook) => {
    const stage = d[hook] === undefined ? undefined : toStage(hook, d[hook], file, vars, warnings);
    return stage ? [stage] : [];
  });
  const initialize = d.initializeCommand === undefined ? undefined : toStage('initializeCommand', d.initializeCommand, file, vars, warnings);
  const features = Object.keys(d.features ?? {});
  if (features.length) {
    warnings.push(
      `${file}: features are not applied (${features.join(', ')}): installing them needs OCI pulls of feature tarballs. ` +
        'Put what they install in a Dockerfile (devcontainer build, or build: in berth.yaml) or in berth.yaml setup: commands.',
    );
  }
  const ignored = Object.keys(NOT_APPLIED).filter((k) => (d as Record<string, unknown>)[k] !== undefined);
  if (ignored.length) {
    warnings.push(`${file}: not applied: ${ignored.map((k) => NOT_APPLIED[k]).join('; ')}. berth runs every container with its own hardening and mounts.`);
  }
  const withheld = vars.warning(file);
  if (withheld) warnings.push(withheld);
  return { file, spec: spec as SpecLayer, lifecycle, initialize, binds: mounts.binds, features, warnings };
}

function workspaceFolder(d: DevcontainerInput, file: string, vars: VarScope, warnings: string[]): string | undefined {
  if (d.workspaceFolder === undefined) return undefined;
  const sub = vars.sub(d.workspaceFolder);
  const parsed = 'value' in sub ? containerPath('workspaceFolder').safeParse(sub.value) : undefined;
  if (parsed?.success) return parsed.data;
  warnings.push(
    `${file}: workspaceFolder ${JSON.stringify(d.workspaceFolder)} is not usable (${parsed?.error.issues[0]?.message ?? 'unknown variable'}): ignored`,
  );
  return undefined;
}

/** `build` (or legacy dockerFile/context) wins over `image`, as in the devcontainer spec. */
function imageOrBuild(d: DevcontainerInput, file: string, vars: VarScope, spec: Record<string, unknown>, warnings: string[]): void {
  const dockerfile = d.build?.dockerfile ?? d.dockerFile;
  if (dockerfile !== undefined) {
    const dir = posix.dirname(file);
    const context = inRepo(posix.join(dir, d.build?.context ?? d.context ?? '.'));
    const df = inRepo(posix.join(dir, dockerfile));
    const dfInContext = context !== undefined && df !== undefined ? posix.relative(context, df) : undefined;
    if (context === undefined || df === undefined || dfInContext === undefined || dfInContext.startsWith('../')) {
      throw new BerthError(
        'DEVCONTAINER_INVALID',
        `${file}: build.dockerfile ${JSON.stringify(dockerfile)} and build.context ${JSON.stringify(d.build?.context ?? d.context ?? '.')} must stay inside the repository, with the Dockerfile inside the context. Fix the paths (they are relative to ${dir}).`,
        { details: { file } },
      );
    }
    const args: Record<string, string> = {};
    for (const [k, v] of Object.entries(d.build?.args ?? {})) {
      const s = vars.sub(v);
      if ('value' in s) args[k] = s.value;
      else warnings.push(`${file}: build.args.${k} uses ${s.unresolved}, which berth cannot know: the arg is not passed`);
    }
    spec.build = { dockerfile: dfInContext, context, args, ...(d.build?.target ? { target: d.build.target } : {}) };
    return;
  }
  if (d.image === undefined) {
    if (d.dockerComposeFile === undefined) warnings.push(`${file} names no image and no build: the image comes from berth.yaml or detection`);
    return;
  }
  const img = vars.sub(d.image);
  if ('value' in img && isImageRef(img.value)) spec.image = img.value;
  else throw new BerthError('DEVCONTAINER_INVALID', `${file}: image ${JSON.stringify(d.image)} is not an image reference.`, { details: { file } });
}

function inRepo(p: string): string | undefined {
  const n = posix.normalize(p);
  return n === '..' || n.startsWith('../') || posix.isAbsolute(n) ? undefined : n;
}

/** containerEnv, then remoteEnv on top (null unsets); values that need the running container are skipped. */
function environment(d: DevcontainerInput, file: string, vars: VarScope, warnings: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(d.containerEnv ?? {})) {
    const s = vars.sub(v, env);
    if ('value' in s) env[k] = s.value;
    else warnings.push(`${file}: containerEnv.${k} uses ${s.unresolved}, which berth cannot know before the container exists: not set`);
  }
  for (const [k, v] of Object.entries(d.remoteEnv ?? {})) {
    if (v === null) {
      delete env[k];
      continue;
    }
    const s = vars.sub(v, env);
    if ('value' in s) env[k] = s.value;
    else warnings.push(`${file}: remoteEnv.${k} uses ${s.unresolved}, which berth cannot know before the container exists: not set`);
  }
  return env;
}

/** ["a b", "c"] → `'a b' 'c'`: the array form runs without a shell, so every argument is quoted. */
export function shellQuote(args: readonly string[]): string {
  return args.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function toStage(hook: LifecycleHook, input: LifecycleInput, file: string, vars: VarScope, warnings: string[]): LifecycleStage | undefined {
  const one = (name: string | undefined, c: string | string[]): LifecycleCommand[] => {
    const s = vars.sub(typeof c === 'string' ? c : shellQuote(c));
    if ('value' in s) return [{ name, command: s.value }];
    warnings.push(`${file}: ${hook}${name ? `.${name}` : ''} uses ${s.unresolved}, which berth cannot know: not run`);
    return [];
  };
  const parallel = typeof input === 'object' && !Array.isArray(input);
  const commands = parallel ? Object.entries(input).flatMap(([n, c]) => one(n, c)) : one(undefined, input);
  return commands.length ? { hook, commands, parallel } : undefined;
}

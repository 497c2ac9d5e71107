/**
 * The zod schema of the devcontainer.json fields berth reads (https://containers.dev/implementors/json_reference/).
 * It is a trust boundary like berth.yaml: the file comes from the repository. Unknown keys are
 * allowed (the format has dozens berth has no use for, e.g. `customizations`); known ones are
 * validated and bounded here, and turned into berth's terms in devcontainer.ts.
 */
import { z } from 'zod';
import { ENV_NAME, IMAGE_REF, MAX_COMMAND_CHARS } from './schema.js';

const MAX_ARGS = 100;
const MAX_ENV_VALUE_CHARS = 32 * 1024;

const noNul = (what: string) =>
  z
    .string({ error: `expected ${what} (a string)` })
    .refine((s) => !s.includes('\0'), { error: `expected ${what} without NUL characters` })
    .refine((s) => s.length <= MAX_COMMAND_CHARS, { error: `expected ${what} of at most ${MAX_COMMAND_CHARS} characters` });

const shellCommand = noNul('a shell command').refine((s) => s.trim() !== '', { error: 'expected a non-empty command' });
/** The array form runs without a shell: ["npm", "ci"]. */
const argv = z.array(noNul('an argument')).min(1, { error: 'expected at least the program name' }).max(MAX_ARGS);
const oneCommand = z.union([shellCommand, argv], { error: 'expected a command string or an array of arguments' });

/** string | string[] | { name: string | string[] } (the object form runs its commands in parallel). */
export const lifecycleSchema = z.union(
  [shellCommand, argv, z.record(z.string().min(1).max(128), oneCommand).refine((m) => Object.keys(m).length <= MAX_ARGS)],
  { error: 'expected a command string, an array of arguments, or an object of named commands' },
);
export type LifecycleInput = z.output<typeof lifecycleSchema>;

const envValue = z
  .union([z.string(), z.number(), z.boolean()], { error: 'expected a string value' })
  .transform(String)
  .refine((s) => !s.includes('\0') && s.length <= MAX_ENV_VALUE_CHARS, { error: `expected a value without NUL of at most ${MAX_ENV_VALUE_CHARS} characters` });

const envName = z.string().regex(ENV_NAME, { error: 'expected an environment variable name (letters, digits and _)' });
const containerEnv = z.record(envName, envValue);
/** remoteEnv may set a variable to null, meaning "unset it". */
const remoteEnv = z.record(envName, envValue.nullable());

const relPath = noNul('a path');

const buildSchema = z.looseObject({
  dockerfile: relPath.optional(),
  context: relPath.optional(),
  args: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'build arg names are letters, digits and _' }), envValue).optional(),
  target: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { error: 'expected a stage name' })
    .optional(),
});

const mountObject = z.looseObject({
  type: z.string().max(32),
  source: noNul('a mount source').optional(),
  target: noNul('a mount target'),
  readonly: z.boolean().optional(),
});
export const mountSchema = z.union([noNul('a mount string'), mountObject], { error: 'expected a mount string or {type, source, target}' });
export type MountInput = z.output<typeof mountSchema>;

const userName = z.string().max(64);

export const devcontainerSchema = z.looseObject({
  name: z.string().max(256).optional(),
  image: z.string({ error: 'expected an image reference (a string)' }).max(1024).optional(),
  build: buildSchema.optional(),
  /** Legacy spellings of build.dockerfile / build.context. */
  dockerFile: relPath.optional(),
  context: relPath.optional(),
  containerEnv: containerEnv.optional(),
  remoteEnv: remoteEnv.optional(),
  remoteUser: userName.optional(),
  containerUser: userName.optional(),
  workspaceFolder: noNul('a container path').optional(),
  mounts: z.array(mountSchema).max(64).optional(),
  initializeCommand: lifecycleSchema.optional(),
  onCreateCommand: lifecycleSchema.optional(),
  updateContentCommand: lifecycleSchema.optional(),
  postCreateCommand: lifecycleSchema.optional(),
  postStartCommand: lifecycleSchema.optional(),
  postAttachCommand: lifecycleSchema.optional(),
  features: z.record(z.string(), z.unknown()).optional(),
});
export type DevcontainerInput = z.output<typeof devcontainerSchema>;

/** Image references as berth.yaml accepts them (checked after variable substitution). */
export function isImageRef(s: string): boolean {
  return IMAGE_REF.test(s);
}

/**
 * The note format. Notes are read back from the repository, where anyone with push access (or a
 * fetch of refs/notes/berth) could have written them, so they are parsed, not trusted.
 */
import { z } from 'zod';
import type { WorkspaceState } from './types.js';
import { isValidName } from './names.js';

const sha = z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, 'a full commit id');

export const WorkspaceStateSchema = z.looseObject({
  version: z.literal(1),
  name: z.string().refine(isValidName, 'a valid workspace name'),
  baseRef: z.string().min(1).max(1024),
  baseSha: sha,
  rootSha: sha,
  worktree: z
    .string()
    .min(1)
    .refine((p) => p.startsWith('/'), 'an absolute path'),
  ownsWorktreeDir: z.boolean(),
  createdAt: z.iso.datetime(),
  extra: z.record(z.string(), z.unknown()),
});

/** Checks at compile time that the schema and the documented contract in types.ts agree. */
type Parsed = z.infer<typeof WorkspaceStateSchema>;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _stateMatches: Same<
  Pick<Parsed, keyof WorkspaceState>,
  { -readonly [K in keyof WorkspaceState]: WorkspaceState[K] } & { extra: Record<string, unknown> }
> = true;
void _stateMatches;

/** A state from note text, or undefined when the note is not a berth v1 state. */
export function parseState(text: string): WorkspaceState | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const res = WorkspaceStateSchema.safeParse(json);
  return res.success ? deepFreeze(res.data) : undefined;
}

export function serializeState(state: WorkspaceState): string {
  return `${JSON.stringify(state)}\n`;
}

/** JSON-safe extra fields: patches pass through JSON so what is stored is what is read back. */
export const ExtraPatchSchema = z.record(z.string().min(1).max(200), z.unknown());

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

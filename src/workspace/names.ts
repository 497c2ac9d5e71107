/**
 * Workspace names become part of a branch (`berth/<name>`), a directory name and CLI/MCP
 * arguments, so they are validated once here, before any of those uses. The pattern is stricter
 * than git's ref rules (see git-check-ref-format(1)) and the extra checks cover the ref rules the
 * pattern alone lets through (`..`, a trailing `.` or `.lock`).
 */
import { BerthError } from '../errors.js';

export const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const BRANCH_PREFIX = 'berth/';

const RULE = "use a-z, 0-9, '.', '_' or '-' (max 63), starting with a letter or digit, without '..' and not ending in '.' or '.lock'";

/** Why `name` is not a valid workspace name, or undefined when it is. */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'it is not a string';
  if (name.length === 0) return 'it is empty';
  if (name.length > 63) return `it is ${name.length} characters long`;
  if (!NAME_PATTERN.test(name)) {
    if (!/^[a-z0-9]/.test(name)) return `it starts with ${JSON.stringify(name[0])}`;
    const bad = [...name].find((c) => !/[a-z0-9._-]/.test(c));
    return `it contains ${JSON.stringify(bad)}`;
  }
  if (name.includes('..')) return "it contains '..'";
  if (name.endsWith('.lock')) return "it ends in '.lock'";
  if (name.endsWith('.')) return "it ends in '.'";
  return undefined;
}

export function isValidName(name: unknown): name is string {
  return nameProblem(name) === undefined;
}

/** Throws INVALID_NAME (quoting the value and the rule) unless `name` is a valid workspace name. */
export function assertValidName(name: unknown): asserts name is string {
  const problem = nameProblem(name);
  if (problem === undefined) return;
  const shown = typeof name === 'string' ? JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name) : String(name);
  throw new BerthError('INVALID_NAME', `workspace ${shown} is not a valid name: ${RULE} (${problem})`, {
    details: { name: typeof name === 'string' ? name : undefined },
  });
}

export function branchOf(name: string): string {
  return `${BRANCH_PREFIX}${name}`;
}

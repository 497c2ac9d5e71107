/**
 * berth.yaml → SpecLayer, with errors that point at the file, line, column and field. Two entry
 * points share one schema and one issue formatter: parseSpecFile() for YAML text and
 * parseSpecInput() for already-parsed objects (call-level overrides from the CLI or MCP).
 */
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { BerthError } from '../errors.js';
import { KNOWN_KEYS, berthYamlSchema, type SpecLayer } from './schema.js';

/** berth.yaml is a short hand-written file; anything this big is a mistake or an attack. */
export const MAX_SPEC_FILE_CHARS = 256 * 1024;

export type FieldPath = readonly (string | number)[];

export interface SpecProblem {
  /** Where the problem is: the file label, or "call options" for overrides. */
  readonly file: string;
  /** 1-based; undefined for overrides (no source text). */
  readonly line: number | undefined;
  readonly col: number | undefined;
  /** Rendered field path, e.g. `resources.memoryMb`, `build[1]`, `env.FOO`. */
  readonly field: string;
  readonly message: string;
}

export interface ParsedSpecFile {
  readonly label: string;
  readonly spec: SpecLayer;
  /**
   * Source position of a field (its value, or its key with `key`), for later cross-field errors.
   * Falls back to the nearest existing ancestor unless `exact` is set.
   */
  positionOf(path: FieldPath, opts?: { key?: boolean; exact?: boolean }): { line: number; col: number } | undefined;
}

const SPEC_REMEDY = 'Fix the listed field(s); `berth init --force` writes a commented example and `berth spec` shows the result.';

/** Parse and validate berth.yaml text. Throws BerthError SPEC_YAML (syntax) or SPEC_INVALID (schema). */
export function parseSpecFile(text: string, fileLabel: string): ParsedSpecFile {
  if (text.length > MAX_SPEC_FILE_CHARS) {
    throw new BerthError(
      'SPEC_INVALID',
      `${fileLabel}: file is ${text.length} characters, more than the ${MAX_SPEC_FILE_CHARS} berth accepts. ${SPEC_REMEDY}`,
      { details: { file: fileLabel } },
    );
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  // Warnings (unresolved tags, stringified collection keys ...) mean the file does not say what its
  // author thinks it says, so they are rejected like syntax errors.
  const yamlProblems = [...doc.errors, ...doc.warnings];
  if (yamlProblems.length > 0) {
    const lines = yamlProblems.map((e) => {
      const pos = e.linePos?.[0];
      const where = pos ? `${fileLabel}:${pos.line}:${pos.col}` : fileLabel;
      return `${where}: invalid YAML: ${e.message.split(/ at line \d+, column \d+/)[0]!.trim()}`;
    });
    const first = yamlProblems[0]!.linePos?.[0];
    throw new BerthError('SPEC_YAML', `${lines.join('\n')}\n${SPEC_REMEDY}`, {
      cause: yamlProblems[0],
      details: { file: fileLabel, line: first?.line, col: first?.col },
    });
  }

  const posAt = (offset: number | undefined) => (offset === undefined ? undefined : lineCounter.linePos(offset));
  const positionOf = (path: FieldPath, opts: { key?: boolean; exact?: boolean } = {}) => {
    const found = locate(doc, path);
    if (opts.exact && found.depth < path.length) return undefined;
    const node = opts.key ? (found.key ?? found.value) : (found.value ?? found.key);
    return posAt(node?.range?.[0]);
  };

  preserveEnvSourceText(doc);
  // An empty file (or one with only comments) is an empty spec, not an error.
  const data: unknown = doc.contents === null ? {} : doc.toJS({ maxAliasCount: 100 });
  const result = berthYamlSchema.safeParse(data, { reportInput: true });
  if (!result.success) {
    const problems = flattenIssues(result.error.issues).map((p): SpecProblem => {
      const pos = positionOf(p.path, { key: p.atKey });
      return { file: fileLabel, line: pos?.line, col: pos?.col, field: renderPath(p.path), message: p.message };
    });
    throw specInvalid(problems, fileLabel);
  }
  return { label: fileLabel, spec: result.data, positionOf };
}

/** Parse and validate berth.yaml text, returning only the normalized layer. */
export function specFromYaml(text: string, fileLabel = 'berth.yaml'): SpecLayer {
  return parseSpecFile(text, fileLabel).spec;
}

/** Validate an already-parsed berth.yaml-shaped object (call-level overrides). Throws SPEC_INVALID. */
export function parseSpecInput(input: unknown, label = 'call options'): SpecLayer {
  const result = berthYamlSchema.safeParse(input ?? {}, { reportInput: true });
  if (result.success) return result.data;
  const problems = flattenIssues(result.error.issues).map((p): SpecProblem => ({
    file: label,
    line: undefined,
    col: undefined,
    field: renderPath(p.path),
    message: p.message,
  }));
  throw specInvalid(problems, label);
}

/** Build the SPEC_INVALID error: one problem per line, sorted by position, then the remedy. */
export function specInvalid(problems: readonly SpecProblem[], fileLabel: string): BerthError {
  const sorted = [...problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
  const lines = sorted.map((p) => `${formatWhere(p)}: ${p.field ? `${p.field}: ` : ''}${p.message}`);
  const head = sorted.length > 1 ? `${lines.join('\n')}\n(${sorted.length} problems in ${fileLabel})` : lines.join('\n');
  return new BerthError('SPEC_INVALID', `${head}\n${SPEC_REMEDY}`, { details: { file: fileLabel, problems: sorted } });
}

function formatWhere(p: SpecProblem): string {
  return p.line === undefined ? p.file : `${p.file}:${p.line}:${p.col ?? 1}`;
}

// ---------------------------------------------------------------------------------------------
// zod issues → readable problems
// ---------------------------------------------------------------------------------------------

interface FlatIssue {
  path: (string | number)[];
  message: string;
  /** Point at the mapping key rather than its value (unknown keys, bad env names). */
  atKey: boolean;
}

type Issue = z.core.$ZodIssue;

function flattenIssues(issues: readonly Issue[], prefix: (string | number)[] = []): FlatIssue[] {
  const out: FlatIssue[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path.map((k) => (typeof k === 'symbol' ? String(k) : k))];
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = KNOWN_KEYS[normalizePath(path)] ?? [];
        for (const key of issue.keys) {
          const guess = suggest(key, known);
          const hint = guess ? `did you mean "${guess}"?` : known.length ? `valid fields: ${known.join(', ')}` : '';
          out.push({ path: [...path, key], message: `unknown field${hint ? `; ${hint}` : ''}`, atKey: true });
        }
        break;
      }
      case 'invalid_union': {
        // A union fails in every branch. If exactly one branch got past the type check (e.g. the
        // list branch of "command or list", failing on one element), its issues are the precise
        // ones; otherwise the union's own message ("expected X or Y, got Z") is clearer.
        const deep = issue.errors.filter((branch) => !branch.every((i) => i.code === 'invalid_type' && i.path.length === 0));
        if (deep.length === 1) out.push(...flattenIssues(deep[0]!, path));
        else out.push({ path, message: withInput(issue.message, issue.input, true), atKey: false });
        break;
      }
      case 'invalid_key': {
        const inner = issue.issues[0];
        out.push({ path, message: withInput(inner?.message ?? issue.message, issue.input, true), atKey: true });
        break;
      }
      default:
        out.push({ path, message: withInput(issue.message, issue.input, 'input' in issue), atKey: false });
    }
  }
  return out;
}

function withInput(message: string, input: unknown, known: boolean): string {
  if (!known) return message;
  return `${message}, ${input === undefined ? 'but it is missing' : `got ${describeValue(input)}`}`;
}

function describeValue(v: unknown): string {
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return v instanceof Uint8Array ? 'binary data' : 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  return String(v);
}

/** `['resources', 'memoryMb']` → `resources.memoryMb`; `['build', 1]` → `build[1]`; odd keys quoted. */
export function renderPath(path: FieldPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

function normalizePath(path: FieldPath): string {
  return path
    .map((s) => (typeof s === 'number' ? '[]' : s))
    .join('.')
    .replace(/\.\[\]/g, '[]');
}

/** The closest known key within a small edit distance (case-insensitive), for typo hints. */
export function suggest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDist) {
      best = k;
      bestDist = d;
    }
  }
  const limit = Math.max(1, Math.floor((best?.length ?? 0) / 3));
  return best !== undefined && bestDist <= limit ? best : undefined;
}

function editDistance(a: string, b: string): number {
  // Damerau (optimal string alignment) distance, so a swapped pair like "imgae" counts as one edit.
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

// ---------------------------------------------------------------------------------------------
// YAML helpers
// ---------------------------------------------------------------------------------------------

/** Walk the document along a field path; returns the deepest value node found and its key node. */
function locate(doc: Document, path: FieldPath): { value: Node | undefined; key: Node | undefined; depth: number } {
  let value: unknown = doc.contents;
  let key: Node | undefined;
  let depth = 0;
  for (const seg of path) {
    if (isAlias(value)) value = value.resolve(doc);
    if (isMap(value)) {
      const pair = value.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      key = pair.key as Node;
      value = pair.value;
      // `field:` with nothing after it has a null value node without a useful range: use the key.
      if (value === null || (isScalar(value) && value.value === null && value.range?.[0] === value.range?.[1])) {
        return { value: undefined, key, depth: depth + 1 };
      }
    } else if (isSeq(value) && typeof seg === 'number' && seg < value.items.length) {
      key = undefined;
      value = value.items[seg];
    } else break;
    depth++;
  }
  return { value: isScalar(value) || isMap(value) || isSeq(value) ? (value as Node) : undefined, key, depth };
}

/**
 * Environment values are strings, but YAML reads `VERSION: 1.10` as the number 1.1 and
 * `MODE: 0x10` as 16. Keep what the author typed for non-string plain scalars under `env`.
 */
function preserveEnvSourceText(doc: Document): void {
  if (!isMap(doc.contents)) return;
  const envPair = doc.contents.items.find((p) => isScalar(p.key) && p.key.value === 'env');
  if (!envPair || !isMap(envPair.value)) return;
  for (const pair of envPair.value.items) {
    // Same for names: `TRUE: x` would otherwise become "true" and `NULL: x` an empty name.
    const k = pair.key;
    if (isScalar(k) && typeof k.value !== 'string' && typeof k.source === 'string') k.value = k.source;
    const v = pair.value;
    if (isScalar(v) && (typeof v.value === 'number' || typeof v.value === 'boolean') && typeof v.source === 'string') {
      v.value = v.source;
    }
  }
}

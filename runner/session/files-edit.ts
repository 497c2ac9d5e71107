/**
 * The text side of WorkspaceFiles.edit: find the unique match, name ambiguous matches with stable
 * IDs, and explain a miss. Pure functions over strings so they are cheap to reason about and test.
 *
 * Match IDs are derived from position, not order: `L12` is the first match starting on line 12,
 * `L12.2` the second on that line. An agent that re-reads the file and retries with an ID gets the
 * same match as long as the lines above it did not change, and a stale ID fails instead of
 * silently editing a different occurrence.
 */
import { BerthError } from '../../src/errors.js';
import { quote } from './files-resolve.js';
import { tooLarge, utf8Strict } from './files-util.js';

export interface EditMatch {
  /** Stable ID to pass back as `matchId`. */
  readonly id: string;
  /** 1-based line and column (in UTF-16 code units) where the match starts. */
  readonly line: number;
  readonly column: number;
  /** A few numbered lines around the match, matched lines marked with '>'. */
  readonly context: string;
}

export interface EditPlan {
  readonly text: string;
  readonly line: number;
  readonly matchId: string;
}

/** Beyond this many occurrences we stop collecting: nobody picks match 10 001 by ID. */
const MAX_MATCHES = 10_000;
/** How many matches the error message (and `details.matches`) spell out. */
const LISTED_IN_MESSAGE = 20;
const LISTED_IN_DETAILS = 100;
const CONTEXT_LINE_CHARS = 160;
/** Hints scan at most this much text; beyond it a miss just says "not found". */
const HINT_MAX_CHARS = 4 * 1024 * 1024;
const HINT_MAX_LINES = 50_000;

interface RawMatch {
  index: number;
  line: number;
  column: number;
  id: string;
}

function findAll(text: string, search: string): RawMatch[] {
  const out: RawMatch[] = [];
  let line = 1;
  let lineStart = 0;
  let scanned = 0;
  let sameLine = 0;
  // Overlapping occurrences count: "aa" occurs twice in "aaa", and either is a valid edit site.
  for (let i = text.indexOf(search); i !== -1 && out.length < MAX_MATCHES; i = text.indexOf(search, i + 1)) {
    const prevLine = line;
    for (let nl = text.indexOf('\n', scanned); nl !== -1 && nl < i; nl = text.indexOf('\n', nl + 1)) {
      line++;
      lineStart = nl + 1;
    }
    scanned = i;
    sameLine = line === prevLine && out.length > 0 ? sameLine + 1 : 1;
    out.push({ index: i, line, column: i - lineStart + 1, id: sameLine === 1 ? `L${line}` : `L${line}.${sameLine}` });
  }
  return out;
}

/** Dominant line ending: CRLF when it outnumbers lone LF. */
function isCrlf(text: string): boolean {
  let crlf = 0;
  let lf = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) {
    if (i > 0 && text.charCodeAt(i - 1) === 13) crlf++;
    else lf++;
  }
  return crlf > lf;
}

const toCrlf = (s: string): string => s.replace(/\r?\n/g, '\r\n');
const toLf = (s: string): string => s.replace(/\r\n/g, '\n');
const hasLoneLf = (s: string): boolean => /(^|[^\r])\n/.test(s);

function splitLines(text: string): string[] {
  // A final newline ends the last line; it does not start an empty one.
  return (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

function clip(line: string): string {
  return line.length > CONTEXT_LINE_CHARS ? `${line.slice(0, CONTEXT_LINE_CHARS)}…` : line;
}

function contextFor(lines: readonly string[], first: number, last: number): string {
  const from = Math.max(1, first - 1);
  const to = Math.min(lines.length, last + 1);
  let numbers: number[] = [];
  for (let n = from; n <= to; n++) numbers.push(n);
  // A long multi-line match shows its head and tail.
  if (numbers.length > 7) numbers = [...numbers.slice(0, 4), -1, ...numbers.slice(-2)];
  const width = String(to).length;
  return numbers
    .map((n) => (n === -1 ? `  ${' '.repeat(width)} | …` : `${n >= first && n <= last ? '>' : ' '} ${String(n).padStart(width)} | ${clip(lines[n - 1] ?? '')}`))
    .join('\n');
}

function describe(text: string, raw: readonly RawMatch[], search: string): EditMatch[] {
  const lines = splitLines(text);
  const searchLineCount = search.split('\n').length - (search.endsWith('\n') ? 1 : 0);
  return raw.slice(0, LISTED_IN_DETAILS).map((m) => ({
    id: m.id,
    line: m.line,
    column: m.column,
    context: contextFor(lines, m.line, m.line + Math.max(0, searchLineCount - 1)),
  }));
}

function lineOfIndex(text: string, index: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function bigrams(s: string): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < s.length - 1; i++) {
    const g = s.slice(i, i + 2);
    m.set(g, (m.get(g) ?? 0) + 1);
  }
  return m;
}

/** Sørensen–Dice coefficient over character bigrams: cheap, order-tolerant similarity in [0, 1]. */
function dice(a: string, aGrams: Map<string, number>, b: string): number {
  if (a.length < 2 || b.length < 2) return a === b ? 1 : 0;
  const left = new Map(aGrams);
  let common = 0;
  for (let i = 0; i < b.length - 1; i++) {
    const g = b.slice(i, i + 2);
    const n = left.get(g);
    if (n) {
      common++;
      left.set(g, n - 1);
    }
  }
  return (2 * common) / (a.length - 1 + (b.length - 1));
}

interface Hint {
  kind: 'whitespace' | 'prefix' | 'closest-line' | 'none';
  line?: number;
  text: string;
}

/** Explain a miss: whitespace-only difference, then longest matching prefix, then closest line. */
export function missHint(text: string, search: string): Hint {
  if (text.length === 0) return { kind: 'none', text: 'The file is empty.' };
  if (text.length > HINT_MAX_CHARS) return { kind: 'none', text: 'The file is too large for a closer diagnosis.' };
  const lines = splitLines(text);

  const tokens = search.trim().split(/\s+/).filter(Boolean);
  if (tokens.length > 0 && tokens.length <= 2000) {
    const m = new RegExp(tokens.map(escapeRegExp).join('\\s+')).exec(text);
    if (m) {
      const line = lineOfIndex(text, m.index);
      const span = m[0].split('\n').length;
      return {
        kind: 'whitespace',
        line,
        text: `A match that differs only in whitespace (indentation, tabs vs spaces, line breaks or trailing spaces) starts at line ${line}:\n${contextFor(lines, line, line + span - 1)}\nCopy those lines exactly into search.`,
      };
    }
  }

  const want = splitLines(search);
  if (want.length >= 2 && lines.length <= HINT_MAX_LINES) {
    let best = { at: -1, run: 0 };
    const first = want[0] as string;
    for (let i = 0; i < lines.length; i++) {
      if (!(lines[i] as string).endsWith(first) || first.trim() === '') continue;
      let run = 1;
      while (run < want.length && i + run < lines.length && lines[i + run] === want[run]) run++;
      if (run > best.run) best = { at: i, run };
    }
    if (best.at !== -1 && best.run < want.length) {
      const line = best.at + 1;
      const fileLine = lines[best.at + best.run];
      return {
        kind: 'prefix',
        line,
        text: `The first ${best.run} line(s) of search match at line ${line}, but search line ${best.run + 1} ${quote(clip(want[best.run] ?? ''))} differs from file line ${line + best.run} ${fileLine === undefined ? '(end of file)' : quote(clip(fileLine))}.`,
      };
    }
  }

  const probe = want.map((l) => l.trim()).find((l) => l !== '');
  if (probe !== undefined && lines.length <= HINT_MAX_LINES) {
    const p = probe.slice(0, 300);
    const grams = bigrams(p);
    let best = { line: 0, score: 0 };
    lines.forEach((raw, i) => {
      const l = raw.trim().slice(0, 300);
      if (l === '') return;
      // Dice can't exceed 2·min/(sum); skip lines whose length alone rules them out.
      if ((2 * Math.min(l.length, p.length)) / (l.length + p.length) <= best.score) return;
      const score = dice(p, grams, l);
      if (score > best.score) best = { line: i + 1, score };
    });
    if (best.score >= 0.5) {
      return {
        kind: 'closest-line',
        line: best.line,
        text: `The closest line to ${quote(clip(probe))} is line ${best.line} (${Math.round(best.score * 100)}% similar):\n${contextFor(lines, best.line, best.line)}`,
      };
    }
  }
  return { kind: 'none', text: 'No similar text was found.' };
}

/**
 * Plan a search/replace edit. Line endings: an LF-only search also matches CRLF text (and vice
 * versa), and the replacement adopts the file's dominant line ending, so editing a Windows file
 * from a model that writes '\n' keeps it consistently CRLF.
 */
export function planEdit(text: string, search: string, replace: string, matchId: string | undefined, display: string): EditPlan {
  let s = search;
  let r = replace;
  const crlf = isCrlf(text);
  let raw = findAll(text, s);
  if (raw.length === 0 && crlf && hasLoneLf(s)) {
    s = toCrlf(s);
    raw = findAll(text, s);
  } else if (raw.length === 0 && !crlf && s.includes('\r\n')) {
    s = toLf(s);
    r = toLf(r);
    raw = findAll(text, s);
  }
  if (crlf && hasLoneLf(r)) r = toCrlf(r);

  if (raw.length === 0) {
    const hint = missHint(text, search);
    throw new BerthError('EDIT_NO_MATCH', `edit ${quote(display)}: the search text was not found. ${hint.text}\nRe-read the file and copy the text exactly.`, {
      details: { path: display, hint: { kind: hint.kind, line: hint.line } },
    });
  }

  const listing = (): { message: string; matches: EditMatch[] } => {
    const matches = describe(text, raw, s);
    const shown = matches.slice(0, LISTED_IN_MESSAGE).map((m) => `${m.id} (line ${m.line}, column ${m.column}):\n${m.context}`);
    const more = raw.length > LISTED_IN_MESSAGE ? `\n… and ${raw.length - LISTED_IN_MESSAGE}${raw.length >= MAX_MATCHES ? '+' : ''} more` : '';
    return { message: `${shown.join('\n')}${more}`, matches };
  };

  let chosen: RawMatch | undefined;
  if (matchId !== undefined) {
    const want = matchId.trim().toUpperCase();
    chosen = raw.find((m) => m.id === want);
    if (!chosen) {
      const { message, matches } = listing();
      const code = raw.length > 1 ? 'EDIT_AMBIGUOUS' : 'EDIT_NO_MATCH';
      throw new BerthError(
        code,
        `edit ${quote(display)}: matchId ${quote(matchId)} does not name a current match (the file may have changed). Current match${raw.length > 1 ? 'es' : ''}:\n${message}\nRetry with one of these IDs.`,
        { details: { path: display, matchId, total: raw.length, matches } },
      );
    }
  } else if (raw.length > 1) {
    const { message, matches } = listing();
    throw new BerthError(
      'EDIT_AMBIGUOUS',
      `edit ${quote(display)}: the search text occurs ${raw.length}${raw.length >= MAX_MATCHES ? '+' : ''} times. Pass matchId to choose one, or extend search until it is unique:\n${message}`,
      { details: { path: display, total: raw.length, matches } },
    );
  } else {
    chosen = raw[0];
  }
  const m = chosen as RawMatch;
  return { text: text.slice(0, m.index) + r + text.slice(m.index + s.length), line: m.line, matchId: m.id };
}

/**
 * An edit of a file's bytes, for the local and the remote file tools alike: binary and non-UTF-8
 * content is refused (editing it as text would corrupt it), and so is a result over `maxBytes`.
 */
export function editBytes(
  buf: Buffer,
  o: { search: string; replace: string; matchId?: string | undefined },
  display: string,
  maxBytes: number,
): EditPlan & { out: Buffer } {
  if (buf.indexOf(0) !== -1)
    throw new BerthError('BAD_INPUT', `edit ${quote(display)}: it is a binary file (contains NUL bytes). Replace it with write instead.`);
  let text: string;
  try {
    text = utf8Strict.decode(buf);
  } catch (err) {
    throw new BerthError(
      'BAD_INPUT',
      `edit ${quote(display)}: it is not valid UTF-8, and editing it as text would corrupt it. Replace it with write instead.`,
      {
        cause: err,
      },
    );
  }
  const plan = planEdit(text, o.search, o.replace, o.matchId, display);
  const out = Buffer.from(plan.text, 'utf8');
  if (out.length > maxBytes) throw tooLarge(display, out.length, maxBytes, 'The edited file would exceed the limit; make a smaller change.');
  return { ...plan, out };
}

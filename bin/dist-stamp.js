// Is dist/ (the compiled runner, `npm run build`) a build of the sources as they are now?
// bin/berth.js asks at every start and runs the TypeScript sources through tsx when it is not, so
// an edited, pulled or checked-out tree never runs stale code. Plain JavaScript: it runs before
// anything can compile TypeScript.
//
// The build writes dist/.stamp.json: one line per source file and directory (path, size, mtime)
// taken just BEFORE it compiled (a file saved during the build then no longer matches), plus a hash
// of the sources' contents. At start we list the same tree again (a few hundred stat calls, no
// reads): the same lines mean fresh. When only mtimes differ (a `git checkout` that rewrote equal
// files, an npm tarball that resets every mtime) the contents are hashed and compared instead.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DIST = join(ROOT, 'dist');
export const STAMP = join(DIST, '.stamp.json');

/** What the build compiles (tsconfig.build.json's include and what it imports) and its settings. */
const SOURCE_DIRS = ['src', 'docker', 'pipelines', 'runner', 'bench'];
const SOURCE_FILES = ['tsconfig.json', 'tsconfig.build.json'];
const SKIP_DIRS = new Set(['results', 'node_modules']);

function walk(rel, out) {
  const abs = join(ROOT, rel);
  const st = statSync(abs, { throwIfNoEntry: false });
  if (!st) return;
  out.push({ rel, line: `${rel}\t${st.isDirectory() ? 'dir' : st.size}\t${st.mtimeMs}`, size: st.isDirectory() ? 'dir' : st.size, dir: st.isDirectory() });
  if (!st.isDirectory()) return;
  for (const e of readdirSync(abs, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (e.isDirectory() ? SKIP_DIRS.has(e.name) : !/\.(ts|json)$/.test(e.name)) continue;
    walk(`${rel}/${e.name}`, out);
  }
}

/** The source tree as the stamp records it. */
export function listSources() {
  const out = [];
  for (const f of [...SOURCE_DIRS, ...SOURCE_FILES]) walk(f, out);
  return out;
}

/** sha256 over every source file's path and contents. */
export function hashSources(entries) {
  const h = createHash('sha256');
  for (const e of entries)
    if (!e.dir)
      h.update(`${e.rel}\0`)
        .update(readFileSync(join(ROOT, e.rel)))
        .update('\0');
  return h.digest('hex');
}

/** The stamp for `entries` (listed before compiling). */
export function makeStamp(entries) {
  return { lines: entries.map((e) => e.line).join('\n'), shape: shapeOf(entries), hash: hashSources(entries) };
}

function shapeOf(entries) {
  return entries.map((e) => `${e.rel}\t${e.size}`).join('\n');
}

/** True when dist/ was built from exactly the sources on disk now; any doubt says false. */
export function distIsFresh() {
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(STAMP, 'utf8'));
  } catch {
    return false; // never built (a build swaps a complete dist/, stamp included, in by rename)
  }
  try {
    const now = listSources();
    if (now.map((e) => e.line).join('\n') === stamp.lines) return true;
    return shapeOf(now) === stamp.shape && hashSources(now) === stamp.hash;
  } catch {
    return false; // a file vanished while we looked: an edit in progress
  }
}

// Enforces the owners and the one-way floors (see README "Layout" and docs/architecture.md):
//   docker/     THE Docker owner: the only importer of dockerode. Imports src/ (errors, log, labels).
//   src/git/    THE git owner: the only importer of simple-git and the only spawner of git.
//   src/        the shared library: imports nothing from docker/, runner/ or pipelines/, directly
//               or through another src/ file (so its barrel src/lib.ts stays standalone). The one
//               exception is src/index.ts, the Dagger module entry, a thin adapter on top that
//               nothing in src/ may import.
//   pipelines/  imports src/ and docker/ (never runner/).
//   runner/     imports anything below it.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const problems = [];
const LAYERS = ['src', 'docker', 'pipelines', 'runner', 'bench', 'scripts'];

function* walk(dir) {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) yield* walk(p);
    else if (/\.(ts|mjs)$/.test(p)) yield p;
  }
}

// Modules with a barrel (index.ts): other modules import them only through it.
const MODULES = ['src/git', 'src/workspace', 'src/project', 'src/fs', 'docker', 'pipelines', 'runner/session', 'runner/storage', 'runner/mcp', 'runner/cli'];
const moduleOf = (p) => MODULES.find((m) => p === m || p.startsWith(`${m}/`));

const SPAWNS_GIT = /\b(?:spawn|spawnSync|execFile|execFileSync|exec|execSync)\(\s*['"`]git\b/;

for (const layer of LAYERS) {
  for (const file of walk(join(root, layer))) {
    const rel = relative(root, file);
    const text = readFileSync(file, 'utf8');
    const inGit = rel.startsWith('src/git/');
    if (!inGit && SPAWNS_GIT.test(text) && !rel.startsWith('bench/') && rel !== 'scripts/check-imports.mjs') {
      problems.push(`${rel}: spawns git (only src/git/ runs git)`);
    }
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
      const spec = m[1];
      const target = spec.startsWith('.') ? relative(root, resolve(dirname(file), spec)) : spec;
      if (spec === 'dockerode' && !rel.startsWith('docker/')) {
        problems.push(`${rel}: imports dockerode (only docker/ talks to Docker)`);
      }
      const from = moduleOf(rel);
      const to = moduleOf(target.replace(/\.js$/, '.ts'));
      if (spec.startsWith('.') && to && from !== to && target !== `${to}/index.js` && rel !== 'src/index.ts' && !rel.startsWith('bench/')) {
        problems.push(`${rel}: imports ${spec} past the barrel of ${to}/ (import from ${to}/index.js)`);
      }
      if (spec === 'simple-git' && !inGit) problems.push(`${rel}: imports simple-git (only src/git/ runs git)`);
      if (layer === 'src' && rel !== 'src/index.ts' && /^(runner|pipelines|docker)\//.test(target)) {
        problems.push(`${rel}: imports ${spec} (src/ must not depend on docker/, runner/ or pipelines/)`);
      }
      if (layer === 'src' && /^src\/index(\.[jt]s)?$/.test(target)) {
        problems.push(`${rel}: imports ${spec} (src/index.ts is the Dagger module entry on top of pipelines/; import src/lib.ts instead)`);
      }
      if (layer === 'docker' && /^(runner|pipelines)\//.test(target)) {
        problems.push(`${rel}: imports ${spec} (docker/ stands below runner/ and pipelines/)`);
      }
      if (layer === 'pipelines' && target.startsWith('runner/')) {
        problems.push(`${rel}: imports ${spec} (pipelines/ may use src/ and docker/, never runner/)`);
      }
    }
  }
}

// Tests reach Docker through test/helpers/docker.ts (which re-exports docker/), never dockerode.
for (const file of walk(join(root, 'test'))) {
  const rel = relative(root, file);
  if (rel.startsWith('test/fixtures/')) continue;
  if (/(?:from|import)\s*\(?\s*['"]dockerode['"]/.test(readFileSync(file, 'utf8'))) {
    problems.push(`${rel}: imports dockerode (tests use test/helpers/docker.ts)`);
  }
}

// The barrel must exist and reach nothing above src/ through any chain of src/ imports.
const BARREL = 'src/lib.ts';
const seen = new Set();
const stack = [BARREL];
while (stack.length) {
  const rel = stack.pop();
  if (seen.has(rel)) continue;
  seen.add(rel);
  let text;
  try {
    text = readFileSync(join(root, rel), 'utf8');
  } catch {
    problems.push(`${rel}: missing (reached from ${BARREL})`);
    continue;
  }
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.[^'"]+)['"]/g)) {
    const target = relative(root, resolve(dirname(join(root, rel)), m[1])).replace(/\.js$/, '.ts');
    if (!target.startsWith('src/') || target === 'src/index.ts') {
      problems.push(`${BARREL} reaches ${target} through ${rel} (the shared library's barrel must stay inside src/, below src/index.ts)`);
    } else stack.push(target);
  }
}

// One error class: `extends Error` appears once, in src/errors.ts.
for (const layer of [...LAYERS, 'test']) {
  for (const file of walk(join(root, layer))) {
    const rel = relative(root, file);
    if (rel !== 'src/errors.ts' && rel !== 'scripts/check-imports.mjs' && /\bextends Error\b/.test(readFileSync(file, 'utf8')))
      problems.push(`${rel}: declares an Error subclass (use BerthError from src/errors.ts)`);
  }
}

if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.error('imports: layering ok');

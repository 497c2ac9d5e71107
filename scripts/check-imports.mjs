// Enforces the layering (see README "Layout"):
//   src/        imports nothing from runner/ or pipelines/, and never dockerode. The one exception is
//               src/index.ts, the Dagger module entry, which sits on top and delegates to pipelines/.
//   pipelines/  imports src/ and the Docker boundary runner/docker/ only (never sessions, MCP, CLI).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const problems = [];

function* walk(dir) {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) yield* walk(p);
    else if (p.endsWith('.ts')) yield p;
  }
}

for (const layer of ['src', 'pipelines']) {
  for (const file of walk(join(root, layer))) {
    const rel = relative(root, file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
      const spec = m[1];
      const target = spec.startsWith('.') ? relative(root, resolve(dirname(file), spec)) : spec;
      if (layer === 'src' && rel !== 'src/index.ts') {
        if (target.startsWith('runner/') || target.startsWith('pipelines/') || spec === 'dockerode') {
          problems.push(`${rel}: imports ${spec} (src/ must not depend on runner/, pipelines/ or dockerode)`);
        }
      }
      if (layer === 'pipelines' && target.startsWith('runner/') && !target.startsWith('runner/docker/') && target !== 'runner/errors.js' && target !== 'runner/log.js') {
        problems.push(`${rel}: imports ${spec} (pipelines/ may only use runner/docker/, runner/errors and runner/log)`);
      }
    }
  }
}

if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.error('imports: layering ok');

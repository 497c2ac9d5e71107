#!/usr/bin/env node
// `npm run build` (also run by `npm ci` / `npm install` through `prepare`): compile the runner to
// dist/ with tsconfig.build.json and stamp it (bin/dist-stamp.js), so bin/berth.js runs compiled
// JavaScript instead of transforming TypeScript through tsx at every start.
//
//   node scripts/build.mjs              build (always)
//   node scripts/build.mjs --if-stale   build only when dist/ does not match the sources (the bench)
//
// tsc writes a new tree next to dist/ which then replaces it by two renames: a running `berth mcp`
// keeps finding every file it imports lazily (the new build's), never a half-deleted dist/. The sources are listed
// before tsc reads them, so a file saved during the build makes the stamp wrong and the next start
// sees a stale dist/ rather than trusting it.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DIST, ROOT, distIsFresh, listSources, makeStamp } from '../bin/dist-stamp.js';

if (process.argv.includes('--if-stale') && distIsFresh()) process.exit(0);

/** dist.new-PID / dist.old-PID trees left by a build that was killed (its PID is gone). */
function removeLeftovers() {
  for (const name of readdirSync(ROOT)) {
    const m = /^dist\.(?:new|old)-(\d+)$/.exec(name);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      rmSync(join(ROOT, name), { recursive: true, force: true });
    }
  }
}

const t0 = Date.now();
removeLeftovers();
const next = `${DIST}.new-${process.pid}`;
const old = `${DIST}.old-${process.pid}`;
rmSync(next, { recursive: true, force: true });
const stamp = makeStamp(listSources());
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', next], { cwd: ROOT, stdio: 'inherit' });
if (r.status !== 0) {
  rmSync(next, { recursive: true, force: true });
  process.stderr.write(`build: tsc failed (exit ${r.status ?? r.signal}); bin/berth.js runs the sources through tsx until a build succeeds\n`);
  process.exit(1);
}
writeFileSync(join(next, '.stamp.json'), `${JSON.stringify(stamp)}\n`);
try {
  renameSync(DIST, old);
} catch (err) {
  if (err.code !== 'ENOENT') throw err;
}
renameSync(next, DIST);
rmSync(old, { recursive: true, force: true });
process.stderr.write(`build: dist/ compiled in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);

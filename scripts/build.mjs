#!/usr/bin/env node
// `npm run build` (also run by `npm ci` / `npm install` through `prepare`): compile the runner to
// dist/ with tsconfig.build.json and stamp it (bin/dist-stamp.js), so bin/berth.js runs compiled
// JavaScript instead of transforming TypeScript through tsx at every start.
//
//   node scripts/build.mjs              build (always)
//   node scripts/build.mjs --if-stale   build only when dist/ does not match the sources (the bench)
//
// Order matters: the stamp goes first (a CLI starting mid-build then falls back to tsx), the
// sources are listed before tsc reads them (a file saved during the build makes the stamp wrong,
// so the next start sees a stale dist/ rather than trusting it), and the stamp is written last.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { rmSync, writeFileSync } from 'node:fs';
import { DIST, ROOT, STAMP, distIsFresh, listSources, makeStamp } from '../bin/dist-stamp.js';

if (process.argv.includes('--if-stale') && distIsFresh()) process.exit(0);

const t0 = Date.now();
rmSync(STAMP, { force: true });
rmSync(DIST, { recursive: true, force: true });
const stamp = makeStamp(listSources());
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
if (r.status !== 0) {
  process.stderr.write(`build: tsc failed (exit ${r.status ?? r.signal}); bin/berth.js keeps running the sources through tsx\n`);
  process.exit(1);
}
writeFileSync(STAMP, `${JSON.stringify(stamp)}\n`);
process.stderr.write(`build: dist/ compiled in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);

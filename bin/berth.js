#!/bin/sh
":" //; exec node --max-semi-space-size=2 "$0" "$@"
// ^ Line 2 is for sh, a no-op string for JavaScript: `berth` (npm's .bin link runs this file with
// /bin/sh) starts node with V8's young generation capped at 2 MiB per semi-space. The default
// (16 MiB) fills up and stays resident once a runner has opened a few sessions: ~30 MiB of an idle
// `berth mcp` (issue 14: 50 idle sessions in <= 120 MB). bench/child.ts reads these flags from this
// line. `node bin/berth.js` skips line 1 and runs the same code without them.
//
// The command runs the compiled runner in dist/ (`npm run build`, which `npm ci` and `npm install`
// run through `prepare`) when that build matches the sources on disk: no TypeScript transform at
// start and ~50 MiB less memory. When dist/ is missing or stale (sources edited, pulled or checked
// out since), it runs the TypeScript sources through tsx instead, silently: the same behaviour,
// only slower to start. bin/dist-stamp.js says which.
import { distIsFresh } from './dist-stamp.js';

if (distIsFresh()) {
  await import('../dist/runner/cli/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../runner/cli/main.ts');
}

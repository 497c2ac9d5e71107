#!/usr/bin/env node
// The `berth` command. It runs the compiled runner in dist/ (`npm run build`, which `npm ci` and
// `npm install` run through `prepare`) when that build matches the sources on disk: no TypeScript
// transform at start and ~50 MiB less memory for a long-lived `berth mcp`. When dist/ is missing or
// stale (sources edited, pulled or checked out since), it runs the TypeScript sources through tsx
// instead, silently: the same behaviour, only slower to start. bin/dist-stamp.js says which.
import { distIsFresh } from './dist-stamp.js';

if (distIsFresh()) {
  await import('../dist/runner/cli/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../runner/cli/main.ts');
}

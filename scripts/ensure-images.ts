/**
 * Build berth's local images if they are missing (used by scripts/setup.sh and CI).
 * With arguments, builds the named images instead (any berth builtin or toolchain image, e.g.
 * `berth-node:24-1 berth-python:3.11-1`), so CI can warm exactly the images its suite uses.
 */
import { ensureImageRef, ensureImages } from '../docker/index.js';

const started = Date.now();
const say = (l: string) => process.stderr.write(`berth: ${l}\n`);
const refs = process.argv.slice(2);
const built: string[] = [];
if (refs.length === 0) built.push(...(await ensureImages({ onProgress: say })));
for (const ref of refs) if (await ensureImageRef(ref, { onProgress: say, reason: 'scripts/ensure-images.ts' })) built.push(ref);
say(`images ready (${built.length ? `built ${built.join(', ')}` : 'all present'}) in ${((Date.now() - started) / 1000).toFixed(1)}s`);

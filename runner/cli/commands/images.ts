/**
 * `berth images`: what berth built or pulled on this engine, and why. `build` makes berth's
 * images (builtin, or the named toolchain images) without a registry.
 */
import type { Command } from 'commander';
import { docker, imageExists } from '../../../docker/index.js';
import { ensureImageRef } from '../../../docker/index.js';
import { readPullRecord } from '../../../docker/index.js';
import { imageStatus, ensureImages } from '../../../docker/index.js';
import { IMAGE_LABEL, listBuiltImages } from '../../../docker/index.js';
import { action, printJson } from '../output.js';

interface Row {
  ref: string;
  present: boolean;
  origin: 'builtin' | 'built' | 'pulled';
  reason: string;
  sizeBytes?: number;
}

async function rows(): Promise<Row[]> {
  const out: Row[] = (await imageStatus()).map((s) => ({ ref: s.ref, present: s.present, origin: 'builtin' as const, reason: `berth's ${s.key} image` }));
  for (const img of await listBuiltImages()) {
    const toolchain = `${img.labels[IMAGE_LABEL.toolchain] ?? '?'} ${img.labels[IMAGE_LABEL.version] ?? ''}`.trim();
    out.push({ ref: img.ref, present: true, origin: 'built', reason: `${toolchain}: ${img.labels[IMAGE_LABEL.reason] ?? ''}`, sizeBytes: img.sizeBytes });
  }
  for (const [ref, rec] of Object.entries(await readPullRecord())) {
    out.push({ ref, present: await imageExists(ref, docker()), origin: 'pulled', reason: `${rec.reason} (${rec.pulledAt})` });
  }
  return out;
}

async function list(opts: { json?: boolean }): Promise<void> {
  const all = await rows();
  if (opts.json) return printJson(all);
  for (const r of all) {
    const size = r.sizeBytes === undefined ? '' : ` ${(r.sizeBytes / 1e6).toFixed(0)}MB`;
    process.stdout.write(`${r.present ? 'ok     ' : 'missing'} ${r.origin.padEnd(7)} ${r.ref}${size}  ${r.reason}\n`);
  }
}

export function register(program: Command): void {
  const images = program
    .command('images')
    .description('the images berth built or pulled, and why')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  berth images\n  berth images status --json\n  sudo berth images build                 # builtin images\n  sudo berth images build berth-node:22-2   # a toolchain image',
    )
    .action(action(async (opts: { json?: boolean }) => list(opts)));
  images
    .command('status')
    .description('same as `berth images`')
    .option('--json', 'print JSON')
    .addHelpText('after', "\nExample:\n  berth images status --json | jq '.[] | select(.present == false)'")
    .action(action(async (opts: { json?: boolean }) => list(opts)));
  images
    .command('build')
    .description('build missing builtin images, or the named berth images (busybox via docker import, Debian via debootstrap; needs root)')
    .argument('[refs...]', 'berth images to build, e.g. berth-node:22-2 berth-python:3.11-2 (default: the builtin ones)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  sudo berth images build                   # builtin images (about 1 s busybox, 90 s Debian)\n  berth images build berth-python:3.11-2    # a toolchain image',
    )
    .action(
      action(async (refs: string[], opts: { json?: boolean }) => {
        const say = (l: string) => process.stderr.write(`${l}\n`);
        const built: string[] = [];
        if (refs.length === 0) built.push(...(await ensureImages({ onProgress: say })));
        for (const ref of refs) if (await ensureImageRef(ref, { onProgress: say, reason: 'berth images build' })) built.push(ref);
        if (opts.json) printJson({ built });
      }),
    );
}

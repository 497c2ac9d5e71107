import type { Command } from 'commander';
import { imageStatus, ensureImages } from '../../../docker/images.js';
import { action, printJson } from '../output.js';

export function register(program: Command): void {
  const images = program
    .command('images')
    .description("berth's locally built images (no registry needed)")
    .addHelpText('after', '\nExamples:\n  berth images status --json\n  sudo berth images build     # build whatever is missing');
  images
    .command('status')
    .description('show whether each builtin image exists')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  berth images status --json | jq \'.[] | select(.present == false)\'')
    .action(
      action(async (opts: { json?: boolean }) => {
        const status = await imageStatus();
        if (opts.json) printJson(status);
        else for (const s of status) process.stdout.write(`${s.present ? 'ok     ' : 'missing'} ${s.ref}\n`);
      }),
    );
  images
    .command('build')
    .description('build missing builtin images (busybox via docker import, Debian via debootstrap; needs root)')
    .addHelpText('after', '\nExample:\n  sudo berth images build   # about 1 s for busybox, about 60 s for the Debian node image')
    .option('--json', 'print JSON')
    .action(
      action(async (opts: { json?: boolean }) => {
        const built = await ensureImages({ onProgress: (l) => process.stderr.write(`${l}\n`) });
        if (opts.json) printJson({ built });
      }),
    );
}

/** `berth pool status|warm`: the warm pool of pre-started containers for this repository's spec. */
import { InvalidArgumentError, type Command } from 'commander';
import { action, printJson } from '../output.js';
import { cliRunner } from './exec.js';
import { table } from './ws.js';

function sizeArg(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 16) throw new InvalidArgumentError(`${JSON.stringify(value)} is not a pool size (0-16)`);
  return n;
}

export function register(program: Command): void {
  const pool = program
    .command('pool')
    .description("warm containers, pre-started with the spec's setup done, that new workspaces take instead of creating one")
    .addHelpText('after', '\nExamples:\n  berth pool warm --size 2\n  berth pool status --json');

  pool
    .command('status')
    .description('target size, ready containers for the current spec, and every unclaimed pool container')
    .option('--repo <dir>', 'the repository (default: the current directory)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  berth pool status --json')
    .action(
      action(async (opts: { repo?: string; json?: boolean }) => {
        const runner = await cliRunner(opts.repo);
        try {
          const st = await runner.poolStatus();
          if (opts.json) printJson(st);
          else {
            process.stdout.write(
              `spec ${st.specHash}: ${st.ready} ready of target ${st.target}${st.unsupported ? ` (not poolable: ${st.unsupported})` : ''}\n`,
            );
            if (st.containers.length) {
              process.stdout.write(
                `${table(
                  ['CONTAINER', 'STATE', 'SPEC'],
                  st.containers.map((c) => [c.name, c.state, c.specHash === st.specHash ? c.specHash : `${c.specHash} (stale)`]),
                )}\n`,
              );
            }
          }
        } finally {
          await runner.close({ stop: false });
        }
      }),
    );

  pool
    .command('warm')
    .description('create warm containers until the target (pool.size in berth.yaml, or --size) are ready; stale or surplus ones are removed')
    .option('--repo <dir>', 'the repository (default: the current directory)')
    .option('--size <n>', 'target size instead of pool.size', sizeArg)
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  berth pool warm --size 2')
    .action(
      action(async (opts: { repo?: string; size?: number; json?: boolean }) => {
        const runner = await cliRunner(opts.repo);
        try {
          const created = await runner.warmPool(opts.size === undefined ? {} : { size: opts.size });
          const st = await runner.poolStatus();
          if (opts.json) printJson({ created, ...st });
          else process.stdout.write(`${created.length ? `created ${created.join(', ')}\n` : ''}${st.ready} ready\n`);
        } finally {
          await runner.close({ stop: false });
        }
      }),
    );
}

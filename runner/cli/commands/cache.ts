/** `berth cache ls | prune [--older-than]`: the package-cache volumes, their sizes, and removal. */
import type { Command } from 'commander';
import { listCaches, pruneCaches, type CacheVolume } from '../../../docker/index.js';
import { durationArg } from '../args.js';
import { action, printJson } from '../output.js';

const size = (b: number) => (b < 0 ? '?' : b >= 1e9 ? `${(b / 1e9).toFixed(1)}GB` : `${(b / 1e6).toFixed(1)}MB`);

function print(rows: readonly CacheVolume[]): void {
  for (const v of rows) {
    process.stdout.write(
      `${v.name}  ${v.toolchain ?? '-'}/${v.cache}  ${size(v.sizeBytes)}  created ${v.createdAt}${v.inUse ? `  in use (${v.inUse})` : ''}\n`,
    );
  }
}

export function register(program: Command): void {
  const cache = program
    .command('cache')
    .description('package caches (npm, pip, go, cargo ...) kept on Docker volumes')
    .addHelpText('after', '\nExamples:\n  berth cache ls\n  berth cache prune --older-than 7d');
  cache
    .command('ls')
    .description('list the cache volumes with their sizes')
    .option('--json', 'print JSON')
    .addHelpText('after', "\nExample:\n  berth cache ls --json | jq 'map(.sizeBytes) | add'")
    .action(
      action(async (opts: { json?: boolean }) => {
        const rows = await listCaches();
        if (opts.json) printJson(rows);
        else if (rows.length === 0) process.stdout.write('No cache volumes.\n');
        else print(rows);
      }),
    );
  cache
    .command('prune')
    .description('remove cache volumes no container uses (they are refilled on the next install)')
    .option('--older-than <duration>', 'only volumes created longer ago than this, e.g. 7d or 12h', durationArg)
    .option('--match <text>', 'only volumes whose name contains this text (e.g. a repository name)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  berth cache prune\n  berth cache prune --match myapp\n  berth cache prune --older-than 7d')
    .action(
      action(async (opts: { olderThan?: number; match?: string; json?: boolean }) => {
        const res = await pruneCaches({
          ...(opts.olderThan === undefined ? {} : { olderThanMs: opts.olderThan }),
          ...(opts.match === undefined ? {} : { match: opts.match }),
        });
        if (opts.json) return printJson(res);
        print(res.removed);
        process.stdout.write(
          `removed ${res.removed.length} cache volume(s), ${size(res.removed.reduce((n, v) => n + Math.max(v.sizeBytes, 0), 0))}; kept ${res.kept.length}\n`,
        );
      }),
    );
}

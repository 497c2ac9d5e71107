/**
 * `berth cache ls | prune [--older-than]`: the package-cache volumes (shared per toolchain) and the
 * ready-deps snapshots (per repository and deps key), their sizes, and removal.
 */
import type { Command } from 'commander';
import { listCacheEntries, pruneCaches, type CacheEntry } from '../../../docker/index.js';
import { durationArg } from '../args.js';
import { action, printJson, safeText } from '../output.js';

const size = (b: number) => (b < 0 ? '?' : b >= 1e9 ? `${(b / 1e9).toFixed(1)}GB` : `${(b / 1e6).toFixed(1)}MB`);

function print(rows: readonly CacheEntry[]): void {
  for (const v of rows) {
    const what = v.kind === 'cache' ? `cache ${v.toolchain ?? '-'}/${v.cache}` : `deps  ${v.toolchain ?? '-'} key ${v.key} (${v.install})`;
    process.stdout.write(`${safeText(v.name)}  ${safeText(what)}  ${size(v.sizeBytes)}  created ${v.createdAt}${v.inUse ? `  in use (${v.inUse})` : ''}\n`);
  }
}

export function register(program: Command): void {
  const cache = program
    .command('cache')
    .description('package caches (npm, pip, go, cargo ...: Docker volumes shared per toolchain) and ready-deps snapshots (images per repository and lockfile)')
    .addHelpText('after', '\nExamples:\n  berth cache ls\n  berth cache prune --older-than 7d');
  cache
    .command('ls')
    .description('list the cache volumes and ready-deps snapshots with their sizes and keys')
    .option('--json', 'print JSON')
    .addHelpText('after', "\nExample:\n  berth cache ls --json | jq 'map(.sizeBytes) | add'")
    .action(
      action(async (opts: { json?: boolean }) => {
        const rows = await listCacheEntries();
        if (opts.json) printJson(rows);
        else if (rows.length === 0) process.stdout.write('No cache volumes or ready-deps snapshots.\n');
        else print(rows);
      }),
    );
  cache
    .command('prune')
    .description('remove cache volumes and ready-deps snapshots no container uses (the next install refills them)')
    .option('--older-than <duration>', 'only entries created longer ago than this, e.g. 7d or 12h', durationArg)
    .option('--match <text>', 'only entries whose name contains this text (e.g. a repository name or a toolchain)')
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
          `removed ${res.removed.length} cache volume(s) and snapshot(s), ${size(res.removed.reduce((n, v) => n + Math.max(v.sizeBytes, 0), 0))}; kept ${res.kept.length}\n`,
        );
      }),
    );
}

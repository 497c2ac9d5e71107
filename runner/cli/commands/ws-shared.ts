/**
 * What the `berth ws` command modules (ws.ts, ws-persist.ts) share: the common options, the
 * repository opener they are handed, the subcommand factory and how commit ids are shown.
 */
import type { Command } from 'commander';
import type { Workspaces } from '../../../src/workspace/index.js';

export interface CommonOpts {
  repo?: string;
  json?: boolean;
}

/** Opens the workspaces of the repository named by `opts.repo` (default: the cwd) for `fn`, then closes them. */
export type WithRepo = <T>(opts: CommonOpts, fn: (ws: Workspaces) => Promise<T>) => Promise<T>;

/** A `berth ws <name>` subcommand with --repo, --json and an example in its help. */
export function wsSubcommand(ws: Command, name: string, description: string, example: string): Command {
  return ws
    .command(name)
    .description(description)
    .option('--repo <path>', 'repository, or any directory inside it (default: the current directory)')
    .option('--json', 'print JSON')
    .addHelpText('after', `\nExample:\n  ${example}`);
}

/** A commit id as the human output shows it. */
export function short(sha: string): string {
  return sha.slice(0, 8);
}

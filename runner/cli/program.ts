/**
 * The `berth` command tree. Thin: each command module parses its arguments, calls the library and
 * prints. Add a command by writing runner/cli/commands/<name>.ts exporting `register(program)` and
 * listing it below. Built by a function (no module state) so tests can walk the tree in-process.
 */
import { Command } from 'commander';
import { register as cache } from './commands/cache.js';
import { register as doctor } from './commands/doctor.js';
import { register as engines } from './commands/engines.js';
import { register as exec } from './commands/exec.js';
import { register as images } from './commands/images.js';
import { register as mcp } from './commands/mcp.js';
import { register as pipeline } from './commands/pipeline.js';
import { register as pool } from './commands/pool.js';
import { register as session, registerWsWithContainers } from './commands/session.js';
import { register as spec } from './commands/spec.js';

export function buildProgram(): Command {
  const program = new Command('berth')
    .description(
      'Isolated, persistent workspaces for coding agents. Each workspace is a git branch + worktree ' +
        'plus a long-lived container; agents work inside, you review the branch and merge it back.',
    )
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .exitOverride((err) => {
      // commander's own exits (help, version, usage errors): usage errors are exit 2.
      process.exit(err.exitCode === 0 ? 0 : err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 2);
    })
    .addHelpText(
      'after',
      `
Examples:
  berth ws create demo            make workspace "demo" from HEAD
  berth exec demo -- npm test     run a command in its container
  berth ws diff demo              review what the agent changed
  berth ws merge demo --squash    bring it into your branch
  berth mcp                       serve MCP on stdio for an agent

Run 'berth <command> --help' for details. Exit codes are listed in the README.`,
    );

  for (const register of [doctor, engines, images, spec, pipeline, registerWsWithContainers, mcp, cache]) register(program);
  for (const register of [exec, session, pool]) register(program);
  return program;
}

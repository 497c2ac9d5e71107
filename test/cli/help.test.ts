// Every berth command teaches: its --help has a description and an example. Walks the real
// command tree in-process (no spawning), so a new command without an example fails here.
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../runner/cli/program.js';

function helpOf(cmd: Command): string {
  let out = '';
  cmd.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  cmd.outputHelp();
  return out;
}

function walk(cmd: Command, path: string[] = []): Array<{ path: string; cmd: Command }> {
  return cmd.commands.flatMap((c) => [{ path: [...path, c.name()].join(' '), cmd: c }, ...walk(c, [...path, c.name()])]);
}

describe('berth --help', () => {
  const program = buildProgram();
  const all = walk(program);

  it('lists the commands people and agents rely on', () => {
    const names = all.map((c) => c.path);
    for (const expected of ['doctor', 'ws create', 'ws delete', 'exec', 'shell', 'init', 'mcp', 'config agent', 'test', 'check', 'pool status', 'gc']) {
      expect(names).toContain(expected);
    }
  });

  it.each(walk(buildProgram()).map((c) => [c.path, c.cmd] as const))('%s has a description and an example', (_path, cmd) => {
    expect(cmd.description().length).toBeGreaterThan(10);
    expect(helpOf(cmd)).toMatch(/Example/);
  });
});

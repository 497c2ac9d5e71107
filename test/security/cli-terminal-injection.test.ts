/**
 * Attack: an agent plants terminal escape sequences (an OSC 52 clipboard write and a clear-screen)
 * in a checkpoint message, a file name and file content, and a command it runs; a person then
 * reviews the workspace with the real CLI. Human output must show the sequences as visible escapes
 * (no raw ESC or BEL byte reaches the terminal); `--json` must keep the exact bytes.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BerthError } from '../../src/errors.js';
import { printWarnings, reportError, safeText } from '../../runner/cli/output.js';
import { describeDocker } from '../helpers/docker.js';
import { BIN, makeFixture, type McpFixture } from '../mcp/helpers.js';

const OSC52 = '\x1b]52;c;ZXZpbA==\x07';
const CLEAR = '\x1b[2J';
const PAYLOAD = `${OSC52}${CLEAR}`;
const RAW_CONTROL = /[\x1b\x07\x9b]/;

describeDocker('CLI human output escapes agent-written terminal sequences', () => {
  let fx: McpFixture;
  let worktree = '';
  const berth = (...args: string[]) => {
    const dash = args.indexOf('--');
    const argv = dash === -1 ? [...args, '--repo', fx.repo] : [...args.slice(0, dash), '--repo', fx.repo, ...args.slice(dash)];
    const r = spawnSync(process.execPath, [BIN, ...argv], { env: fx.env(), encoding: 'utf8', timeout: 120_000 });
    expect(r.status, `berth ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return { stdout: r.stdout, stderr: r.stderr };
  };

  beforeAll(async () => {
    fx = makeFixture('berth-cli-tty-');
    const created = JSON.parse(berth('ws', 'create', 'demo', '--json').stdout) as { workspace: { worktree: string } };
    worktree = created.workspace.worktree;
    writeFileSync(join(worktree, `evil${PAYLOAD}.txt`), `line with ${PAYLOAD} inside\n`);
    berth('ws', 'checkpoint', 'demo', '-m', `innocent ${PAYLOAD} message`);
    // A real command through the real container, so the runner writes it to the command log.
    berth('exec', 'demo', '--', `: '${PAYLOAD}'`);
  }, 180_000);

  afterAll(async () => {
    await fx?.cleanup();
  });

  it('ws log, ws show, ws checkpoints, ws log --commands, ws diff and ws list show no raw ESC/BEL', () => {
    const outputs: Record<string, string> = {
      log: berth('ws', 'log', 'demo').stdout,
      show: berth('ws', 'show', 'demo').stdout,
      checkpoints: berth('ws', 'checkpoints', 'demo').stdout,
      commands: berth('ws', 'log', 'demo', '--commands').stdout,
      diff: berth('ws', 'diff', 'demo').stdout,
      list: berth('ws', 'list').stdout,
    };
    for (const [cmd, out] of Object.entries(outputs)) expect(out, cmd).not.toMatch(RAW_CONTROL);
    // The text is still there, made visible.
    const shown = safeText(PAYLOAD);
    expect(shown).toBe('\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J');
    expect(outputs.log).toContain(`innocent ${shown} message`);
    expect(outputs.show).toContain(`innocent ${shown} message`);
    expect(outputs.checkpoints).toContain(`innocent ${shown} message`);
    expect(outputs.commands).toContain(shown);
    expect(outputs.diff).toContain(`+line with ${shown} inside`);
  });

  it('--json keeps the exact bytes', () => {
    const log = JSON.parse(berth('ws', 'log', 'demo', '--json').stdout) as { commits: { subject: string }[] };
    expect(log.commits.map((c) => c.subject)).toContain(`innocent ${PAYLOAD} message`);
    const cps = JSON.parse(berth('ws', 'checkpoints', 'demo', '--json').stdout) as { checkpoints: { message: string }[] };
    expect(cps.checkpoints.map((c) => c.message)).toContain(`innocent ${PAYLOAD} message`);
    const cmds = JSON.parse(berth('ws', 'log', 'demo', '--commands', '--json').stdout) as { commands: { command: string }[] };
    expect(cmds.commands.map((c) => c.command)).toContain(`: '${PAYLOAD}'`);
    const diff = JSON.parse(berth('ws', 'diff', 'demo', '--json').stdout) as { diff: string };
    expect(diff.diff).toContain(`+line with ${PAYLOAD} inside`);
  });
});

describe('CLI error and warning lines', () => {
  it('escape raw control bytes in messages (a message may quote agent text verbatim), JSON stays exact', () => {
    const writes: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (writes.push(String(chunk)), true));
    const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (writes.push(String(chunk)), true));
    try {
      reportError(new BerthError('BAD_INPUT', `bad value ${PAYLOAD}\u202eevil`), false);
      printWarnings([`note ${PAYLOAD}`]);
      expect(writes.join('')).not.toMatch(RAW_CONTROL);
      expect(writes.join('')).toContain('\\u202eevil');
      writes.length = 0;
      reportError(new BerthError('BAD_INPUT', `bad value ${PAYLOAD}`), true);
      expect((JSON.parse(writes.join('')) as { error: { message: string } }).error.message).toBe(`bad value ${PAYLOAD}`);
    } finally {
      spy.mockRestore();
      out.mockRestore();
    }
  });
});

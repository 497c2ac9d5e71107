/**
 * The default-mode `berth mcp` keeps each workspace's session open between calls (no git, lock or
 * Docker inspect per exec). That open session is a cache: when another berth process deletes the
 * workspace, the next exec must say so (WORKSPACE_NOT_FOUND with a next step), not hang, not run
 * in a leftover container and not recreate one for a workspace that no longer exists.
 */
import { execFileSync } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeDocker } from '../helpers/docker.js';
import { BIN, makeFixture, repoContainers, TappedStdioTransport, type McpFixture } from './helpers.js';

const textOf = (r: CallToolResult): string => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');

describeDocker('berth mcp: a workspace deleted by another process', () => {
  let fx: McpFixture;
  let t: TappedStdioTransport;
  let client: Client;
  const ws = 'gone-soon';

  const exec = async (command: string): Promise<CallToolResult> =>
    (await client.callTool({ name: 'exec', arguments: { workspace: ws, command } })) as CallToolResult;

  beforeAll(async () => {
    fx = makeFixture('berth-mcp-deleted-');
    t = new TappedStdioTransport(['mcp', '--repo', fx.repo, '--log-level', 'warn'], fx.env());
    client = new Client({ name: 'berth-test', version: '1.0.0' });
    await client.connect(t);
  });

  afterAll(async () => {
    t?.kill('SIGKILL');
    await fx?.cleanup();
  });

  it('the next exec answers WORKSPACE_NOT_FOUND, and no container comes back', async () => {
    const created = (await client.callTool({ name: 'workspace_create', arguments: { name: ws } })) as CallToolResult;
    expect(created.isError, textOf(created)).toBeFalsy();
    const first = await exec('echo alive');
    expect(first.isError, textOf(first)).toBeFalsy();
    expect((first.structuredContent as { stdout?: string }).stdout).toBe('alive\n');
    expect((await repoContainers(fx.repo)).length).toBe(1);

    // Another runner process deletes it (branch, worktree, note and container).
    execFileSync(process.execPath, [BIN, 'ws', 'delete', ws, '--repo', fx.repo], { env: fx.env(), stdio: 'pipe' });
    expect(fx.git('branch', '--list', `berth/${ws}`).trim()).toBe('');

    // Twice: the first call finds the open session's container gone, the second has no session.
    for (const attempt of [1, 2]) {
      const r = await exec('echo still-here');
      expect(r.isError, `attempt ${attempt}: ${textOf(r)}`).toBe(true);
      expect(textOf(r), `attempt ${attempt}`).toMatch(/^WORKSPACE_NOT_FOUND: /);
      expect(textOf(r)).toMatch(/Next: .*workspace_create/);
      expect(textOf(r)).not.toContain('still-here');
    }
    expect(await repoContainers(fx.repo)).toEqual([]);
  }, 120_000);
});

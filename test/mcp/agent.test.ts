/**
 * `berth config agent`: the .mcp.json it writes or merges, and proof that the entry it writes
 * really starts a working server (here with --workspace, which also covers the pinned mode where
 * tools take no workspace argument), spawned by the SDK's own StdioClientTransport.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { TOOL_NAMES } from '../../runner/mcp/tool.js';
import { afterEach, describe, expect, it } from 'vitest';
import { describeDocker } from '../helpers/docker.js';
import { BIN, makeFixture, repoContainers, waitFor, type McpFixture } from './helpers.js';

const textOf = (r: CallToolResult): string => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');

interface Entry {
  type?: string;
  command: string;
  args: string[];
}

let fx: McpFixture | undefined;
afterEach(async () => {
  await fx?.cleanup();
  fx = undefined;
});

function berth(f: McpFixture, ...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: f.repo, env: f.env(), encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('berth config agent', () => {
  it('merges the berth server into an existing .mcp.json, keeping everything else', () => {
    const f = (fx = makeFixture('berth-mcp-config-'));
    const file = join(f.repo, '.mcp.json');
    const other = { command: 'other-server', args: ['--flag'], env: { A: '1' } };
    writeFileSync(file, JSON.stringify({ mcpServers: { other }, extraKey: [1, 2] }, null, 2));

    const first = berth(f, 'config', 'agent', 'claude', '--repo', f.repo, '--launcher', 'path');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^Added: MCP server "berth" in .*\.mcp\.json/);
    const written = JSON.parse(readFileSync(file, 'utf8')) as { mcpServers: Record<string, Entry>; extraKey: number[] };
    expect(written.extraKey).toEqual([1, 2]);
    expect(written.mcpServers.other).toEqual(other);
    expect(written.mcpServers.berth).toEqual({ type: 'stdio', command: process.execPath, args: [BIN, 'mcp', '--repo', f.repo] });
    // The generic snippet for other clients is printed too.
    expect(first.stdout).toContain('"mcpServers"');

    const again = berth(f, 'config', 'agent', 'claude', '--repo', f.repo, '--launcher', 'path');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^Already configured/);
    expect(readFileSync(file, 'utf8')).toBe(`${JSON.stringify(written, null, 2)}\n`);
    // No temp files left next to it.
    expect(
      spawnSync('ls', ['-A', f.repo], { encoding: 'utf8' })
        .stdout.split('\n')
        .filter((n) => n.includes('.mcp.json')),
    ).toEqual(['.mcp.json']);
  });

  it('refuses to touch a .mcp.json that is not valid JSON', () => {
    const f = (fx = makeFixture('berth-mcp-config-'));
    const file = join(f.repo, '.mcp.json');
    writeFileSync(file, '{ "mcpServers": { oops');
    const r = berth(f, 'config', 'agent', 'claude', '--repo', f.repo);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\.mcp\.json is not valid JSON .*left unchanged/);
    expect(readFileSync(file, 'utf8')).toBe('{ "mcpServers": { oops');
  });

  it('prints instead of writing with --print and for agents it has no config for', () => {
    const f = (fx = makeFixture('berth-mcp-config-'));
    const printed = berth(f, 'config', 'agent', 'claude', '--print');
    expect(printed.code).toBe(0);
    expect(JSON.parse(printed.stdout)).toEqual({ mcpServers: { berth: { type: 'stdio', command: process.execPath, args: [BIN, 'mcp', '--repo', f.repo] } } });

    const generic = berth(f, 'config', 'agent', 'some-editor', '--json');
    expect(generic.code).toBe(0);
    const out = JSON.parse(generic.stdout) as { file: null; status: string; snippet: { mcpServers: Record<string, Entry> } };
    expect(out).toMatchObject({ file: null, status: 'printed' });
    expect(out.snippet.mcpServers.berth).toEqual({ command: process.execPath, args: [BIN, 'mcp', '--repo', f.repo] });
    expect(existsSync(join(f.repo, '.mcp.json'))).toBe(false);
  });

  it('uses a portable npx entry when berth is installed in the project', () => {
    const f = (fx = makeFixture('berth-mcp-config-'));
    mkdirSync(join(f.repo, 'node_modules', '.bin'), { recursive: true });
    writeFileSync(join(f.repo, 'node_modules', '.bin', 'berth'), '#!/bin/sh\n');
    const r = berth(f, 'config', 'agent', 'claude', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { launcher: string; entry: Entry; status: string };
    expect(out).toMatchObject({ launcher: 'npx', status: 'added' });
    expect(out.entry).toEqual({ type: 'stdio', command: 'npx', args: ['--no', 'berth', 'mcp', '--repo', '.'] });
  });
});

describeDocker('the configured server (pinned to one workspace)', () => {
  it('starts from the written entry; tools act on the pinned workspace without an argument', async () => {
    const f = (fx = makeFixture('berth-mcp-pinned-'));
    const r = berth(f, 'config', 'agent', 'claude', '--launcher', 'path', '--workspace', 'solo');
    expect(r.code, r.stderr).toBe(0);
    const entry = (JSON.parse(readFileSync(join(f.repo, '.mcp.json'), 'utf8')) as { mcpServers: { berth: Entry } }).mcpServers.berth;
    expect(entry.args.slice(-2)).toEqual(['--workspace', 'solo']);

    const transport = new StdioClientTransport({ command: entry.command, args: entry.args, cwd: f.repo, env: f.env(), stderr: 'pipe' });
    const client = new Client({ name: 'berth-pinned-test', version: '1.0.0' });
    await client.connect(transport);
    const pid = transport.pid;
    try {
      const { tools } = await client.listTools();
      expect(tools).toHaveLength(TOOL_NAMES.length);
      for (const tool of tools) expect(Object.keys(tool.inputSchema.properties ?? {}), tool.name).not.toContain('workspace');
      expect(client.getInstructions()).toContain('bound to workspace "solo"');

      const listed = (await client.callTool({ name: 'workspace_list', arguments: {} })) as CallToolResult;
      expect(listed.structuredContent).toEqual({ workspaces: [], pinned: 'solo' });

      // First use creates the pinned workspace.
      const run = (await client.callTool({ name: 'exec', arguments: { command: 'echo "$BERTH_WORKSPACE"' } })) as CallToolResult;
      expect(run.isError, textOf(run)).toBeFalsy();
      expect(run.structuredContent).toMatchObject({ exitCode: 0, stdout: 'solo\n' });
      expect(f.git('branch', '--list', '--format=%(refname:short)', 'berth/*').trim()).toBe('berth/solo');

      const write = (await client.callTool({ name: 'file_write', arguments: { path: 'hello.txt', content: 'hi\n' } })) as CallToolResult;
      expect(write.isError, textOf(write)).toBeFalsy();
      const cp = (await client.callTool({ name: 'checkpoint', arguments: { message: 'Say hi' } })) as CallToolResult;
      expect(cp.structuredContent).toMatchObject({ committed: true, filesChanged: 1 });
      expect(f.git('show', 'berth/solo:hello.txt')).toBe('hi\n');

      const other = (await client.callTool({ name: 'workspace_create', arguments: { name: 'other' } })) as CallToolResult;
      expect(other.isError).toBe(true);
      expect(textOf(other)).toMatch(/pinned to workspace "solo"/);
      const same = (await client.callTool({ name: 'workspace_create', arguments: {} })) as CallToolResult;
      expect(same.structuredContent).toMatchObject({ name: 'solo', created: false });
    } finally {
      await client.close();
    }
    // The SDK transport closes stdin; the server stops its container (kept for next time) and exits.
    if (pid !== null && pid !== undefined) await waitFor('the server to exit', () => !alive(pid), 30_000);
    const containers = await repoContainers(f.repo);
    expect(containers.map((c) => [c.Labels['dev.berth.workspace'], c.State])).toEqual([['solo', 'exited']]);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

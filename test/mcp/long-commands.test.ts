/**
 * Commands longer than an MCP client's request timeout. The real `berth mcp` is spawned and driven
 * by the SDK's Client with its DEFAULT request timeout (60 s): a 90-second command must complete
 * through handles (exec → running + handle, exec_wait until done) with all of its output and its
 * exit code, and no request may time out. Also: exec_output reads on from an offset, a finished
 * handle stays readable, exec_kill stops a command and the shell survives, and a handle of another
 * workspace is refused.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeDocker } from '../helpers/docker.js';
import { makeFixture, TappedStdioTransport, type McpFixture } from './helpers.js';

describeDocker('long commands over MCP (handles)', () => {
  let fx: McpFixture;
  let t: TappedStdioTransport;
  let client: Client;
  const ws = 'longcmd';

  const call = async (name: string, args: Record<string, unknown>) => {
    // No RequestOptions: the SDK's default 60 s request timeout applies to every call.
    const r = (await client.callTool({ name, arguments: { workspace: ws, ...args } })) as CallToolResult;
    const text = r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
    expect(r.isError, `${name} failed: ${text}`).toBeFalsy();
    return { text, data: r.structuredContent as Record<string, unknown> };
  };

  beforeAll(async () => {
    fx = makeFixture('berth-longcmd-');
    t = new TappedStdioTransport(['mcp', '--repo', fx.repo], fx.env());
    client = new Client({ name: 'berth-longcmd-test', version: '1.0.0' });
    await client.connect(t);
    const r = (await client.callTool({ name: 'workspace_create', arguments: { name: ws } })) as CallToolResult;
    expect(r.isError).toBeFalsy();
  }, 120_000);

  afterAll(async () => {
    t?.kill('SIGKILL');
    await fx?.cleanup();
  });

  it('a 90-second command completes through exec + exec_wait with all output and its exit code', async () => {
    const script = 'i=0; while [ $i -lt 90 ]; do echo "tick $i"; i=$((i+1)); sleep 1; done; echo done >&2; exit 7';
    const first = await call('exec', { command: script });
    expect(first.data.running).toBe(true);
    const handle = String(first.data.handle);
    expect(handle).toMatch(/^cmd_[0-9a-f]{32}$/);
    let last = first;
    let waits = 0;
    while (last.data.running) {
      last = await call('exec_wait', { handle });
      waits++;
      expect(waits).toBeLessThan(10);
    }
    expect(waits).toBeGreaterThanOrEqual(2);
    expect(last.data.exitCode).toBe(7);
    const lines = String(last.data.stdout).trimEnd().split('\n');
    expect(lines).toHaveLength(90);
    expect(lines[0]).toBe('tick 0');
    expect(lines[89]).toBe('tick 89');
    expect(String(last.data.stderr)).toBe('done\n');

    // Finished handles stay readable, from any offset.
    const again = await call('exec_wait', { handle });
    expect(again.data.exitCode).toBe(7);
    const out = await call('exec_output', { handle, offset: 0 });
    expect(out.data.running).toBe(false);
    expect(String(out.data.output)).toContain('tick 0\ntick 1\n');
    const tail = await call('exec_output', { handle, offset: Number(out.data.nextOffset) - 5 });
    expect(String(tail.data.output)).toBe(String(out.data.output).slice(-5));
  }, 240_000);

  it('exec_kill stops a running command; the persistent shell survives with its state', async () => {
    await call('exec', { command: 'cd /tmp && export KEEP=yes' });
    const started = await call('exec', { command: 'echo started; sleep 300', yieldMs: 1000 });
    expect(started.data.running).toBe(true);
    const killed = await call('exec_kill', { handle: String(started.data.handle) });
    expect(killed.data.running).toBe(false);
    expect(killed.data.aborted).toBe(true);
    const after = await call('exec', { command: 'pwd; echo $KEEP' });
    expect(after.data.stdout).toBe('/tmp\nyes\n');
  }, 120_000);

  it('refuses a handle of another workspace and an unknown handle', async () => {
    const started = await call('exec', { command: 'sleep 2', yieldMs: 0 });
    const r = (await client.callTool({ name: 'exec_wait', arguments: { workspace: 'other', handle: String(started.data.handle) } })) as CallToolResult;
    expect(r.isError).toBe(true);
    const unknown = (await client.callTool({ name: 'exec_output', arguments: { workspace: ws, handle: `cmd_${'0'.repeat(32)}` } })) as CallToolResult;
    expect(unknown.isError).toBe(true);
    expect(unknown.content.map((c) => (c.type === 'text' ? c.text : '')).join('')).toMatch(/NOT_FOUND/);
  }, 60_000);
});

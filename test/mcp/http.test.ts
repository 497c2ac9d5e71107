/**
 * Remote mode: the real `berth mcp --http 127.0.0.1:0` with a generated token, driven by the SDK's
 * StreamableHTTPClientTransport; raw fetches prove that a missing or wrong token is turned away
 * before anything runs. Plus the pure pieces (address parsing, token checks).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { TOOL_NAMES } from '../../runner/mcp/tool.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerMatches, chooseToken, isLoopback, parseListen } from '../../runner/mcp/http.js';
import { describeDocker } from '../helpers/docker.js';
import { BIN, makeFixture, repoContainers, waitFor, type McpFixture } from './helpers.js';

const textOf = (r: CallToolResult): string => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');

describe('berth mcp --http: address and token handling', () => {
  it('parses listen addresses, defaulting to loopback', () => {
    expect(parseListen('8765')).toEqual({ host: '127.0.0.1', port: 8765 });
    expect(parseListen(':8765')).toEqual({ host: '127.0.0.1', port: 8765 });
    expect(parseListen('0.0.0.0:80')).toEqual({ host: '0.0.0.0', port: 80 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListen('localhost:9000')).toEqual({ host: 'localhost', port: 9000 });
    for (const bad of ['', 'host', '1.2.3.4:99999', 'a b:80', ':-1', 'x:80:90']) {
      expect(() => parseListen(bad), bad).toThrow(/--http .* HOST:PORT/);
    }
    expect(isLoopback('127.0.0.1')).toBe(true);
    expect(isLoopback('::1')).toBe(true);
    expect(isLoopback('0.0.0.0')).toBe(false);
    expect(isLoopback('192.168.1.10')).toBe(false);
  });

  it('checks bearer tokens exactly and refuses weak configured tokens', () => {
    const token = 'k3y-0123456789abcdef';
    expect(bearerMatches(`Bearer ${token}`, token)).toBe(true);
    expect(bearerMatches(`bearer ${token}`, token)).toBe(true);
    expect(bearerMatches(undefined, token)).toBe(false);
    expect(bearerMatches('', token)).toBe(false);
    expect(bearerMatches(token, token)).toBe(false);
    expect(bearerMatches(`Bearer ${token}x`, token)).toBe(false);
    expect(bearerMatches(`Bearer ${token.slice(0, -1)}`, token)).toBe(false);
    expect(bearerMatches(`Basic ${token}`, token)).toBe(false);

    const generated = chooseToken(undefined, undefined);
    expect(generated.generated).toBe(true);
    expect(generated.token.length).toBeGreaterThanOrEqual(40);
    expect(chooseToken(undefined, undefined).token).not.toBe(generated.token);
    expect(chooseToken(undefined, 'from-the-env-0123456789')).toEqual({ token: 'from-the-env-0123456789', generated: false });
    expect(chooseToken('from-the-flag-0123456789', 'from-the-env-0123456789').token).toBe('from-the-flag-0123456789');
    expect(() => chooseToken('short', undefined)).toThrow(/at least 16 characters/);
  });
});

describeDocker('berth mcp --http (Streamable HTTP)', () => {
  let fx: McpFixture;
  let child: ChildProcessWithoutNullStreams;
  let stderr = '';
  let exited: Promise<number | null>;
  let url = '';
  let token = '';

  beforeAll(async () => {
    fx = makeFixture('berth-mcp-http-');
    child = spawn(process.execPath, [BIN, 'mcp', '--repo', fx.repo, '--http', '127.0.0.1:0', '--log-level', 'info'], { env: fx.env() });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => (stderr += s));
    exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor('the server to print its address and token', () => /listening on \S+/.test(stderr) && /token \S+/.test(stderr));
    url = /listening on (\S+)/.exec(stderr)?.[1] ?? '';
    token = /token (\S+)/.exec(stderr)?.[1] ?? '';
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
    await fx?.cleanup();
  });

  it('binds loopback by default and prints no warning for it', () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    expect(stderr).not.toContain('WARNING');
  });

  it('turns away requests without the right token with 401, running nothing', async () => {
    const attempt = (auth: string | undefined, body: unknown) =>
      fetch(url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
          ...(auth === undefined ? {} : { Authorization: auth }),
        },
        body: JSON.stringify(body),
      });
    const initialize = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'intruder', version: '1' } },
    };
    const create = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'workspace_create', arguments: { name: 'intruder' } } };
    for (const auth of [undefined, 'Bearer wrong-token-0123456789abcdef', `Bearer ${token}x`, token, `Basic ${token}`]) {
      for (const body of [initialize, create]) {
        const res = await attempt(auth, body);
        expect(res.status, String(auth)).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
        expect(res.headers.get('mcp-session-id')).toBeNull();
        expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32001 } });
      }
    }
    expect(fx.git('branch', '--list', 'berth/*').trim()).toBe('');
    expect(await repoContainers(fx.repo)).toEqual([]);
  });

  it('serves the same tools to a client with the token', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
    const client = new Client({ name: 'berth-http-test', version: '1.0.0' });
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      expect(tools).toHaveLength(TOOL_NAMES.length);
      expect(client.getInstructions()).toMatch(/checkpoint/);

      const created = (await client.callTool({ name: 'workspace_create', arguments: { name: 'remote' } })) as CallToolResult;
      expect(created.isError, textOf(created)).toBeFalsy();
      const progress: string[] = [];
      const run = (await client.callTool(
        { name: 'exec', arguments: { workspace: 'remote', command: 'echo "$BERTH_WORKSPACE from $(pwd)"; (exit 4)' } },
        undefined,
        { onprogress: (p) => progress.push(p.message ?? '') },
      )) as CallToolResult;
      expect(run.isError).toBeFalsy();
      expect(run.structuredContent).toMatchObject({ exitCode: 4, stdout: 'remote from /workspace\n' });
      expect(progress.join('\n')).toContain('remote from /workspace');
      expect(fx.git('branch', '--list', '--format=%(refname:short)', 'berth/remote').trim()).toBe('berth/remote');

      const del = (await client.callTool({ name: 'workspace_delete', arguments: { workspace: 'remote' } })) as CallToolResult;
      expect(del.isError, textOf(del)).toBeFalsy();
      expect(await repoContainers(fx.repo)).toEqual([]);
    } finally {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    }
  });

  it('exits 0 on SIGTERM', async () => {
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('server did not exit')), 30_000))]);
    expect(code, stderr).toBe(0);
    expect(stderr).toContain('shutting down');
  });
});

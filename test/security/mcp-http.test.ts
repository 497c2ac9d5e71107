/**
 * Attacks on `berth mcp --http`, against the real spawned server with real HTTP requests:
 *   - abandoned sessions: a client that initializes and never DELETEs used to fill the 64-slot
 *     table, after which every new client got 503 forever;
 *   - DNS rebinding: a web page on evil.example whose name resolves to 127.0.0.1 sends requests
 *     with `Host: evil.example:PORT` / `Origin: http://evil.example`; they must be refused even with
 *     the right token (a rebinding page could have read it from nowhere, but defence in depth).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { request } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { TOOL_NAMES } from '../../runner/mcp/tool.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeDocker } from '../helpers/docker.js';
import { BIN, makeFixture, waitFor, type McpFixture } from '../mcp/helpers.js';

interface Reply {
  readonly status: number;
  readonly session: string | undefined;
  readonly body: string;
}

describeDocker('berth mcp --http: abandoned sessions and DNS rebinding', () => {
  let fx: McpFixture;
  let child: ChildProcessWithoutNullStreams;
  let stderr = '';
  let url: URL;
  let token = '';

  /** A raw POST with full control of the headers (Host included). */
  const post = (body: unknown, headers: Record<string, string> = {}): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const data = JSON.stringify(body);
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            Accept: 'application/json, text/event-stream',
            Authorization: `Bearer ${token}`,
            'Content-Length': Buffer.byteLength(data),
            ...headers,
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, session: res.headers['mcp-session-id'] as string | undefined, body: text }));
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  const initialize = (id = 1) => ({
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'abandoner', version: '1' } },
  });
  const ping = (session: string) => post({ jsonrpc: '2.0', id: 9, method: 'ping' }, { 'mcp-session-id': session });

  beforeAll(async () => {
    fx = makeFixture('berth-mcp-http-sec-');
    const args = ['mcp', '--repo', fx.repo, '--http', '127.0.0.1:0', '--idle-timeout', '3s', '--log-level', 'info'];
    child = spawn(process.execPath, [BIN, ...args], { env: fx.env() });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => (stderr += s));
    await waitFor('the server to print its address and token', () => /listening on \S+/.test(stderr) && /token \S+/.test(stderr));
    url = new URL(/listening on (\S+)/.exec(stderr)?.[1] ?? '');
    token = /token (\S+)/.exec(stderr)?.[1] ?? '';
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
    await fx?.cleanup();
  });

  it('70 abandoned sessions do not lock new clients out: the oldest idle ones are evicted', async () => {
    const sessions: string[] = [];
    for (let i = 0; i < 70; i++) {
      const r = await post(initialize(i));
      expect(r.status, `initialize #${i}: ${r.body}`).toBe(200);
      expect(r.session).toBeTruthy();
      sessions.push(r.session as string);
    }
    // The table holds 64: the first 6 were evicted to make room, the newest still answer.
    expect((await ping(sessions[0] as string)).status).toBe(404);
    expect((await ping(sessions[69] as string)).status).toBe(200);
  });

  it('an abandoned session expires after the idle timeout', async () => {
    const r = await post(initialize());
    expect(r.status).toBe(200);
    const id = r.session as string;
    expect((await ping(id)).status).toBe(200);
    // Watch the server's log, not the session: a ping would be activity and keep it alive.
    await waitFor('the idle session to expire', () => stderr.split('\n').some((l) => l.includes(id) && l.includes('idle for')), 30_000);
    expect((await ping(id)).status).toBe(404);
  });

  it('refuses a foreign Host (421) and a foreign Origin (403) even with the right token', async () => {
    const badHost = await post(initialize(), { Host: `evil.example:${url.port}` });
    expect(badHost.status).toBe(421);
    expect(badHost.session).toBeUndefined();
    const badOrigin = await post(initialize(), { Origin: 'http://evil.example' });
    expect(badOrigin.status).toBe(403);
    expect(badOrigin.session).toBeUndefined();
    const nullOrigin = await post(initialize(), { Origin: 'null' });
    expect(nullOrigin.status).toBe(403);
    // Loopback names, with or without a browser Origin, are this server.
    expect((await post(initialize(), { Host: `localhost:${url.port}`, Origin: `http://localhost:${url.port}` })).status).toBe(200);
    expect(fx.git('branch', '--list', 'berth/*').trim()).toBe('');
  });

  it('a normal SDK client still works', async () => {
    const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
    const client = new Client({ name: 'berth-http-sec', version: '1' });
    await client.connect(transport);
    try {
      expect((await client.listTools()).tools).toHaveLength(TOOL_NAMES.length);
    } finally {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    }
  });
});

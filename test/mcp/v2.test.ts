/**
 * Both MCP revisions against the real `berth mcp` child, on stdio and on Streamable HTTP: a
 * 2025-era client (SDK v1 `Client`, `initialize`) and a 2026-07-28 client (SDK v2
 * `@modelcontextprotocol/client`, pinned to the revision, stateless) each list the tools and run
 * workspace_create, exec and workspace_delete against a real workspace (real git branch, real
 * container). Over HTTP, 2026-07-28 requests without the bearer token get 401 and run nothing:
 * the exact requests a real v2 client sent are replayed without, or with a wrong, token.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { Client as ModernClient, StreamableHTTPClientTransport as ModernHttpTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport as ModernStdioTransport } from '@modelcontextprotocol/client/stdio';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as LegacyStdioTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport as LegacyHttpTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { isLegacyRequest, PROTOCOL_VERSION_META_KEY } from '@modelcontextprotocol/server';
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { mayBeModern, openingEra, PROTOCOL_VERSION_KEY } from '../../runner/mcp/revisions/era.js';
import { MODERN_REVISION } from '../../runner/mcp/revisions/modern.js';
import { TOOLS } from '../../runner/mcp/tools/index.js';
import { describeDocker } from '../helpers/docker.js';
import { BIN, makeFixture, repoContainers, TappedStdioTransport, waitFor, type McpFixture } from './helpers.js';

interface Result {
  isError?: boolean;
  content: { type: string; text?: string }[];
  structuredContent?: Record<string, unknown>;
}
type Params = { name: string; arguments: Record<string, unknown> };
type OnProgress = (p: { message?: string }) => void;
/** What the flow needs from either SDK's client (their callTool signatures differ). */
interface AnyClient {
  listTools(): Promise<{ tools: { name: string }[] }>;
  call(params: Params, onprogress?: OnProgress): Promise<unknown>;
}
const legacyClient = (c: LegacyClient): AnyClient => ({
  listTools: () => c.listTools(),
  call: (params, onprogress) => c.callTool(params, undefined, onprogress ? { onprogress } : {}),
});
const modernClient = (c: ModernClient): AnyClient => ({
  listTools: () => c.listTools(),
  call: (params, onprogress) => c.callTool(params, onprogress ? { onprogress } : {}),
});

const TOKEN = 'v2-test-token-0123456789abcdef';
const text = (r: Result) => r.content.map((c) => c.text ?? '').join('\n');

/** List the tools, then create a workspace, run commands in it and delete it, checking git and Docker. */
async function flow(fx: McpFixture, client: AnyClient, ws: string): Promise<void> {
  const { tools } = await client.listTools();
  expect(tools.map((t) => t.name)).toEqual(TOOLS.map((t) => t.name));
  const call = async (name: string, args: Record<string, unknown>, onprogress?: OnProgress): Promise<Result> => {
    const r = (await client.call({ name, arguments: args }, onprogress)) as Result;
    expect(r.isError, `${name}: ${text(r)}`).toBeFalsy();
    return r;
  };
  await call('workspace_create', { name: ws });
  expect(fx.git('branch', '--list', '--format=%(refname:short)', `berth/${ws}`).trim()).toBe(`berth/${ws}`);
  const progress: string[] = [];
  const run = await call('exec', { workspace: ws, command: 'echo "$BERTH_WORKSPACE in $(pwd)"; echo kept > carried.txt; sleep 1; (exit 3)' }, (p) =>
    progress.push(p.message ?? ''),
  );
  expect(run.structuredContent).toMatchObject({ exitCode: 3, stdout: `${ws} in /workspace\n` });
  // Progress notifications reach the client on this revision and transport too (the sleep keeps
  // the command running while its output streams, so the output is sent as progress).
  expect(progress.join('\n')).toContain(`${ws} in /workspace`);
  // The persistent shell and the worktree are the workspace's: the file is on the host branch's worktree.
  const again = await call('exec', { workspace: ws, command: 'cat carried.txt' });
  expect(again.structuredContent).toMatchObject({ exitCode: 0, stdout: 'kept\n' });
  const listed = await call('workspace_list', {});
  expect(JSON.stringify(listed.structuredContent)).toContain(`"${ws}"`);
  expect((await repoContainers(fx.repo)).some((c) => c.Labels['berth.workspace'] === ws || JSON.stringify(c.Labels).includes(`"${ws}"`))).toBe(true);
  await call('workspace_delete', { workspace: ws });
  expect(fx.git('branch', '--list', `berth/${ws}`).trim()).toBe('');
}

describe('revision routing (pure)', () => {
  const claim = { [PROTOCOL_VERSION_META_KEY]: MODERN_REVISION, 'io.modelcontextprotocol/clientInfo': { name: 'c', version: '1' } };
  const samples: { header?: string; body: unknown }[] = [
    {
      body: {
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'c', version: '1' } },
      },
    },
    { header: '2025-06-18', body: { jsonrpc: '2.0', id: 2, method: 'tools/list' } },
    { header: '2025-11-25', body: { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'exec', arguments: {}, _meta: { progressToken: 1 } } } },
    { header: '2025-06-18', body: [{ jsonrpc: '2.0', method: 'notifications/initialized' }] },
    { header: MODERN_REVISION, body: { jsonrpc: '2.0', id: 4, method: 'tools/list', params: { _meta: claim } } },
    { body: { jsonrpc: '2.0', id: 5, method: 'server/discover', params: { _meta: claim } } },
    { header: MODERN_REVISION, body: { jsonrpc: '2.0', id: 6, method: 'tools/list' } },
    { header: '2031-01-01', body: { jsonrpc: '2.0', id: 7, method: 'tools/list', params: { _meta: { [PROTOCOL_VERSION_META_KEY]: '2031-01-01' } } } },
  ];

  it('never sends the SDK’s 2026-07-28 traffic to the 2025 leg (the prefilter agrees with isLegacyRequest)', async () => {
    expect(PROTOCOL_VERSION_KEY).toBe(PROTOCOL_VERSION_META_KEY);
    let modernSeen = 0;
    for (const { header, body } of samples) {
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(header ? { 'mcp-protocol-version': header } : {}),
      };
      const sdkLegacy = await isLegacyRequest(new Request('http://127.0.0.1/mcp', { method: 'POST', headers, body: JSON.stringify(body) }));
      if (!sdkLegacy) modernSeen++;
      // berth skips the SDK only when the request is certainly 2025 traffic.
      if (!mayBeModern(header, body, SUPPORTED_PROTOCOL_VERSIONS)) expect(sdkLegacy, JSON.stringify(body)).toBe(true);
    }
    expect(modernSeen).toBeGreaterThanOrEqual(3);
  });

  it('opens a stdio connection in the era its first message claims', () => {
    expect(openingEra(samples[0]?.body)).toBe('legacy');
    expect(openingEra(samples[4]?.body)).toBe('modern');
    expect(openingEra(samples[5]?.body)).toBe('modern');
    expect(openingEra(samples[7]?.body)).toBe('legacy');
    expect(openingEra(null)).toBe('legacy');
  });
});

describeDocker('berth mcp on stdio: a 2025 client and a 2026-07-28 client', () => {
  let fx: McpFixture;
  const params = () => ({ command: process.execPath, args: [BIN, 'mcp', '--repo', fx.repo, '--log-level', 'warn'], env: fx.env(), stderr: 'pipe' as const });

  beforeAll(() => {
    fx = makeFixture('berth-mcp-v2-stdio-');
  });
  afterAll(async () => {
    await fx?.cleanup();
  });

  it('serves an SDK v1 client (initialize handshake, 2025 revision)', async () => {
    const client = new LegacyClient({ name: 'v1-stdio', version: '1.0.0' });
    await client.connect(new LegacyStdioTransport(params()));
    try {
      expect(client.getServerVersion()?.name).toBe('berth');
      await flow(fx, legacyClient(client), 'stdio-v1');
    } finally {
      await client.close();
    }
  });

  it('serves an SDK v2 client pinned to 2026-07-28 (no initialize, per-request envelope)', async () => {
    const client = new ModernClient({ name: 'v2-stdio', version: '1.0.0' }, { versionNegotiation: { mode: { pin: MODERN_REVISION } } });
    await client.connect(new ModernStdioTransport(params()));
    try {
      expect(client.getNegotiatedProtocolVersion()).toBe(MODERN_REVISION);
      await flow(fx, modernClient(client), 'stdio-v2');
    } finally {
      await client.close();
    }
  });

  it('answers server/discover: a negotiating SDK v2 client (probe, then fallback if legacy) settles on 2026-07-28', async () => {
    const client = new ModernClient({ name: 'v2-auto', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(new ModernStdioTransport(params()));
    try {
      expect(client.getNegotiatedProtocolVersion()).toBe(MODERN_REVISION);
      expect((await client.listTools()).tools).toHaveLength(TOOLS.length);
    } finally {
      await client.close();
    }
  });
});

describeDocker('berth mcp on stdio: the raw 2026-07-28 wire', () => {
  let fx: McpFixture;
  beforeAll(() => {
    fx = makeFixture('berth-mcp-v2-raw-');
  });
  afterAll(async () => {
    await fx?.cleanup();
  });

  it('pins the connection on a 2026-07-28 claim, refuses a later initialize (-32022), exits 0 on EOF', async () => {
    const t = new TappedStdioTransport(['mcp', '--repo', fx.repo, '--log-level', 'warn'], fx.env());
    onTestFinished(() => t.kill('SIGKILL'));
    const envelope = {
      [PROTOCOL_VERSION_META_KEY]: MODERN_REVISION,
      'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
      'io.modelcontextprotocol/clientCapabilities': {},
    };
    t.writeRaw(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: envelope } })}\n`);
    await waitFor('the tools/list answer', () => t.rawLines.length >= 1);
    const initialize = { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'late', version: '1' } };
    t.writeRaw(`${JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'initialize', params: initialize })}\n`);
    await waitFor('the initialize answer', () => t.rawLines.length >= 2);
    const [list, init] = t.rawLines.map((l) => JSON.parse(l) as { id: number; result?: { tools: unknown[] }; error?: { code: number } });
    expect(list?.id).toBe(1);
    expect(list?.result?.tools).toHaveLength(TOOLS.length);
    expect(init).toMatchObject({ id: 2, error: { code: -32022 } });
    t.endStdin();
    expect(await t.exited).toEqual({ code: 0, signal: null });
    expect(t.partialLine).toBe('');
  });
});

describeDocker('berth mcp --http: a 2025 client and a 2026-07-28 client on one endpoint', () => {
  let fx: McpFixture;
  let child: ChildProcessWithoutNullStreams;
  let stderr = '';
  let url = '';
  /** Requests a real v2 client sent (method, headers, body), for the replay attacks below. */
  const sent: { headers: Record<string, string>; body: Record<string, unknown> }[] = [];

  const recordingFetch: typeof fetch = async (input, init) => {
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
    if (typeof init?.body === 'string') sent.push({ headers, body: JSON.parse(init.body) as Record<string, unknown> });
    return fetch(input, init);
  };

  beforeAll(async () => {
    fx = makeFixture('berth-mcp-v2-http-');
    child = spawn(process.execPath, [BIN, 'mcp', '--repo', fx.repo, '--http', '127.0.0.1:0', '--log-level', 'info'], {
      env: fx.env({ BERTH_MCP_TOKEN: TOKEN }),
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => (stderr += s));
    await waitFor('the server to print its address', () => /listening on \S+/.test(stderr));
    url = /listening on (\S+)/.exec(stderr)?.[1] ?? '';
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
    await fx?.cleanup();
  });

  it('serves an SDK v1 client (sessionful, initialize)', async () => {
    const transport = new LegacyHttpTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } });
    const client = new LegacyClient({ name: 'v1-http', version: '1.0.0' });
    await client.connect(transport);
    try {
      expect(transport.sessionId).toBeDefined();
      await flow(fx, legacyClient(client), 'http-v1');
    } finally {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    }
  });

  it('serves an SDK v2 client pinned to 2026-07-28 (stateless: no session id)', async () => {
    const transport = new ModernHttpTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } }, fetch: recordingFetch });
    const client = new ModernClient({ name: 'v2-http', version: '1.0.0' }, { versionNegotiation: { mode: { pin: MODERN_REVISION } } });
    await client.connect(transport);
    try {
      expect(client.getNegotiatedProtocolVersion()).toBe(MODERN_REVISION);
      await flow(fx, modernClient(client), 'http-v2');
    } finally {
      await client.close();
    }
    expect(transport.sessionId).toBeUndefined();
    expect(sent.some((r) => r.body.method === 'initialize')).toBe(false);
    expect(sent.find((r) => r.body.method === 'tools/call')?.headers['mcp-protocol-version']).toBe(MODERN_REVISION);
  });

  it('answers server/discover over HTTP: a negotiating SDK v2 client settles on 2026-07-28', async () => {
    const transport = new ModernHttpTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } });
    const client = new ModernClient({ name: 'v2-auto-http', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(transport);
    try {
      expect(client.getNegotiatedProtocolVersion()).toBe(MODERN_REVISION);
      const discovered = await client.discover();
      expect(discovered.supportedVersions).toContain(MODERN_REVISION);
      expect(discovered.capabilities).toHaveProperty('tools');
      expect(client.getServerVersion()).toMatchObject({ name: 'berth' });
    } finally {
      await client.close();
    }
  });

  it('answers 2026-07-28 requests without the right token with 401, running nothing', async () => {
    const captured = sent.find((r) => r.body.method === 'tools/call' && (r.body.params as { name?: string }).name === 'workspace_create');
    expect(captured, 'the v2 test above must have run first').toBeDefined();
    if (!captured) return;
    const attack = { ...captured.body, params: { ...(captured.body.params as object), arguments: { name: 'intruder' } } };
    const execAttack = {
      ...attack,
      id: 99,
      params: { ...(attack.params as object), name: 'exec', arguments: { workspace: 'http-v2', command: 'touch /workspace/pwned' } },
    };
    const send = (auth: string | undefined, body: unknown) => {
      const headers: Record<string, string> = { ...captured.headers };
      delete headers.authorization;
      if (auth !== undefined) headers.authorization = auth;
      return fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
    };
    for (const auth of [undefined, 'Bearer wrong-token-0123456789abcdef', `Bearer ${TOKEN}x`, TOKEN, `Basic ${TOKEN}`]) {
      for (const body of [attack, execAttack]) {
        const res = await send(auth, body);
        expect(res.status, String(auth)).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
        expect(await res.json()).toMatchObject({ error: { code: -32001 } });
      }
    }
    expect(fx.git('branch', '--list', 'berth/intruder').trim()).toBe('');
    expect((await repoContainers(fx.repo)).filter((c) => JSON.stringify(c.Labels).includes('intruder'))).toEqual([]);

    // A v2 client with a wrong token cannot connect either.
    const intruder = new ModernClient({ name: 'intruder', version: '1' }, { versionNegotiation: { mode: { pin: MODERN_REVISION } } });
    const wrong = new ModernHttpTransport(new URL(url), { requestInit: { headers: { Authorization: 'Bearer wrong-token-0123456789abcdef' } } });
    await expect(intruder.connect(wrong).then(() => intruder.listTools())).rejects.toThrow();
    await intruder.close().catch(() => undefined);

    // Control: the very same replayed request with the token is a valid 2026-07-28 call that runs.
    const res = await send(`Bearer ${TOKEN}`, attack);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('intruder');
    expect(fx.git('branch', '--list', '--format=%(refname:short)', 'berth/intruder').trim()).toBe('berth/intruder');
  });
});

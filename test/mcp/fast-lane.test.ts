/**
 * The stdio fast lane for tools/call (runner/mcp/revisions/fast-lane.ts).
 *
 *   unit   the lane's protocol duties with a plain dispatch function: which requests it takes
 *          (and which it leaves to the SDK), replies and errors as the SDK's Protocol sends them,
 *          cancellation, connection close, server shutdown and progress;
 *   router the stdio router over a real Runner sends plain tools/call requests to the lane and
 *          the rest to the SDK (counted at the lane's dispatcher);
 *   stdio  the real `berth mcp` on a real workspace: every request sent twice, once plain (the
 *          lane) and once with an extra `_meta` key (the lane leaves that to the SDK), and the two
 *          answers must be the same JSON-RPC, for results, domain errors and protocol errors.
 */
import { PassThrough } from 'node:stream';
import { ErrorCode, McpError, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { createLifecycle } from '../../runner/mcp/deps.js';
import type { CallContext, Dispatch, ToolResult } from '../../runner/mcp/revisions/catalog.js';
import { FastLane } from '../../runner/mcp/revisions/fast-lane.js';
import { StdioRouter } from '../../runner/mcp/revisions/stdio-router.js';
import { legacyServer } from '../../runner/mcp/server.js';
import { BoundedStdioServerTransport } from '../../runner/mcp/stdio.js';
import { Runner } from '../../runner/session/runner.js';
import { describeDocker } from '../helpers/docker.js';
import { makeFixture, TappedStdioTransport, waitFor, type McpFixture } from './helpers.js';

const RESULT: ToolResult = { content: [{ type: 'text', text: 'done' }], structuredContent: { ok: true } };

/** A lane over a dispatch that records its calls and lets the test settle each one. */
function lane(dispatch?: Dispatch) {
  const sent: JSONRPCMessage[] = [];
  const calls: { name: string; args: unknown; ctx: CallContext; finish: (r: ToolResult | Error) => void }[] = [];
  const controller = new AbortController();
  const l = new FastLane({
    dispatch:
      dispatch ??
      ((name, args, ctx) =>
        new Promise<ToolResult>((resolve, reject) => {
          calls.push({ name, args, ctx, finish: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
        })),
    send: async (m) => void sent.push(m),
    lifecycle: createLifecycle(controller.signal),
  });
  return { l, sent, calls, shutdown: (reason: string) => controller.abort(new Error(reason)) };
}

const call = (id: unknown, params: Record<string, unknown> = { name: 'exec', arguments: { command: 'true' } }, extra: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params,
  ...extra,
});
const settle = () => new Promise((r) => setImmediate(r));

describe('FastLane (unit)', () => {
  it('takes a plain tools/call, dispatches it once and sends the result under its id', async () => {
    const { l, sent, calls } = lane();
    expect(l.take(call(7, { name: 'exec', arguments: { command: 'ls' }, _meta: { progressToken: 'p1' } }))).toBe(true);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ name: 'exec', args: { command: 'ls' }, ctx: { progressToken: 'p1' } });
    expect(l.size).toBe(1);
    calls[0]?.finish(RESULT);
    await settle();
    expect(sent).toEqual([{ jsonrpc: '2.0', id: 7, result: RESULT }]);
    expect(l.size).toBe(0);
  });

  it('leaves everything but the plain shape to the SDK', () => {
    const { l, calls } = lane();
    const others: unknown[] = [
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      call(2, undefined, { extra: true }),
      call(3, { name: 'exec', arguments: {}, task: { ttl: 1000 } }),
      call(4, { name: 'exec', _meta: { progressToken: 1, 'io.modelcontextprotocol/related-task': { taskId: 't' } } }),
      call(5, { name: 'exec', _meta: { progressToken: 1.5 } }),
      call(6.5),
      call(null),
      call(8, { name: 'exec', arguments: ['a'] }),
      call(9, { name: 42 }),
      call(10, 'params' as unknown as Record<string, unknown>),
      { ...call(11), jsonrpc: '1.0' },
      JSON.parse('{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"exec","__proto__":{"x":1}}}'),
      [call(13)],
      'tools/call',
      null,
    ];
    for (const m of others) expect(l.take(m), JSON.stringify(m)).toBe(false);
    expect(calls).toHaveLength(0);
    // A second request with an id still in the lane is the SDK's to answer (or refuse).
    expect(l.take(call(14))).toBe(true);
    expect(l.take(call(14))).toBe(false);
    expect(calls).toHaveLength(1);
  });

  it("answers a dispatch error as the SDK's Protocol does: its code, message and data, else -32603", async () => {
    const { l, sent } = lane((name) => {
      if (name === 'bad') throw new McpError(ErrorCode.InvalidParams, 'invalid arguments for bad: nope', { field: 'x' });
      return Promise.reject(new Error('boom'));
    });
    l.take(call('a', { name: 'bad' }));
    l.take(call('b', { name: 'other' }));
    await settle();
    expect(sent).toEqual([
      { jsonrpc: '2.0', id: 'a', error: { code: ErrorCode.InvalidParams, message: 'MCP error -32602: invalid arguments for bad: nope', data: { field: 'x' } } },
      { jsonrpc: '2.0', id: 'b', error: { code: ErrorCode.InternalError, message: 'boom' } },
    ]);
  });

  it('a cancelled request is aborted and never answered; progress stops with it', async () => {
    const { l, sent, calls } = lane();
    l.take(call(1, { name: 'exec', _meta: { progressToken: 9 } }));
    const c = calls[0];
    await c?.ctx.notify({ method: 'notifications/progress', params: { progressToken: 9, progress: 1, message: 'half' } });
    expect(l.take({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 2 } })).toBe(false);
    expect(l.take({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1, reason: 'user' } })).toBe(true);
    expect(c?.ctx.signal.aborted).toBe(true);
    expect(c?.ctx.signal.reason).toBe('user');
    await c?.ctx.notify({ method: 'notifications/progress', params: { progressToken: 9, progress: 2 } });
    c?.finish(RESULT);
    await settle();
    expect(sent).toEqual([{ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 9, progress: 1, message: 'half' } }]);
  });

  it('closing the connection aborts what runs, unanswered; later messages go to nobody', async () => {
    const { l, sent, calls } = lane();
    l.take(call(1));
    l.close();
    expect(calls[0]?.ctx.signal.aborted).toBe(true);
    calls[0]?.finish(RESULT);
    await settle();
    expect(sent).toEqual([]);
    expect(l.take(call(2))).toBe(false);
  });

  it('server shutdown aborts the running call but still sends its answer', async () => {
    const { l, sent, calls, shutdown } = lane();
    l.take(call(1));
    shutdown('berth mcp is shutting down (test)');
    expect(calls[0]?.ctx.signal.aborted).toBe(true);
    expect(String(calls[0]?.ctx.signal.reason)).toContain('shutting down');
    calls[0]?.finish(RESULT);
    await settle();
    expect(sent).toEqual([{ jsonrpc: '2.0', id: 1, result: RESULT }]);
  });
});

/** Everything about a reply that does not depend on timing. */
function stable(m: JSONRPCMessage | undefined): unknown {
  const copy = JSON.parse(JSON.stringify(m ?? null)) as {
    id?: unknown;
    result?: { content?: { text: string }[]; structuredContent?: Record<string, unknown> };
  };
  delete copy.id;
  for (const c of copy.result?.content ?? []) c.text = c.text.replace(/ · \d+\.\ds/g, ' · Ns');
  if (copy.result?.structuredContent) delete copy.result.structuredContent.durationMs;
  return copy;
}

describeDocker('berth mcp stdio: the fast lane answers as the SDK does', () => {
  let fx: McpFixture;
  let t: TappedStdioTransport;
  let nextId = 100;

  /** Sends a raw request and resolves with the reply carrying its id. */
  const request = async (method: string, params: Record<string, unknown>): Promise<JSONRPCMessage> => {
    const id = nextId++;
    t.writeRaw(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
    let reply: JSONRPCMessage | undefined;
    await waitFor(`the reply to request ${id}`, () => {
      for (const line of t.rawLines) {
        const m = JSON.parse(line) as JSONRPCMessage & { id?: unknown };
        if (m.id === id) reply = m;
      }
      return reply !== undefined;
    });
    return reply as JSONRPCMessage;
  };
  /** The same tools/call by the lane and, with a `_meta` key only the SDK route accepts, by the SDK. */
  const both = async (params: Record<string, unknown>) => {
    const lane = await request('tools/call', params);
    const sdk = await request('tools/call', { ...params, _meta: { 'dev.berth.test/route': 'sdk' } });
    return { lane, sdk };
  };

  beforeAll(async () => {
    fx = makeFixture();
    t = new TappedStdioTransport(['mcp', '--repo', fx.repo, '--log-level', 'warn'], fx.env());
    await request('initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'lane-test', version: '1' } });
    t.writeRaw(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
    const created = await request('tools/call', { name: 'workspace_create', arguments: { name: 'lane' } });
    expect(created).toHaveProperty('result.structuredContent.name', 'lane');
  });

  afterAll(async () => {
    t?.kill('SIGKILL');
    await fx?.cleanup();
  });

  it('results, domain errors and protocol errors are the same JSON-RPC by either route', async () => {
    const cases: Record<string, unknown>[] = [
      { name: 'exec', arguments: { workspace: 'lane', command: '(echo hi; echo err >&2; exit 3)' } },
      { name: 'exec', arguments: { workspace: 'lane', command: 'true' } },
      { name: 'file_read', arguments: { workspace: 'lane', path: 'no/such/file' } },
      { name: 'exec', arguments: { workspace: 'no-such-ws', command: 'true' } },
      { name: 'exec', arguments: { workspace: 'lane' } },
      { name: 'exec', arguments: { workspace: '../x', command: 'true' } },
      { name: 'no_such_tool', arguments: {} },
      { name: 'diff', arguments: { workspace: 'lane' } },
    ];
    for (const params of cases) {
      const { lane, sdk } = await both(params);
      expect(stable(lane), JSON.stringify(params)).toEqual(stable(sdk));
    }
    const { lane } = await both(cases[0] as Record<string, unknown>);
    expect(lane).toMatchObject({ result: { structuredContent: { exitCode: 3, stdout: 'hi\n', stderr: 'err\n' } } });
    const { lane: invalid } = await both(cases[4] as Record<string, unknown>);
    expect(invalid).toMatchObject({ error: { code: ErrorCode.InvalidParams, message: expect.stringContaining('invalid arguments for exec') } });
  });
});

describeDocker('StdioRouter: plain tools/call takes the lane, the rest the SDK', () => {
  it('counts lane calls at the dispatcher the router was given', async () => {
    const fx = makeFixture('berth-mcp-lane-');
    const logger = createLogger({ level: 'error' });
    const runner = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, logger, reconcile: false });
    const controller = new AbortController();
    const deps = { runner, logger, lifecycle: createLifecycle(controller.signal), version: '0.0.0-test' };
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const lines: (JSONRPCMessage & { id?: unknown })[] = [];
    let buf = '';
    stdout.on('data', (b: Buffer) => {
      buf += b.toString('utf8');
      for (let i = buf.indexOf('\n'); i !== -1; i = buf.indexOf('\n')) {
        lines.push(JSON.parse(buf.slice(0, i)) as JSONRPCMessage);
        buf = buf.slice(i + 1);
      }
    });
    const laneCalls: string[] = [];
    const router = new StdioRouter({
      wire: new BoundedStdioServerTransport({ stdin, stdout }),
      createLegacy: () => {
        const legacy = legacyServer(deps);
        return { server: legacy.server, dispatch: (name, args, ctx) => (laneCalls.push(name), legacy.dispatch(name, args, ctx)) };
      },
      createModern: () => Promise.reject(new Error('not in this test')),
      lifecycle: deps.lifecycle,
    });
    const reply = async (id: number) => {
      await waitFor(`reply ${id}`, () => lines.some((m) => m.id === id));
      return lines.find((m) => m.id === id);
    };
    const send = (m: object) => stdin.write(`${JSON.stringify(m)}\n`);
    try {
      await router.start();
      send({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
      });
      await reply(1);
      send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'log', arguments: { workspace: 'nope' } } });
      expect(await reply(2)).toMatchObject({ result: { isError: true } });
      expect(laneCalls).toEqual(['log']);
      send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'log', arguments: { workspace: 'nope' }, _meta: { other: 1 } } });
      send({ jsonrpc: '2.0', id: 4, method: 'tools/list' });
      expect(await reply(3)).toEqual({ ...(await reply(2)), id: 3 });
      expect(await reply(4)).toHaveProperty('result.tools');
      expect(laneCalls).toEqual(['log']);
    } finally {
      await router.close();
      controller.abort();
      await runner.close();
      await fx.cleanup();
    }
  });
});

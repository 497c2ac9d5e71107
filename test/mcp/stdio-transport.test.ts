/** berth's bounded stdio line reader (runner/mcp/stdio.ts) on in-memory streams: framing and refusals. */
import { PassThrough } from 'node:stream';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { BoundedStdioServerTransport } from '../../runner/mcp/stdio.js';

async function harness(maxMessageBytes: number) {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const received: JSONRPCMessage[] = [];
  const replies: unknown[] = [];
  let out = '';
  stdout.setEncoding('utf8');
  stdout.on('data', (s: string) => {
    out += s;
    for (let i = out.indexOf('\n'); i !== -1; i = out.indexOf('\n')) {
      replies.push(JSON.parse(out.slice(0, i)));
      out = out.slice(i + 1);
    }
  });
  const t = new BoundedStdioServerTransport({ stdin, stdout, maxMessageBytes });
  t.onmessage = (m) => received.push(m);
  await t.start();
  const settle = () => new Promise((r) => setImmediate(r));
  return { stdin, received, replies, settle, t };
}

describe('BoundedStdioServerTransport', () => {
  it('frames messages split across chunks, several per chunk, with CRLF', async () => {
    const h = await harness(1024);
    const a = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
    h.stdin.write(a.slice(0, 10));
    h.stdin.write(`${a.slice(10)}\r\n${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n\n`);
    await h.settle();
    expect(h.received).toEqual([
      { jsonrpc: '2.0', id: 1, method: 'ping' },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
    ]);
    expect(h.replies).toEqual([]);
  });

  it('refuses an oversized line streamed in many chunks, keeps memory bounded, and reads on', async () => {
    const h = await harness(1024);
    h.stdin.write('{"jsonrpc":"2.0","method":"tools/call","params":{"x":"');
    for (let i = 0; i < 100; i++) h.stdin.write('y'.repeat(1000));
    h.stdin.write('"},"id":"req-7"}\n{"jsonrpc":"2.0","id":8,"method":"ping"}\n');
    await h.settle();
    expect(h.replies).toEqual([{ jsonrpc: '2.0', id: 'req-7', error: { code: -32600, message: expect.stringMatching(/^message over 1024 bytes/) } }]);
    expect(h.received).toEqual([{ jsonrpc: '2.0', id: 8, method: 'ping' }]);
  });

  it('answers non-JSON with -32700 (id null) and non-JSON-RPC with -32600 (its id)', async () => {
    const h = await harness(1024);
    h.stdin.write('nope\n{"id":3,"method":5}\n"str"\n');
    await h.settle();
    expect(h.replies).toEqual([
      { jsonrpc: '2.0', id: null, error: { code: -32700, message: expect.stringMatching(/parse error/) } },
      { jsonrpc: '2.0', id: 3, error: { code: -32600, message: expect.stringMatching(/invalid request/) } },
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: expect.stringMatching(/invalid request/) } },
    ]);
    expect(h.received).toEqual([]);
  });
});

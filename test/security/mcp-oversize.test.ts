/**
 * Attack: a client (or a compromised agent) writes huge lines on `berth mcp`'s stdin. The SDK's
 * stdio transport closed itself on any line over 10 MiB, leaving the server deaf. Now every
 * oversized or malformed line gets a JSON-RPC error and the next request is served. Real spawned
 * server, real bytes on its stdin.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { TOOL_NAMES } from '../../runner/mcp/tool.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MAX_MESSAGE_BYTES } from '../../runner/mcp/limits.js';
import { describeDocker } from '../helpers/docker.js';
import { makeFixture, TappedStdioTransport, waitFor, type McpFixture } from '../mcp/helpers.js';

const MiB = 1024 * 1024;
/** A request that cannot hang the test: a deaf server fails it here instead. */
const BOUNDED = { timeout: 20_000 };

describeDocker('berth mcp survives oversized and malformed stdin lines', () => {
  let fx: McpFixture;
  let t: TappedStdioTransport;
  let client: Client;

  beforeAll(async () => {
    fx = makeFixture('berth-mcp-oversize-');
    t = new TappedStdioTransport(['mcp', '--repo', fx.repo, '--log-level', 'warn'], fx.env());
    client = new Client({ name: 'oversize', version: '1' });
    t.onerror = () => undefined; // id-less error replies do not fit the SDK's schema; rawLines has them
    await client.connect(t);
  });
  afterAll(async () => {
    t?.kill('SIGKILL');
    await fx?.cleanup();
  });

  const errorLines = () =>
    t.rawLines.map((l) => JSON.parse(l) as { id?: unknown; error?: { code: number; message: string } }).filter((m) => m.error !== undefined);

  it('answers an 11 MiB line that is not JSON with -32700 and keeps serving', async () => {
    t.writeRaw(`${'x'.repeat(11 * MiB)}\n`);
    await waitFor('a parse error reply', () => errorLines().some((m) => m.error?.code === ErrorCode.ParseError));
    expect(errorLines().find((m) => m.error?.code === ErrorCode.ParseError)).toMatchObject({
      id: null,
      error: { message: expect.stringMatching(/parse error/) },
    });
    const { tools } = await client.listTools(undefined, BOUNDED);
    expect(tools).toHaveLength(TOOL_NAMES.length);
  });

  it('an 11 MiB valid request reaches argument validation (InvalidParams), not a dead server', async () => {
    await expect(
      client.callTool({ name: 'file_write', arguments: { workspace: 'w', path: 'big.txt', content: 'y'.repeat(11 * MiB) } }, undefined, BOUNDED),
    ).rejects.toMatchObject({ code: ErrorCode.InvalidParams, message: expect.stringMatching(/content is longer than/) });
    expect((await client.listTools(undefined, BOUNDED)).tools).toHaveLength(TOOL_NAMES.length);
  });

  it('refuses a line over the message limit with -32600 and the request id, without buffering it', async () => {
    const size = MAX_MESSAGE_BYTES + MiB;
    // id first (hand-written clients) ...
    t.writeRaw(`{"jsonrpc":"2.0","id":4242,"method":"tools/call","params":{"name":"file_write","arguments":{"content":"${'z'.repeat(size)}"}}}\n`);
    await waitFor('the -32600 reply for id 4242', () => errorLines().some((m) => m.id === 4242));
    expect(errorLines().find((m) => m.id === 4242)?.error).toEqual({
      code: ErrorCode.InvalidRequest,
      message: expect.stringMatching(/message over 25165824 bytes/),
    });
    // ... and id last (the SDK client): its pending call fails instead of hanging.
    await expect(
      client.callTool({ name: 'file_write', arguments: { workspace: 'w', path: 'big.txt', content: 'q'.repeat(size) } }, undefined, BOUNDED),
    ).rejects.toMatchObject({ code: ErrorCode.InvalidRequest, message: expect.stringMatching(/message over/) });
    expect((await client.listTools(undefined, BOUNDED)).tools).toHaveLength(TOOL_NAMES.length);
  });

  it('answers JSON that is not JSON-RPC with -32600, keeping its id', async () => {
    t.writeRaw('{"jsonrpc":"1.0","id":"abc","method":7}\n[1,2,3]\n\n');
    await waitFor('the -32600 reply for id "abc"', () => errorLines().some((m) => m.id === 'abc'));
    expect((await client.listTools(undefined, BOUNDED)).tools).toHaveLength(TOOL_NAMES.length);
    const stdoutLines = t.rawLines.map((l) => JSON.parse(l) as { jsonrpc?: string });
    expect(stdoutLines.every((m) => m.jsonrpc === '2.0')).toBe(true);
  });
});

/**
 * The in-process MCP tier: the real server from createServer(deps) over a real Runner (real git,
 * real Docker), connected to the SDK's Client through InMemoryTransport. No process is spawned,
 * so a suite pays only for what its tools do.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { createLogger } from '../../src/log.js';
import { createLifecycle, createServer, type ServerDeps } from '../../runner/mcp/index.js';
import { Runner } from '../../runner/session/runner.js';
import { makeFixture, type McpFixture } from './helpers.js';

export interface InProcess {
  readonly fx: McpFixture;
  readonly client: Client;
  readonly runner: Runner;
  call(name: string, args: unknown): Promise<CallToolResult>;
  /** Closes client, server and runner (stopping its containers), then removes every object of the temp repo. */
  close(): Promise<void>;
}

export const textOf = (r: CallToolResult): string => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');

export async function startInProcess(opts: { workspace?: string; prefix?: string } = {}): Promise<InProcess> {
  const fx = makeFixture(opts.prefix ?? 'berth-mcp-inproc-');
  const logger = createLogger({ level: 'error' });
  const runner = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, logger, reconcile: false });
  const controller = new AbortController();
  const deps: ServerDeps = {
    runner,
    logger,
    lifecycle: createLifecycle(controller.signal),
    version: '0.0.0-test',
    ...(opts.workspace === undefined ? {} : { workspace: opts.workspace }),
  };
  const server = createServer(deps);
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'berth-inprocess-test', version: '1.0.0' });
  await client.connect(clientSide);
  return {
    fx,
    client,
    runner,
    // Arguments are sent as given (no client-side typing): the server is what is under test.
    call: async (name, args) => (await client.callTool({ name, arguments: args as Record<string, unknown> })) as CallToolResult,
    close: async () => {
      controller.abort();
      await client.close().catch(() => undefined);
      await server.close().catch(() => undefined);
      await runner.close().catch(() => undefined);
      await fx.cleanup();
    },
  };
}

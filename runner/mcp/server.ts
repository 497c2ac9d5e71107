/**
 * createServer(deps): the 2025-era MCP server (revisions 2025-06-18 / 2025-11-25, SDK v1, the
 * `initialize` handshake) with every berth tool of the shared catalog (revisions/catalog.ts)
 * registered. It holds no state of its own beyond what the SDK keeps per connection, so the
 * stdio main makes one per connection and the HTTP transport one per client session, all sharing
 * the same Runner through `deps`. The 2026-07-28 server (revisions/modern.ts) registers the same
 * catalog on SDK v2.
 *
 * Bad arguments and unknown tool names are JSON-RPC protocol errors (-32602 InvalidParams), not
 * tool results: they are the client's bug, not a domain outcome. The SDK (1.32) would fold them
 * into `isError` results, so tools/call is routed through the catalog's dispatcher after
 * registration; tools/list still comes from the SDK's registry. On stdio, plain tools/call
 * requests skip the SDK's request pipeline altogether (revisions/fast-lane.ts) and reach the same
 * dispatcher.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode, McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { ServerDeps } from './deps.js';
import { instructions } from './instructions.js';
import { callSignal, dispatcher, registerCatalog, toolCatalog, type Dispatch } from './revisions/catalog.js';

/** Server identity, the same on every revision. */
export function serverInfo(deps: ServerDeps): { name: string; title: string; version: string } {
  return { name: 'berth', title: 'berth workspaces', version: deps.version };
}

/** The JSON-RPC error of a client's mistake in tools/call, as the SDK would have sent it. */
export const invalidParams = (message: string): McpError => new McpError(ErrorCode.InvalidParams, message);

export function createServer(deps: ServerDeps): McpServer {
  return legacyServer(deps).server;
}

/** The 2025-era server and the dispatcher its tools/call handler uses (the stdio fast lane shares it). */
export function legacyServer(deps: ServerDeps): { server: McpServer; dispatch: Dispatch } {
  const server = new McpServer(serverInfo(deps), { instructions: instructions(deps.workspace) });
  const entries = toolCatalog(deps);
  registerCatalog(server, entries);
  const dispatch = dispatcher(entries, invalidParams);
  // The SDK parses a request with the registered schema before its own tools/call check, and a
  // failed parse there becomes -32603 (internal error). Registering a lenient schema leaves the
  // check to the SDK's tools/call wrapper, which answers -32602 (InvalidParams) as it should.
  server.server.setRequestHandler(ANY_TOOLS_CALL, async (request, extra): Promise<CallToolResult> => {
    const { name, arguments: args } = (request as unknown as { params: { name: string; arguments?: unknown } }).params;
    return dispatch(name, args, {
      signal: callSignal(deps, extra.signal),
      progressToken: extra._meta?.progressToken,
      notify: (n) => extra.sendNotification(n),
    });
  });
  return { server, dispatch };
}

const ANY_TOOLS_CALL = z.object({ method: z.literal('tools/call'), params: z.unknown().optional() });

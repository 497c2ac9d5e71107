/**
 * createModernServer(deps): the MCP 2026-07-28 server (SDK v2, `@modelcontextprotocol/server`):
 * stateless, no `initialize`, `server/discover` answered by the SDK from what is registered here.
 * It registers the same catalog as the 2025-era server (server.ts), so names, titles,
 * descriptions, schemas, annotations and handlers are one definition served twice.
 * https://modelcontextprotocol.io/specification/2026-07-28
 *
 * As on the 2025 side, bad arguments and unknown tools are -32602 (InvalidParams) protocol errors,
 * not `isError` results (the v2 McpServer would fold them into results), so tools/call is
 * replaced by berth's dispatcher once the tools are registered; tools/list and server/discover
 * stay the SDK's.
 */
import { McpServer, ProtocolError, ProtocolErrorCode, type CallToolResult } from '@modelcontextprotocol/server';
import type { ServerDeps } from '../deps.js';
import { instructions } from '../instructions.js';
import { serverInfo } from '../server.js';
import { callSignal, dispatcher, registerCatalog, toolCatalog } from './catalog.js';

export { MODERN_REVISION } from './era.js';

export function createModernServer(deps: ServerDeps): McpServer {
  const server = new McpServer(serverInfo(deps), { instructions: instructions(deps.workspace) });
  const entries = toolCatalog(deps);
  registerCatalog(server, entries);
  const dispatch = dispatcher(entries, (message) => new ProtocolError(ProtocolErrorCode.InvalidParams, message));
  server.server.removeRequestHandler('tools/call');
  server.server.setRequestHandler('tools/call', async (request, ctx): Promise<CallToolResult> => {
    const result = await dispatch(request.params.name, request.params.arguments, {
      signal: callSignal(deps, ctx.mcpReq.signal),
      progressToken: ctx.mcpReq._meta?.progressToken,
      notify: (n) => ctx.mcpReq.notify(n),
    });
    return result as CallToolResult;
  });
  return server;
}

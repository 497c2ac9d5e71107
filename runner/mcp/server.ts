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
 * into `isError` results, so tools/call is routed through our own dispatcher after registration;
 * tools/list still comes from the SDK's registry.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { CallToolRequestSchema, ErrorCode, McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { ServerDeps } from './deps.js';
import { instructions } from './instructions.js';
import { invalidArguments, toolCatalog, unknownTool, type CatalogEntry } from './revisions/catalog.js';

/** Server identity, the same on every revision. */
export function serverInfo(deps: ServerDeps): { name: string; title: string; version: string } {
  return { name: 'berth', title: 'berth workspaces', version: deps.version };
}

export function createServer(deps: ServerDeps): McpServer {
  const server = new McpServer(serverInfo(deps), { instructions: instructions(deps.workspace) });
  const dispatch = new Map<string, CatalogEntry>();
  for (const entry of toolCatalog(deps)) {
    dispatch.set(entry.name, entry);
    server.registerTool(
      entry.name,
      { title: entry.title, description: entry.description, inputSchema: entry.input, outputSchema: entry.output, annotations: entry.annotations },
      // Never reached: tools/call is dispatched below; registration feeds tools/list.
      () => ({ content: [] }),
    );
  }
  // The SDK parses a request with the registered schema before its own tools/call check, and a
  // failed parse there becomes -32603 (internal error). Registering a lenient schema leaves the
  // check to the SDK's tools/call wrapper, which answers -32602 (InvalidParams) as it should.
  server.server.setRequestHandler(ANY_TOOLS_CALL, async (raw, extra): Promise<CallToolResult> => {
    const request = CallToolRequestSchema.parse(raw);
    const { name } = request.params;
    const entry = dispatch.get(name);
    if (!entry) throw new McpError(ErrorCode.InvalidParams, unknownTool(name));
    const parsed = entry.input.safeParse(request.params.arguments ?? {});
    if (!parsed.success) throw new McpError(ErrorCode.InvalidParams, invalidArguments(name, parsed.error));
    return entry.call(parsed.data, {
      signal: extra.signal,
      progressToken: extra._meta?.progressToken,
      notify: (n) => extra.sendNotification(n),
    });
  });
  return server;
}

const ANY_TOOLS_CALL = z.object({ method: z.literal('tools/call'), params: z.unknown().optional() });

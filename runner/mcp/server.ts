/**
 * createServer(deps): one McpServer with every berth tool registered. It holds no state of its own
 * beyond what the SDK keeps per connection, so the stdio main makes one and the HTTP transport one
 * per client session, all sharing the same Runner through `deps`.
 *
 * Per call the wrapper: resolves the target workspace (the `workspace` argument, or the pinned
 * one), combines the client's cancellation (`notifications/cancelled` aborts `extra.signal`) with
 * server shutdown into one AbortSignal for the tool, wires progress to `_meta.progressToken`, and
 * turns thrown berth errors into `isError` results with a next step.
 *
 * Bad arguments and unknown tool names are JSON-RPC protocol errors (-32602 InvalidParams), not
 * tool results: they are the client's bug, not a domain outcome. The SDK (1.32) would fold them
 * into `isError` results, so tools/call is routed through our own dispatcher after registration;
 * tools/list still comes from the SDK's registry.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  McpError,
  type CallToolResult,
  type ServerNotification,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { NAME_PATTERN } from '../../src/workspace/index.js';
import type { ServerDeps } from './deps.js';
import { instructions } from './instructions.js';
import { Progress } from './progress.js';
import { errorResult, successResult } from './result.js';
import { ToolCall, type ToolDefinition } from './tool.js';
import { TOOLS } from './tools/index.js';

const workspaceArgument = z
  .string()
  .regex(NAME_PATTERN, 'a workspace name: lowercase letters, digits, ".", "_" or "-"')
  .describe('Name of the workspace to act on (from workspace_create or workspace_list).');

export function createServer(deps: ServerDeps): McpServer {
  const server = new McpServer({ name: 'berth', title: 'berth workspaces', version: deps.version }, { instructions: instructions(deps.workspace) });
  const dispatch = new Map<string, Registered>();
  for (const tool of TOOLS) {
    const entry = register(server, deps, tool as ToolDefinition<z.ZodRawShape, z.ZodRawShape>);
    dispatch.set(tool.name, entry);
  }
  // The SDK parses a request with the registered schema before its own tools/call check, and a
  // failed parse there becomes -32603 (internal error). Registering a lenient schema leaves the
  // check to the SDK's tools/call wrapper, which answers -32602 (InvalidParams) as it should.
  server.server.setRequestHandler(ANY_TOOLS_CALL, async (raw, extra) => {
    const request = CallToolRequestSchema.parse(raw);
    const { name } = request.params;
    const entry = dispatch.get(name);
    if (!entry) {
      throw new McpError(ErrorCode.InvalidParams, `unknown tool ${JSON.stringify(name)}: call tools/list for berth's tools`);
    }
    const parsed = entry.schema.safeParse(request.params.arguments ?? {});
    if (!parsed.success) {
      throw new McpError(ErrorCode.InvalidParams, `invalid arguments for ${name}: ${z.prettifyError(parsed.error)}`);
    }
    return entry.handler(parsed.data, extra);
  });
  return server;
}

const ANY_TOOLS_CALL = z.object({ method: z.literal('tools/call'), params: z.unknown().optional() });

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;
interface Registered {
  readonly schema: z.ZodObject;
  readonly handler: (args: Record<string, unknown>, extra: Extra) => Promise<CallToolResult>;
}

function register(server: McpServer, deps: ServerDeps, tool: ToolDefinition<z.ZodRawShape, z.ZodRawShape>): Registered {
  const workspaceArg = tool.scope === 'workspace' && deps.workspace === undefined;
  const shape: z.ZodRawShape = workspaceArg ? { workspace: workspaceArgument, ...tool.input } : tool.input;
  const schema = z.object(shape);
  const handler: Registered['handler'] = async (args, extra): Promise<CallToolResult> => {
    const input = args as Record<string, unknown>;
    const workspace = deps.workspace ?? (workspaceArg ? String(input.workspace) : '');
    const logger = deps.logger.child({ tool: tool.name, ...(workspace ? { workspace } : {}) });
    if (deps.lifecycle.signal.aborted) {
      return { isError: true, content: [{ type: 'text', text: 'SHUTTING_DOWN: berth mcp is shutting down and takes no new calls.' }] };
    }
    const progress = new Progress(extra._meta?.progressToken, (n) => extra.sendNotification(n), logger);
    const call = new ToolCall({
      deps,
      signal: AbortSignal.any([extra.signal, deps.lifecycle.signal]),
      progress,
      logger,
      workspace,
    });
    const started = Date.now();
    logger.debug('tool call');
    const work = (async (): Promise<CallToolResult> => {
      try {
        return successResult(await tool.run(input, call));
      } catch (err) {
        return errorResult(err, logger, { tool: tool.name, workspaceArg });
      } finally {
        await progress.flush();
        logger.debug('tool done', { ms: Date.now() - started, cancelled: extra.signal.aborted });
      }
    })();
    return deps.lifecycle.track(work);
  };
  server.registerTool(
    tool.name,
    {
      title: tool.title,
      description: tool.description,
      inputSchema: schema,
      outputSchema: z.object(tool.output),
      annotations: { title: tool.title, ...tool.annotations },
    },
    handler,
  );
  return { schema, handler };
}

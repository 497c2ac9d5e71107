/**
 * The one source of truth for every MCP revision berth serves: each tool of `TOOLS` becomes a
 * revision-neutral entry (name, title, description, input/output schemas, annotations, handler).
 * The 2025-era server (server.ts, SDK v1) and the 2026-07-28 server (modern.ts, SDK v2) both
 * register exactly these entries, so the two revisions cannot drift apart.
 *
 * Per call the handler: resolves the target workspace (the `workspace` argument, or the pinned
 * one), combines the client's cancellation with server shutdown into one AbortSignal for the
 * tool, wires progress to the request's progress token, and turns thrown berth errors into
 * `isError` results with a next step.
 */
import { z } from 'zod';
import { NAME_PATTERN } from '../../../src/workspace/index.js';
import type { ServerDeps } from '../deps.js';
import { Progress, type SendNotification } from '../progress.js';
import { errorResult, successResult } from '../result.js';
import { ToolCall, type ToolAnnotationHints, type ToolDefinition } from '../tool.js';
import { TOOLS } from '../tools/index.js';

const workspaceArgument = z
  .string()
  .regex(NAME_PATTERN, 'a workspace name: lowercase letters, digits, ".", "_" or "-"')
  .describe('Name of the workspace to act on (from workspace_create or workspace_list).');

/** A tool result, in the wire shape both SDKs accept. */
export interface ToolResult {
  [key: string]: unknown;
  content: { type: 'text'; text: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
}

/** What a transport/revision adapter hands the handler for one call. */
export interface CallContext {
  /** Aborts when the client cancels the request (or its connection goes away). */
  readonly signal: AbortSignal;
  readonly progressToken: string | number | undefined;
  readonly notify: SendNotification;
}

export interface CatalogEntry {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  /** The full input schema, with the `workspace` argument when the server is not pinned. */
  readonly input: z.ZodObject;
  readonly output: z.ZodObject;
  readonly annotations: ToolAnnotationHints & { readonly title: string };
  /** `args` must already have passed `input`. */
  call(args: Record<string, unknown>, ctx: CallContext): Promise<ToolResult>;
}

/** Every tool, ready to register on either SDK's server. */
export function toolCatalog(deps: ServerDeps): CatalogEntry[] {
  return TOOLS.map((tool) => entry(deps, tool as ToolDefinition<z.ZodRawShape, z.ZodRawShape>));
}

function entry(deps: ServerDeps, tool: ToolDefinition<z.ZodRawShape, z.ZodRawShape>): CatalogEntry {
  const workspaceArg = tool.scope === 'workspace' && deps.workspace === undefined;
  const shape: z.ZodRawShape = workspaceArg ? { workspace: workspaceArgument, ...tool.input } : tool.input;
  return {
    name: tool.name,
    title: tool.title,
    description: tool.description,
    input: z.object(shape),
    output: z.object(tool.output),
    annotations: { title: tool.title, ...tool.annotations },
    call: (args, ctx) => runTool(deps, tool, workspaceArg, args, ctx),
  };
}

async function runTool(
  deps: ServerDeps,
  tool: ToolDefinition<z.ZodRawShape, z.ZodRawShape>,
  workspaceArg: boolean,
  input: Record<string, unknown>,
  ctx: CallContext,
): Promise<ToolResult> {
  const workspace = deps.workspace ?? (workspaceArg ? String(input.workspace) : '');
  const logger = deps.logger.child({ tool: tool.name, ...(workspace ? { workspace } : {}) });
  if (deps.lifecycle.signal.aborted) {
    return { isError: true, content: [{ type: 'text', text: 'SHUTTING_DOWN: berth mcp is shutting down and takes no new calls.' }] };
  }
  const progress = new Progress(ctx.progressToken, ctx.notify, logger);
  const call = new ToolCall({ deps, signal: AbortSignal.any([ctx.signal, deps.lifecycle.signal]), progress, logger, workspace });
  const started = Date.now();
  logger.debug('tool call');
  const work = (async (): Promise<ToolResult> => {
    try {
      return successResult(await tool.run(input, call)) as ToolResult;
    } catch (err) {
      return errorResult(err, logger, { tool: tool.name, workspaceArg }) as ToolResult;
    } finally {
      await progress.flush();
      logger.debug('tool done', { ms: Date.now() - started, cancelled: ctx.signal.aborted });
    }
  })();
  return deps.lifecycle.track(work);
}

/** The message of a failed argument check, the same on every revision. */
export function invalidArguments(name: string, error: z.ZodError): string {
  return `invalid arguments for ${name}: ${z.prettifyError(error)}`;
}

export function unknownTool(name: string): string {
  return `unknown tool ${JSON.stringify(name)}: call tools/list for berth's tools`;
}

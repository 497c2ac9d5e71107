/**
 * The one source of truth for every MCP revision berth serves: each tool of `TOOLS` becomes a
 * revision-neutral entry (name, title, description, input/output schemas, annotations, handler).
 * The 2025-era server (server.ts, SDK v1) and the 2026-07-28 server (modern.ts, SDK v2) both
 * register exactly these entries, so the two revisions cannot drift apart.
 *
 * Per call the handler: resolves the target workspace (the `workspace` argument, or the pinned
 * one), wires progress to the request's progress token, and turns thrown berth errors into
 * `isError` results with a next step. The revision adapter hands it one AbortSignal that covers
 * both the client's cancellation and server shutdown (`callSignal`, or the stdio fast lane's own
 * per-request controller, which shutdown aborts directly).
 *
 * `dispatcher` is the one tools/call dispatcher every adapter uses: unknown tools and bad
 * arguments are JSON-RPC -32602 (InvalidParams) protocol errors, not tool results (they are the
 * client's bug, not a domain outcome); each adapter supplies its SDK's error class.
 */
import { z } from 'zod';
import { NAME_PATTERN } from '../../../src/workspace/index.js';
import type { Logger } from '../../../src/log.js';
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
  /** Aborts when the client cancels the request (or its connection goes away) or the server shuts down. */
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
  const loggers = childLoggers(deps.logger, tool.name);
  return {
    name: tool.name,
    title: tool.title,
    description: tool.description,
    input: z.object(shape),
    output: z.object(tool.output),
    annotations: { title: tool.title, ...tool.annotations },
    call: (args, ctx) => runTool(deps, tool, workspaceArg, loggers, args, ctx),
  };
}

/** Most servers see one or a few workspaces: beyond this many, the cache starts over. */
const MAX_CACHED_LOGGERS = 64;

/**
 * The tool's logger per workspace, made once: a child logger per call was a measurable part of a
 * trivial exec (an object and a field merge per call, for debug lines that are usually off).
 */
function childLoggers(logger: Logger, tool: string): (workspace: string) => Logger {
  const cache = new Map<string, Logger>();
  return (workspace) => {
    let child = cache.get(workspace);
    if (!child) {
      if (cache.size >= MAX_CACHED_LOGGERS) cache.clear();
      child = logger.child({ tool, ...(workspace ? { workspace } : {}) });
      cache.set(workspace, child);
    }
    return child;
  };
}

/** For SDK adapters: the request's own signal, also aborted at server shutdown. */
export function callSignal(deps: ServerDeps, request: AbortSignal): AbortSignal {
  return AbortSignal.any([request, deps.lifecycle.signal]);
}

async function runTool(
  deps: ServerDeps,
  tool: ToolDefinition<z.ZodRawShape, z.ZodRawShape>,
  workspaceArg: boolean,
  loggers: (workspace: string) => Logger,
  input: Record<string, unknown>,
  ctx: CallContext,
): Promise<ToolResult> {
  const workspace = deps.workspace ?? (workspaceArg ? String(input.workspace) : '');
  const logger = loggers(workspace);
  if (deps.lifecycle.signal.aborted) {
    return { isError: true, content: [{ type: 'text', text: 'SHUTTING_DOWN: berth mcp is shutting down and takes no new calls.' }] };
  }
  const progress = new Progress(ctx.progressToken, ctx.notify, logger);
  const call = new ToolCall({ deps, signal: ctx.signal, progress, logger, workspace });
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
function invalidArguments(name: string, error: z.ZodError): string {
  return `invalid arguments for ${name}: ${z.prettifyError(error)}`;
}

function unknownTool(name: string): string {
  return `unknown tool ${JSON.stringify(name)}: call tools/list for berth's tools`;
}

/** tools/call: the tool's name and its (not yet checked) arguments; throws `invalid(message)` for the client's mistakes. */
export type Dispatch = (name: string, args: unknown, ctx: CallContext) => Promise<ToolResult>;

export function dispatcher(entries: readonly CatalogEntry[], invalid: (message: string) => Error): Dispatch {
  const byName = new Map(entries.map((e) => [e.name, e]));
  return (name, args, ctx) => {
    const entry = byName.get(name);
    if (!entry) throw invalid(unknownTool(name));
    const parsed = entry.input.safeParse(args ?? {});
    if (!parsed.success) throw invalid(invalidArguments(name, parsed.error));
    return entry.call(parsed.data, ctx);
  };
}

/** What both SDKs' McpServer offer for registration (their option types differ only in generics). */
interface ToolRegistry {
  registerTool(
    name: string,
    config: { title: string; description: string; inputSchema: z.ZodObject; outputSchema: z.ZodObject; annotations: CatalogEntry['annotations'] },
    handler: () => { content: [] },
  ): unknown;
}

/**
 * Registers every entry on an SDK server for tools/list (and server/discover): the same names,
 * titles, descriptions, schemas and annotations on every revision. The handler given here is
 * never reached: each adapter routes tools/call to `dispatcher` instead.
 */
export function registerCatalog(server: ToolRegistry, entries: readonly CatalogEntry[]): void {
  for (const e of entries) {
    server.registerTool(
      e.name,
      { title: e.title, description: e.description, inputSchema: e.input, outputSchema: e.output, annotations: e.annotations },
      () => ({ content: [] }),
    );
  }
}

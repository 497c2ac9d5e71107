/**
 * The shape of one MCP tool (runner/mcp/tools/<name>.ts exports one) and the per-call context the
 * server hands it: the cancellation signal, progress, and access to the workspace the call targets.
 */
import type { z } from 'zod';
import type { WorkspaceInfo } from '../../src/workspace/index.js';
import { withImageFallback, type ResolvedSpec } from '../../src/project/index.js';
import { ensureImageRef, pullByteCounter } from '../../docker/index.js';
import type { Logger } from '../../src/log.js';
import { WorkspaceFiles, type WorkspaceFilesApi } from '../session/index.js';
import type { McpSession, ServerDeps } from './deps.js';
import { pullTransfer, type Progress } from './progress.js';
import type { ToolReply } from './result.js';

/** The tool names are a contract with agents and their prompts: never rename one. */
export const TOOL_NAMES = [
  'workspace_create',
  'workspace_list',
  'workspace_delete',
  'exec',
  'exec_wait',
  'exec_output',
  'exec_kill',
  'process_list',
  'process_kill',
  'process_log',
  'file_read',
  'file_write',
  'file_edit',
  'file_list',
  'file_delete',
  'checkpoint',
  'diff',
  'log',
  'pipeline_run',
  'engines',
] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

/**
 * The four MCP tool hints, all required: clients decide on them whether to ask the user before a
 * call (https://modelcontextprotocol.io/specification/2025-06-18/server/tools#tool-annotations).
 * The same on every revision berth serves.
 */
export interface ToolAnnotationHints {
  readonly readOnlyHint: boolean;
  readonly destructiveHint: boolean;
  readonly idempotentHint: boolean;
  readonly openWorldHint: boolean;
}

export interface ToolDefinition<I extends z.ZodRawShape, O extends z.ZodRawShape> {
  readonly name: ToolName;
  readonly title: string;
  /** Written for a model: what it does, when to use it, what comes back. */
  readonly description: string;
  /**
   * 'workspace': acts on one workspace; the server adds a required `workspace` argument unless it
   * runs with --workspace. 'repo': acts on the repository (create/list).
   */
  readonly scope: 'workspace' | 'repo';
  readonly input: I;
  readonly output: O;
  readonly annotations: ToolAnnotationHints;
  run(args: z.output<z.ZodObject<I>>, call: ToolCall): Promise<ToolReply<z.output<z.ZodObject<O>>>>;
}

/** Identity function that keeps the generic parameters inferred per tool file. */
export function defineTool<I extends z.ZodRawShape, O extends z.ZodRawShape>(def: ToolDefinition<I, O>): ToolDefinition<I, O> {
  return def;
}

/** pullProgressLines' per-layer byte line ("layer 1a2b Downloading 1.0/3.0 MB"), carried by transfers instead. */
export const PULL_BYTES_LINE = /: layer \S+ Downloading [\d.]+\/[\d.]+ MB$/;

/** Everything a tool handler may use during one call. */
export class ToolCall {
  readonly deps: ServerDeps;
  /** Aborts when the client cancels the request or the server shuts down. */
  readonly signal: AbortSignal;
  readonly progress: Progress;
  readonly logger: Logger;
  /** The targeted workspace ('' for repository-scoped tools without --workspace). */
  readonly workspace: string;

  constructor(init: { deps: ServerDeps; signal: AbortSignal; progress: Progress; logger: Logger; workspace: string }) {
    this.deps = init.deps;
    this.signal = init.signal;
    this.progress = init.progress;
    this.logger = init.logger;
    this.workspace = init.workspace;
  }

  /** The server is pinned to one workspace (`--workspace`), which tools create on first use. */
  get pinned(): boolean {
    return this.deps.workspace !== undefined;
  }

  /**
   * The open session of `name`: the live one, or opened now (container started or created, setup
   * run), with progress for the slow parts. Only a pinned workspace is created on demand; otherwise
   * a missing one is an error that tells the agent to call workspace_create.
   */
  async session(name: string = this.workspace, opts: { create?: boolean; base?: string; strictImage?: boolean } = {}): Promise<McpSession> {
    const runner = this.deps.runner;
    const live = runner.get(name);
    if (live) return live;
    const create = opts.create ?? (this.pinned && name === this.deps.workspace);
    if (!create) await runner.workspaces.get(name, { signal: this.signal });
    await this.ensureImage(undefined, opts.strictImage);
    this.progress.step(`opening workspace ${name} (starting its container)`);
    const session = await runner.open(name, {
      create,
      ...(opts.strictImage ? { strictImage: true } : {}),
      ...(opts.base === undefined ? {} : { base: opts.base }),
      signal: this.signal,
      onOutput: (_stream, chunk) => this.progress.output(chunk),
    });
    if (session.setup.ran) this.progress.step(`setup ${session.setup.ok ? 'finished' : 'failed'} (${session.setup.steps.length} commands)`);
    return session;
  }

  /** The workspace's git state; a pinned workspace that does not exist yet is created (with its container). */
  async info(name: string = this.workspace): Promise<WorkspaceInfo> {
    const found = await this.deps.runner.workspaces.find(name, { signal: this.signal });
    if (found) return found;
    if (this.pinned && name === this.deps.workspace) return (await this.session(name)).workspace;
    return this.deps.runner.workspaces.get(name, { signal: this.signal });
  }

  /** File operations confined to the workspace's worktree (they run on the host; no container needed). */
  async files(opts: { maxFileBytes?: number } = {}, name: string = this.workspace): Promise<WorkspaceFilesApi> {
    // --- remote workspaces: the tree is a volume on the engine; the tools exec in the session ---
    if (this.deps.runner.remote) {
      await this.session(name);
      const remote = this.deps.runner.remoteFiles?.(name, opts);
      if (remote) return remote;
    }
    const info = await this.info(name);
    const workdir = this.deps.runner.get(name)?.spec.workdir ?? (await this.deps.runner.resolve()).spec.workdir;
    return new WorkspaceFiles(info.worktree, { containerWorkdir: workdir, ...opts });
  }

  /** Build berth's own image for the spec if it is missing (slow: progress is reported). */
  async ensureImage(image?: string, strictImage?: boolean): Promise<void> {
    const ensure = (ref: string, spec?: ResolvedSpec) =>
      ensureImageRef(ref, {
        signal: this.signal,
        ...(spec ? { pull: spec.pull, build: spec.build && { spec: spec.build, root: this.deps.runner.repo.path } } : {}),
        onProgress: (line) => {
          // Download bytes go out as transfer notifications (below); the other lines as milestones.
          if (!/: present$/.test(line) && !PULL_BYTES_LINE.test(line)) this.progress.step(line);
        },
        onPullProgress: pullByteCounter(ref, (b) => this.progress.transfer(pullTransfer(b))),
      });
    if (image !== undefined) return void (await ensure(image));
    // A devcontainer image that can't be had falls back to the detected one; open() says so once.
    const resolved = await this.deps.runner.resolve();
    if (resolved.devcontainer?.fallback) await withImageFallback(resolved, (spec) => ensure(spec.image, spec), strictImage ? { strictImage } : {});
    else await ensure(resolved.spec.image);
  }
}

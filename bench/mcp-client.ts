/**
 * A real MCP client for the bench: spawns `node bin/berth.js mcp --repo <tmp> [--workspace <ws>]`
 * through the SDK's StdioClientTransport and calls tools with the SDK's own `Client`, exactly as an
 * agent's MCP host does: it lists the tools first (so the client validates every result against
 * the tool's output schema, as hosts do) and, in the default mode, passes `workspace` on each call.
 *
 *   default  no --workspace: the agent creates a workspace (workspace_create) and names it on
 *            every call; what agents run and what the goal is judged on
 *   pinned   --workspace <ws>: every tool acts on that workspace, created on first use
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Fixture } from './fixture.js';

const BIN = fileURLToPath(new URL('../bin/berth.js', import.meta.url));
const MCP_MAIN = fileURLToPath(new URL('../runner/mcp/main.ts', import.meta.url));

/** Why `berth mcp` cannot be measured in this checkout, or undefined when it can. */
export function mcpUnavailable(): string | undefined {
  if (!existsSync(MCP_MAIN)) return 'runner/mcp has not landed in this checkout';
  return undefined;
}

export interface McpExecResult {
  readonly exitCode: number | null;
  readonly stdout: string;
}

export interface McpBench {
  readonly mode: 'default' | 'pinned';
  /** The server child's pid (null once it has exited). */
  readonly pid: number | null;
  /** Runs `command` in the workspace (its container is opened by the first call). */
  exec(command: string): Promise<McpExecResult>;
  close(): Promise<void>;
}

export interface McpStartOptions {
  /** 'pinned' starts the server with --workspace; 'default' (the default) does not. */
  readonly mode?: 'default' | 'pinned';
  /** Node flags for the server child, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/p'] for a profile. */
  readonly nodeArgs?: readonly string[];
  /** Another checkout's bin/berth.js (an A/B of two versions in one run). */
  readonly bin?: string;
  /** Send a progress token on each call (as hosts that pass `onprogress` do). */
  readonly progress?: boolean;
}

export async function startMcp(fx: Fixture, workspace: string, opts: McpStartOptions = {}): Promise<McpBench> {
  const mode = opts.mode ?? 'default';
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [
      ...(opts.nodeArgs ?? []),
      opts.bin ?? BIN,
      'mcp',
      '--repo',
      fx.repo,
      ...(mode === 'pinned' ? ['--workspace', workspace] : []),
      '--log-level',
      'warn',
    ],
    env: fx.childEnv(),
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString('utf8')).slice(-4000);
  });
  const client = new Client({ name: 'berth-bench', version: '1' });
  let untrack: () => void = () => undefined;
  transport.onclose = () => untrack();
  const lastErr = () => (stderr ? ` (stderr: ${stderr.trim().split('\n').pop()})` : '');
  try {
    await client.connect(transport);
    if (transport.pid !== null) untrack = fx.track(transport.pid);
    // Hosts list the tools before calling them; the client then checks each structuredContent.
    await client.listTools();
    if (mode === 'default') {
      const r = await client.callTool({ name: 'workspace_create', arguments: { name: workspace } });
      if (r.isError) throw new Error(`workspace_create ${workspace}: ${textOf(r.content).slice(0, 300)}`);
    }
  } catch (err) {
    await client.close().catch(() => undefined);
    throw new Error(`berth mcp (${mode} mode) did not start: ${(err as Error).message}${lastErr()}`, { cause: err });
  }
  const callOptions = opts.progress ? { onprogress: () => undefined, resetTimeoutOnProgress: true } : undefined;
  const args = (command: string) => (mode === 'pinned' ? { command } : { workspace, command });
  return {
    mode,
    get pid() {
      return transport.pid;
    },
    async exec(command) {
      const r = await client.callTool({ name: 'exec', arguments: args(command) }, undefined, callOptions);
      const sc = r.structuredContent as { exitCode?: number | null; stdout?: string } | undefined;
      if (r.isError || !sc) throw new Error(`MCP exec ${JSON.stringify(command)} (${mode} mode) failed: ${textOf(r.content).slice(0, 300)}`);
      return { exitCode: sc.exitCode ?? null, stdout: sc.stdout ?? '' };
    },
    async close() {
      // Closing stdin makes the server stop the container it opened and exit (runner/mcp/main.ts).
      await client.close();
    },
  };
}

function textOf(content: unknown): string {
  return Array.isArray(content) ? content.map((c: { text?: string }) => c.text ?? '').join(' ') : '';
}

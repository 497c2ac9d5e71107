/**
 * A real MCP client for the bench: spawns `node bin/berth.js mcp --repo <tmp> --workspace <ws>`
 * through the SDK's StdioClientTransport, exactly as an agent's MCP host would, and calls tools.
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
  exec(command: string): Promise<McpExecResult>;
  close(): Promise<void>;
}

export async function startMcp(fx: Fixture, workspace: string): Promise<McpBench> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, 'mcp', '--repo', fx.repo, '--workspace', workspace, '--log-level', 'warn'],
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
  try {
    await client.connect(transport);
  } catch (err) {
    await client.close().catch(() => undefined);
    throw new Error(`berth mcp did not start: ${(err as Error).message}${stderr ? ` (stderr: ${stderr.trim().split('\n').pop()})` : ''}`, { cause: err });
  }
  if (transport.pid !== null) untrack = fx.track(transport.pid);
  return {
    async exec(command) {
      const r = await client.callTool({ name: 'exec', arguments: { command } });
      const sc = r.structuredContent as { exitCode?: number | null; stdout?: string } | undefined;
      if (r.isError || !sc) {
        const text = Array.isArray(r.content) ? r.content.map((c: { text?: string }) => c.text ?? '').join(' ') : '';
        throw new Error(`MCP exec ${JSON.stringify(command)} failed: ${text.slice(0, 300)}`);
      }
      return { exitCode: sc.exitCode ?? null, stdout: sc.stdout ?? '' };
    },
    async close() {
      // Closing stdin makes the server stop the container it opened and exit (runner/mcp/main.ts).
      await client.close();
    },
  };
}

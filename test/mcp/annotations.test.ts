/**
 * The tool contract on EVERY revision berth serves, for EVERY tool in the registry (so a tool
 * added later is covered without touching this file): a title, the four hints, an output schema,
 * and an identical definition on the 2025 revisions (SDK v1) and on 2026-07-28 (SDK v2). Then a
 * real flow on both revisions, in-process over a real Runner (real git, real Docker), checks every
 * structured result against the output schema its tool advertises, with the SDK's Ajv validator.
 */
import { Client as ModernClient, InMemoryTransport as ModernInMemory } from '@modelcontextprotocol/client';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/client/validators/ajv';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport as LegacyInMemory } from '@modelcontextprotocol/sdk/inMemory.js';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { createLifecycle, createServer, type ServerDeps } from '../../runner/mcp/index.js';
import { createModernServer, MODERN_REVISION } from '../../runner/mcp/revisions/modern.js';
import { TOOLS } from '../../runner/mcp/tools/index.js';
import { Runner } from '../../runner/session/runner.js';
import { describeDocker } from '../helpers/docker.js';
import { makeFixture, type McpFixture } from './helpers.js';

const HINTS = ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const;

interface ListedTool {
  name: string;
  title?: string;
  description?: string;
  inputSchema: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
}
interface Result {
  isError?: boolean;
  content: { type: string; text?: string }[];
  structuredContent?: Record<string, unknown>;
}
interface Revision {
  readonly label: string;
  tools(): Promise<ListedTool[]>;
  call(name: string, args: Record<string, unknown>): Promise<Result>;
  close(): Promise<void>;
}

async function legacy(deps: ServerDeps): Promise<Revision> {
  const server = createServer(deps);
  const [c, s] = LegacyInMemory.createLinkedPair();
  await server.connect(s);
  const client = new LegacyClient({ name: 'annotations-v1', version: '1.0.0' });
  await client.connect(c);
  return {
    label: `2025 (SDK v1, ${client.getServerVersion()?.name ?? '?'})`,
    tools: async () => (await client.listTools()).tools as ListedTool[],
    call: async (name, args) => (await client.callTool({ name, arguments: args })) as Result,
    close: async () => {
      await client.close();
      await server.close();
    },
  };
}

async function modern(deps: ServerDeps): Promise<Revision> {
  const [c, s] = ModernInMemory.createLinkedPair();
  const handle = serveStdio(() => createModernServer(deps), { transport: s, legacy: 'reject' });
  const client = new ModernClient({ name: 'annotations-v2', version: '1.0.0' }, { versionNegotiation: { mode: { pin: MODERN_REVISION } } });
  await client.connect(c);
  expect(client.getNegotiatedProtocolVersion()).toBe(MODERN_REVISION);
  return {
    label: `${MODERN_REVISION} (SDK v2)`,
    tools: async () => (await client.listTools()).tools as ListedTool[],
    call: async (name, args) => (await client.callTool({ name, arguments: args })) as Result,
    close: async () => {
      await client.close();
      await handle.close();
    },
  };
}

describeDocker('every tool on every MCP revision: title, hints, output schema', () => {
  let fx: McpFixture;
  let runner: Runner;
  const controller = new AbortController();
  let revisions: Revision[] = [];
  const validator = new AjvJsonSchemaValidator();

  beforeAll(async () => {
    fx = makeFixture('berth-mcp-annot-');
    const logger = createLogger({ level: 'error' });
    runner = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, logger, reconcile: false });
    const deps: ServerDeps = { runner, logger, lifecycle: createLifecycle(controller.signal), version: '0.0.0-test' };
    revisions = [await legacy(deps), await modern(deps)];
  });

  afterAll(async () => {
    controller.abort();
    for (const r of revisions) await r.close().catch(() => undefined);
    await runner?.close().catch(() => undefined);
    await fx?.cleanup();
  });

  it('lists every registered tool with a title, the four hints and an object output schema', async () => {
    const registry = TOOLS.map((t) => t.name);
    expect(registry.length).toBeGreaterThan(0);
    for (const rev of revisions) {
      const listed = await rev.tools();
      expect(
        listed.map((t) => t.name),
        rev.label,
      ).toEqual(registry);
      for (const tool of listed) {
        const where = `${rev.label} ${tool.name}`;
        expect(tool.title, where).toMatch(/\S/);
        expect(tool.annotations?.title, where).toBe(tool.title);
        for (const hint of HINTS) expect(typeof tool.annotations?.[hint], `${where} ${hint}`).toBe('boolean');
        expect(tool.outputSchema, where).toMatchObject({ type: 'object' });
        expect(Object.keys((tool.outputSchema?.properties as object | undefined) ?? {}).length, where).toBeGreaterThan(0);
        expect(tool.inputSchema, where).toMatchObject({ type: 'object' });
      }
    }
  });

  it('serves one definition per tool: the same title, description, schemas and hints on both revisions', async () => {
    const [a, b] = await Promise.all(revisions.map((r) => r.tools()));
    // JSON Schema dialects may differ per SDK ($schema); everything a model reads must not.
    const strip = (t: ListedTool) =>
      JSON.parse(JSON.stringify(t, (k, v: unknown) => (k === '$schema' || k === '_meta' || k === 'execution' ? undefined : v))) as unknown;
    expect(b?.map(strip)).toEqual(a?.map(strip));
  });

  it('returns structured results that validate against each tool’s advertised output schema', async () => {
    for (const rev of revisions) {
      const schemas = new Map((await rev.tools()).map((t) => [t.name, t.outputSchema ?? {}]));
      const ws = rev === revisions[0] ? 'annot-v1' : 'annot-v2';
      const checked = new Set<string>();
      const ok = async (name: string, args: Record<string, unknown>): Promise<Record<string, unknown>> => {
        const r = await rev.call(name, args);
        const where = `${rev.label} ${name}`;
        expect(r.isError, `${where}: ${r.content.map((c) => c.text ?? '').join('\n')}`).toBeFalsy();
        expect(r.structuredContent, where).toBeDefined();
        const verdict = validator.getValidator(schemas.get(name) as never)(r.structuredContent);
        expect(verdict.errorMessage, where).toBeUndefined();
        expect(verdict.valid, where).toBe(true);
        checked.add(name);
        return r.structuredContent ?? {};
      };
      await ok('workspace_create', { name: ws });
      await ok('workspace_list', {});
      expect(await ok('exec', { workspace: ws, command: 'echo hello-$BERTH_WORKSPACE' })).toMatchObject({ exitCode: 0, stdout: `hello-${ws}\n` });
      await ok('file_write', { workspace: ws, path: 'notes/a.txt', content: 'one\ntwo\n' });
      await ok('file_edit', { workspace: ws, path: 'notes/a.txt', search: 'two', replace: 'three' });
      expect(await ok('file_read', { workspace: ws, path: 'notes/a.txt' })).toMatchObject({ content: expect.stringContaining('three') });
      await ok('file_list', { workspace: ws, path: 'notes' });
      await ok('diff', { workspace: ws });
      await ok('checkpoint', { workspace: ws, message: 'annotations test' });
      await ok('log', { workspace: ws });
      await ok('process_list', { workspace: ws });
      await ok('file_delete', { workspace: ws, path: 'notes/a.txt' });
      await ok('workspace_delete', { workspace: ws });
      expect(checked.size, rev.label).toBe(13);
    }
  });
});

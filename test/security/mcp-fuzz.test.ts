/**
 * Fuzzing every MCP tool with hostile arguments: random and wrong-typed values, missing and extra
 * keys, megabyte strings, deep objects, huge arrays, NUL/control characters, `../` and absolute
 * paths, shell metacharacters, very long names. For every call the server must answer (a tool
 * result or a JSON-RPC error; never a timeout, never a dropped connection), keep serving, run
 * nothing on the host, and leave no container behind once the workspaces it made are deleted.
 * Mostly in-process (fast); a smaller run goes through the real spawned `berth mcp` over stdio.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { Client as SdkClient } from '@modelcontextprotocol/sdk/client/index.js';
import { ErrorCode, McpError, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import fc from 'fast-check';
import { TOOL_NAMES } from '../../runner/mcp/tool.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeDocker } from '../helpers/docker.js';
import { makeFixture, repoContainers, TappedStdioTransport, type McpFixture } from '../mcp/helpers.js';
import { startInProcess, textOf, type InProcess } from '../mcp/inprocess.js';

const WS = 'fz';
/** Calls per tool in-process (a fifth of that over stdio); the whole file stays around a minute. */
const RUNS: Record<string, number> = { workspace_create: 6, pipeline_run: 10, workspace_list: 8, checkpoint: 12, diff: 12, log: 12 };
/** Far above any honest call's duration here; reaching it means the server hung. */
const CALL_TIMEOUT_MS = 45_000;

function deep(depth: number): unknown {
  let v: unknown = 'bottom';
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}
const BIG_STRING = 'A'.repeat(2 * 1024 * 1024);
/** Arguments that are not an object at all: always tried, not left to chance. */
const NOT_AN_OBJECT: readonly unknown[] = [null, [], 'args', 42, [WS]];
const BIG = [BIG_STRING, deep(5_000), new Array<string>(200_000).fill('x'), `${'../'.repeat(50_000)}etc/passwd`] as const;

function hostileStrings(marker: string): string[] {
  return [
    '',
    '\0',
    'a\0b',
    'src/\0/x',
    '\x1b]52;c;ZXZpbA==\x07',
    '\x1b[2J',
    '\r\n',
    '\u202e',
    '\ud800',
    '../',
    '../../../../etc/passwd',
    '/etc/passwd',
    '/',
    '.',
    '..',
    '.git',
    '.git/config',
    '.git/hooks/pre-commit',
    'a/../../b',
    '~',
    '-rf',
    '--help',
    `$(touch ${marker})`,
    `\`touch ${marker}\``,
    `; touch ${marker}`,
    `--upload-pack=touch ${marker}`,
    'x'.repeat(5_000),
    'é'.repeat(3_000),
    'main',
    'HEAD',
    WS,
    'L1',
    'lint',
    'true',
    'echo hi',
    'README.md',
    'src/app.txt',
  ];
}

function valueArb(marker: string): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...hostileStrings(marker)) },
    { weight: 2, arbitrary: fc.string({ maxLength: 40, unit: 'binary' }) },
    { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -1, 1e308, Number.MAX_SAFE_INTEGER + 2)) },
    { weight: 1, arbitrary: fc.oneof(fc.boolean(), fc.constant(null)) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(...BIG) },
  );
}

interface PropSchema {
  type?: string;
  enum?: unknown[];
}

/** Mostly a value of the declared type (so calls get past validation into the tool), sometimes anything. */
function typedArb(prop: PropSchema, marker: string, value: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  const typed: fc.Arbitrary<unknown> = prop.enum
    ? fc.constantFrom(...prop.enum)
    : prop.type === 'string'
      ? fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...hostileStrings(marker)) }, { weight: 1, arbitrary: fc.string({ maxLength: 40, unit: 'binary' }) })
      : prop.type === 'number' || prop.type === 'integer'
        ? fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer(), fc.double({ noNaN: true }))
        : prop.type === 'boolean'
          ? fc.boolean()
          : value;
  return fc.oneof({ weight: 4, arbitrary: typed }, { weight: 1, arbitrary: value });
}

/** Arguments for `tool`: its own keys (any subset, mostly well-typed), stray keys, or not an object at all. */
function argsArb(tool: Tool, marker: string): fc.Arbitrary<unknown> {
  const props = (tool.inputSchema.properties ?? {}) as Record<string, PropSchema>;
  const keys = Object.keys(props);
  const value = valueArb(marker);
  const forKey = (k: string) =>
    k === 'workspace' ? fc.oneof({ weight: 3, arbitrary: fc.constant(WS) }, { weight: 1, arbitrary: value }) : typedArb(props[k] ?? {}, marker, value);
  const required = new Set(tool.inputSchema.required ?? []);
  const optional = keys.filter((k) => !required.has(k));
  // The required keys plus at most one optional one: most likely to get past validation.
  const minimal = fc
    .tuple(
      fc.record(Object.fromEntries([...required].map((k) => [k, forKey(k)]))),
      optional.length ? fc.option(fc.constantFrom(...optional).chain((k) => forKey(k).map((v) => [k, v] as const))) : fc.constant(null),
    )
    .map(([req, extra]) => (extra ? { ...req, [extra[0]]: extra[1] } : req));
  return fc.oneof(
    { weight: 5, arbitrary: minimal },
    { weight: 4, arbitrary: fc.record(Object.fromEntries(keys.map((k) => [k, forKey(k)])), { requiredKeys: [] }) },
    {
      weight: 2,
      arbitrary: fc.dictionary(fc.oneof(fc.constantFrom(...keys, '__proto__', 'constructor'), fc.string({ maxLength: 20 })), value, { maxKeys: 5 }),
    },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(null, [], 'args', 42, [WS]) },
  );
}

/** One call; fails the test when the server did not answer properly. */
/** Outcome counts and time per tool, printed with FUZZ_STATS=1 (to check the fuzz reaches real work). */
const outcomes = new Map<string, number>();
const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);

async function probe(client: Client, name: string, args: unknown): Promise<void> {
  const t0 = Date.now();
  try {
    const r = (await client.callTool({ name, arguments: args as Record<string, unknown> }, undefined, { timeout: CALL_TIMEOUT_MS })) as CallToolResult;
    count(`${name} ${r.isError ? `isError ${textOf(r).split(':')[0]}` : 'ok'}`);
    expect(Array.isArray(r.content), `${name}: result without content`).toBe(true);
    if (r.isError) expect(textOf(r).length, `${name}: empty error text`).toBeGreaterThan(0);
  } catch (err) {
    count(`${name} rpc ${(err as McpError).code}`);
    expect(err, `${name}: ${String(err)}`).toBeInstanceOf(McpError);
    const code = (err as McpError).code;
    // Only "your arguments are wrong": never a timeout (hang), a dropped connection, or -32603 (a server bug).
    expect([ErrorCode.InvalidParams, ErrorCode.InvalidRequest], `${name}: ${String(err)}`).toContain(code);
  } finally {
    outcomes.set(`~ms ${name}`, (outcomes.get(`~ms ${name}`) ?? 0) + Date.now() - t0);
  }
}

/** Delete every workspace (the fuzz may have made some), then nothing of the repo may remain in Docker. */
async function deleteAllAndCheckNoLeak(client: Client, fx: McpFixture): Promise<void> {
  const listed = (await client.callTool({ name: 'workspace_list', arguments: {} })) as CallToolResult;
  const names = ((listed.structuredContent as { workspaces: { name: string }[] }).workspaces ?? []).map((w) => w.name);
  for (const n of names) {
    const r = (await client.callTool({ name: 'workspace_delete', arguments: { workspace: n } })) as CallToolResult;
    expect(r.isError, textOf(r)).toBeFalsy();
  }
  const left = await repoContainers(fx.repo);
  expect(left.map((c) => `${c.Id.slice(0, 12)} ${JSON.stringify(c.Labels)}`)).toEqual([]);
}

describeDocker('MCP fuzz: every tool, hostile arguments', () => {
  let s: InProcess;
  let tools: Tool[] = [];
  let marker = '';

  beforeAll(async () => {
    s = await startInProcess({ prefix: 'berth-mcp-fuzz-' });
    marker = join(s.fx.root, 'PWNED');
    tools = (await s.client.listTools()).tools;
    const created = await s.call('workspace_create', { name: WS });
    expect(created.isError, textOf(created)).toBeFalsy();
    expect((await repoContainers(s.fx.repo)).length).toBe(1);
  });
  afterAll(async () => {
    await s?.close();
  });

  it('in-process: every tool answers every input; nothing runs on the host; no container leaks', async () => {
    expect(tools).toHaveLength(TOOL_NAMES.length);
    // workspace_delete last, and the target workspace back before each tool, so calls reach real work.
    const ordered = [...tools.filter((t) => t.name !== 'workspace_delete'), ...tools.filter((t) => t.name === 'workspace_delete')];
    for (const tool of ordered) {
      if (!(await s.runner.workspaces.find(WS))) expect((await s.call('workspace_create', { name: WS })).isError).toBeFalsy();
      for (const args of NOT_AN_OBJECT) await probe(s.client, tool.name, args);
      // Valid workspace_create and pipeline_run calls start containers: fewer runs for them.
      const numRuns = RUNS[tool.name] ?? 15;
      await fc.assert(
        fc.asyncProperty(argsArb(tool, marker), async (args) => probe(s.client, tool.name, args)),
        { numRuns, seed: 20261203, endOnFailure: true },
      );
    }
    expect((await s.client.listTools()).tools).toHaveLength(TOOL_NAMES.length);
    expect(existsSync(marker)).toBe(false);
    await deleteAllAndCheckNoLeak(s.client, s.fx);
    if (process.env.FUZZ_STATS)
      console.error(
        [...outcomes]
          .sort()
          .map(([k, v]) => `${k}: ${v}`)
          .join('\n'),
      );
  }, 240_000);
});

describeDocker('MCP fuzz over the real stdio server', () => {
  let fx: McpFixture;
  let t: TappedStdioTransport;
  let client: SdkClient;

  beforeAll(async () => {
    fx = makeFixture('berth-mcp-fuzz-stdio-');
    t = new TappedStdioTransport(['mcp', '--repo', fx.repo, '--log-level', 'error'], fx.env());
    client = new SdkClient({ name: 'fuzz', version: '1' });
    await client.connect(t);
  });
  afterAll(async () => {
    t?.kill('SIGKILL');
    await fx?.cleanup();
  });

  it('stdio: every tool answers, the process stays up, no container leaks', async () => {
    const marker = join(fx.root, 'PWNED');
    const created = (await client.callTool({ name: 'workspace_create', arguments: { name: WS } })) as CallToolResult;
    expect(created.isError, textOf(created)).toBeFalsy();
    const all = (await client.listTools()).tools;
    for (const tool of [...all.filter((x) => x.name !== 'workspace_delete'), ...all.filter((x) => x.name === 'workspace_delete')]) {
      const numRuns = Math.ceil((RUNS[tool.name] ?? 15) / 4);
      await fc.assert(
        fc.asyncProperty(argsArb(tool, marker), async (args) => probe(client, tool.name, args)),
        { numRuns, seed: 7, endOnFailure: true },
      );
    }
    expect((await client.listTools()).tools).toHaveLength(TOOL_NAMES.length);
    expect(existsSync(marker)).toBe(false);
    await deleteAllAndCheckNoLeak(client, fx);
    // Still the same process, and stdout carried only JSON-RPC.
    t.endStdin();
    expect(await t.exited).toEqual({ code: 0, signal: null });
    for (const line of t.rawLines) expect((JSON.parse(line) as { jsonrpc?: string }).jsonrpc).toBe('2.0');
  }, 240_000);
});

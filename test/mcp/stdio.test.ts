/**
 * `berth mcp` over stdio, end to end: the real bin/berth.js is spawned against a temp repository,
 * driven by the SDK's Client, and every claim is checked against git, Docker or the raw bytes on
 * stdout. One server and one long agent flow keep the suite lean (two session containers, two
 * pipeline runs in all).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import { ErrorCode, type CallToolResult, type Progress } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeDocker } from '../helpers/docker.js';
import { LABEL } from '../../docker/labels.js';
import { docker, makeFixture, psIn, repoContainers, TappedStdioTransport, waitFor, type McpFixture } from './helpers.js';

/** The tool names are a contract with agents: spelled out here, not imported from the server. */
const CONTRACT = [
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
];

const textOf = (r: CallToolResult): string => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');

/** A process whose whole command line is `sleep 100` in `ps -o pid,args`, not a line mentioning it. */
const SLEEP_100 = /^\s*\d+\s+sleep 100\s*$/m;

describeDocker('berth mcp (stdio)', () => {
  let fx: McpFixture;
  let t: TappedStdioTransport;
  let client: Client;
  let ws = '';

  const call = async (name: string, args: Record<string, unknown>, opts?: RequestOptions): Promise<CallToolResult> =>
    (await client.callTool({ name, arguments: args }, undefined, opts)) as CallToolResult;
  const ok = async (name: string, args: Record<string, unknown>, opts?: RequestOptions) => {
    const r = await call(name, args, opts);
    expect(r.isError, `${name} failed: ${textOf(r)}`).toBeFalsy();
    return { text: textOf(r), data: r.structuredContent as Record<string, unknown> };
  };

  beforeAll(async () => {
    fx = makeFixture();
    t = new TappedStdioTransport(['mcp', '--repo', fx.repo, '--log-level', 'info'], fx.env());
    client = new Client({ name: 'berth-test', version: '1.0.0' });
    await client.connect(t);
  });

  afterAll(async () => {
    t?.kill('SIGKILL');
    await fx?.cleanup();
  });

  it('lists exactly the contract tools, each described and annotated for a model', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((x) => x.name).sort()).toEqual([...CONTRACT].sort());
    for (const tool of tools) {
      expect(tool.description?.length ?? 0, tool.name).toBeGreaterThan(60);
      expect(tool.annotations, tool.name).toEqual(
        expect.objectContaining({
          readOnlyHint: expect.any(Boolean),
          destructiveHint: expect.any(Boolean),
          idempotentHint: expect.any(Boolean),
          openWorldHint: false,
        }),
      );
      expect(tool.outputSchema, tool.name).toBeDefined();
      for (const [arg, schema] of Object.entries(tool.inputSchema.properties ?? {})) {
        expect((schema as { description?: string }).description, `${tool.name}.${arg}`).toBeTruthy();
      }
    }
    const byName = new Map(tools.map((x) => [x.name, x]));
    // Without --workspace, workspace-scoped tools must be told which workspace.
    for (const name of ['exec', 'file_read', 'checkpoint', 'diff', 'pipeline_run', 'workspace_delete']) {
      expect(byName.get(name)?.inputSchema.required, name).toContain('workspace');
    }
    expect(byName.get('workspace_create')?.inputSchema.required ?? []).not.toContain('workspace');
    expect(byName.get('exec')?.inputSchema.required).toContain('command');
    expect(byName.get('file_read')?.annotations?.readOnlyHint).toBe(true);
    expect(byName.get('workspace_delete')?.annotations?.destructiveHint).toBe(true);
    expect(byName.get('file_write')?.annotations?.readOnlyHint).toBe(false);
    expect(client.getInstructions()).toMatch(/checkpoint/);
    expect(client.getInstructions()).toMatch(/nothing touches the user's checkout/);
  });

  it('runs a whole agent flow: create, stateful exec, files, ambiguous edit, checkpoint, diff, log', async () => {
    const progress: Progress[] = [];
    const created = await ok('workspace_create', {}, { onprogress: (p) => progress.push(p) });
    ws = String(created.data.name);
    expect(ws).toMatch(/^[a-z]+-[a-z]+-\d{2}$/);
    expect(created.data).toMatchObject({ branch: `berth/${ws}`, baseRef: 'HEAD', created: true, workdir: '/workspace' });
    expect(fx.git('branch', '--list', `berth/${ws}`)).toContain(`berth/${ws}`);
    expect(progress.map((p) => p.message).join('\n')).toContain(`opening workspace ${ws}`);

    // The persistent shell keeps cwd and environment between calls.
    await ok('exec', { workspace: ws, command: 'mkdir -p sub && cd sub && export GREETING=hello' });
    const state = await ok('exec', { workspace: ws, command: 'pwd; echo "$GREETING"' });
    expect(state.data).toMatchObject({ mode: 'shell', exitCode: 0, stdout: '/workspace/sub\nhello\n', cwd: '/workspace/sub' });

    // A failing command is a result, not a tool error.
    const failing = await ok('exec', { workspace: ws, command: 'echo oops >&2; false' });
    expect(failing.data).toMatchObject({ exitCode: 1, stderr: 'oops\n' });
    expect(failing.text).toContain('exit 1');

    // file_write lands in the worktree the container sees.
    await ok('file_write', { workspace: ws, path: 'notes/todo.txt', content: 'one\ntwo\none\n' });
    const cat = await ok('exec', { workspace: ws, command: 'cat /workspace/notes/todo.txt' });
    expect(cat.data.stdout).toBe('one\ntwo\none\n');

    const ambiguous = await call('file_edit', { workspace: ws, path: 'notes/todo.txt', search: 'one', replace: 'uno' });
    expect(ambiguous.isError).toBe(true);
    expect(textOf(ambiguous)).toContain('EDIT_AMBIGUOUS');
    expect(textOf(ambiguous)).toMatch(/matchId set to one of: L1, L3/);
    const edited = await ok('file_edit', { workspace: ws, path: 'notes/todo.txt', search: 'one', replace: 'uno', matchId: 'L3' });
    expect(edited.data).toEqual({ path: 'notes/todo.txt', line: 3, matchId: 'L3' });

    const read = await ok('file_read', { workspace: ws, path: 'notes/todo.txt' });
    expect(read.data).toMatchObject({ content: 'one\ntwo\nuno\n', totalLines: 3, binary: false });
    const listed = await ok('file_list', { workspace: ws, path: 'notes' });
    expect(listed.data.entries).toEqual([{ path: 'notes/todo.txt', type: 'file', size: 12 }]);

    const cp = await ok('checkpoint', { workspace: ws, message: 'Add todo notes' });
    expect(cp.data).toMatchObject({ committed: true });
    expect(fx.git('log', '-1', '--format=%s', `berth/${ws}`).trim()).toBe('Add todo notes');
    expect(fx.git('rev-parse', `berth/${ws}`).trim()).toBe(cp.data.sha);
    // The user's checkout is untouched.
    expect(fx.git('status', '--porcelain')).toBe('');
    expect(existsSync(join(fx.repo, 'notes'))).toBe(false);

    const diff = await ok('diff', { workspace: ws });
    expect(diff.text).toContain('diff --git a/notes/todo.txt b/notes/todo.txt');
    expect(diff.text).toContain('+uno');
    const stat = await ok('diff', { workspace: ws, stat: true });
    expect(stat.text).toMatch(/notes\/todo\.txt \| 3 \+\+\+/);

    const log = await ok('log', { workspace: ws });
    expect((log.data.commits as { subject: string }[]).map((c) => c.subject)).toEqual(['Add todo notes']);

    // withContainer also snapshots the container's filesystem, recorded as the workspace's image.
    await ok('exec', { workspace: ws, command: 'echo tool > /tmp/installed-tool' });
    const snap = await ok('checkpoint', { workspace: ws, message: 'Install a tool', withContainer: true });
    expect(snap.data).toMatchObject({ committed: false, image: expect.stringMatching(/^berth-ckpt\//) });
    expect(snap.text).toContain('Container snapshot:');
    const image = await docker.getImage(snap.data.image as string).inspect();
    expect(image.Config.Labels[LABEL.workspace]).toBe(ws);
  });

  it('runs pipeline steps on the workspace files, with progress notifications', async () => {
    const progress: Progress[] = [];
    const passed = await ok('pipeline_run', { workspace: ws, step: 'test' }, { onprogress: (p) => progress.push(p) });
    expect(passed.data).toMatchObject({ ok: true, outcome: 'passed', exitCode: 0, failedPhase: null });
    expect(passed.text).toContain('1 test passed');
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.map((p) => p.message).join('\n')).toMatch(/test: passed/);
    const values = progress.map((p) => p.progress);
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(new Set(values).size).toBe(values.length);

    // It runs what is in the workspace (uncommitted included), and a failure is a result.
    await ok('file_write', { workspace: ws, path: 'tests/run.sh', content: 'echo "1 test failed" >&2\nexit 3\n' });
    const failed = await ok('pipeline_run', { workspace: ws, step: 'test' });
    expect(failed.data).toMatchObject({ ok: false, outcome: 'failed', exitCode: 3, failedPhase: 'test' });
    expect(failed.text).toContain('1 test failed');
    expect(fx.git('status', '--porcelain')).toBe('');
  });

  it('cancelling a call kills the running command in the container', async () => {
    const ac = new AbortController();
    const pending = client.callTool({ name: 'exec', arguments: { workspace: ws, command: 'sleep 100' } }, undefined, { signal: ac.signal });
    pending.catch(() => undefined);
    await waitFor('sleep 100 to run in the container', async () => SLEEP_100.test(await psIn(fx.repo, ws)));
    ac.abort();
    await expect(pending).rejects.toThrow();
    await waitFor('sleep 100 to be killed', async () => !SLEEP_100.test(await psIn(fx.repo, ws)));
    const after = await ok('exec', { workspace: ws, command: 'echo still here; pwd' });
    expect(after.data.stdout).toBe('still here\n/workspace/sub\n');
  });

  it('reports domain errors as tool results that say what to do next', async () => {
    const missing = await call('file_read', { workspace: ws, path: 'no/such/file.txt' });
    expect(missing.isError).toBe(true);
    expect(textOf(missing)).toMatch(/^FILE_NOT_FOUND: .*no\/such\/file\.txt/);
    expect(textOf(missing)).toContain('Next: Check the path with file_list');

    const unknownWs = await call('exec', { workspace: 'no-such-ws', command: 'true' });
    expect(unknownWs.isError).toBe(true);
    expect(textOf(unknownWs)).toContain('WORKSPACE_NOT_FOUND');
    expect(textOf(unknownWs)).toContain(ws);
    expect(textOf(unknownWs)).toContain('workspace_create');

    // Bad arguments are a protocol error (InvalidParams), rejected before any handler runs.
    await expect(call('exec', { workspace: ws })).rejects.toMatchObject({
      code: ErrorCode.InvalidParams,
      message: expect.stringMatching(/invalid arguments for exec:[\s\S]*command/),
    });
    await expect(call('exec', { workspace: '../x', command: 'true' })).rejects.toMatchObject({ code: ErrorCode.InvalidParams });
    const escape = await call('file_write', { workspace: ws, path: '../outside.txt', content: 'x' });
    expect(escape.isError).toBe(true);
    expect(textOf(escape)).toMatch(/^PATH_OUTSIDE/);
    expect(execFileSync('find', [fx.root, '-name', 'outside.txt'], { encoding: 'utf8' })).toBe('');
  });

  it('survives malformed input and unknown tools', async () => {
    t.writeRaw('this is not json\n');
    t.writeRaw('{"jsonrpc":"2.0","id":77,"method":\n');
    t.writeRaw('{"jsonrpc":"2.0","id":78,"method":"tools/call","params":{"name":"exec"\n');
    await expect(call('no_such_tool', {})).rejects.toMatchObject({
      code: ErrorCode.InvalidParams,
      message: expect.stringContaining('no_such_tool'),
    });
    const { tools } = await client.listTools();
    expect(tools).toHaveLength(CONTRACT.length);
  });

  it('workspace_delete removes branch and container; later calls say how to recover', async () => {
    const del = await ok('workspace_delete', { workspace: ws });
    expect(del.data).toMatchObject({ name: ws });
    expect(fx.git('branch', '--list', `berth/${ws}`).trim()).toBe('');
    const after = await call('exec', { workspace: ws, command: 'true' });
    expect(after.isError).toBe(true);
    expect(textOf(after)).toContain('workspace_create');
    expect((await repoContainers(fx.repo)).filter((c) => c.Labels['dev.berth.workspace'] === ws)).toEqual([]);
  });

  it('exits 0 on stdin EOF, stopping (not removing) its containers; stdout carried only JSON-RPC', async () => {
    const keeper = await ok('workspace_create', { name: 'keeper' });
    expect(keeper.data.name).toBe('keeper');
    await ok('exec', { workspace: 'keeper', command: 'echo kept > state.txt' });
    const before = await repoContainers(fx.repo);
    expect(before.map((c) => [c.Labels['dev.berth.workspace'], c.State])).toEqual([['keeper', 'running']]);

    t.endStdin();
    const exit = await Promise.race([t.exited, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('server did not exit')), 40_000))]);
    expect(exit, t.stderr).toEqual({ code: 0, signal: null });

    const after = await repoContainers(fx.repo);
    expect(after.map((c) => [c.Labels['dev.berth.workspace'], c.State])).toEqual([['keeper', 'exited']]);

    expect(t.rawLines.length).toBeGreaterThan(20);
    for (const line of t.rawLines) {
      const msg = JSON.parse(line) as { jsonrpc?: unknown };
      expect(msg.jsonrpc, line).toBe('2.0');
    }
    expect(t.partialLine).toBe('');
    expect(t.stderr).toContain('shutting down');
  });
});

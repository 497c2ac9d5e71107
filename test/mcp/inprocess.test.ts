/**
 * The MCP server in-process (createServer + InMemoryTransport, see ./inprocess.ts): the same
 * contract the spawned stdio suite checks, at a fraction of the cost. Real git, real Docker.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeDocker } from '../helpers/docker.js';
import { startInProcess, textOf, type InProcess } from './inprocess.js';

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

describeDocker('berth MCP server (in-process)', () => {
  let s: InProcess;
  const ok = async (name: string, args: Record<string, unknown>) => {
    const r = await s.call(name, args);
    expect(r.isError, `${name} failed: ${textOf(r)}`).toBeFalsy();
    return { text: textOf(r), data: r.structuredContent as Record<string, unknown> };
  };

  beforeAll(async () => {
    s = await startInProcess();
  });
  afterAll(async () => {
    await s?.close();
  });

  it('lists the contract tools with titles, hints and output schemas', async () => {
    const { tools } = await s.client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([...CONTRACT].sort());
    for (const tool of tools) {
      expect(tool.title, tool.name).toBeTruthy();
      expect(tool.annotations?.title, tool.name).toBe(tool.title);
      expect(tool.annotations, tool.name).toEqual(
        expect.objectContaining({
          readOnlyHint: expect.any(Boolean),
          destructiveHint: expect.any(Boolean),
          idempotentHint: expect.any(Boolean),
          openWorldHint: false,
        }),
      );
      expect(tool.outputSchema?.type, tool.name).toBe('object');
    }
    const exec = tools.find((t) => t.name === 'exec');
    expect(exec?.inputSchema.required).toEqual(expect.arrayContaining(['workspace', 'command']));
    expect(s.client.getInstructions()).toMatch(/checkpoint/);
  });

  it('creates a workspace and runs stateful commands and file tools in it', async () => {
    const created = await ok('workspace_create', { name: 'inproc' });
    expect(created.data).toMatchObject({ name: 'inproc', branch: 'berth/inproc', created: true });
    await ok('exec', { workspace: 'inproc', command: 'mkdir -p sub && cd sub && export X=42' });
    const state = await ok('exec', { workspace: 'inproc', command: 'echo "$X $(pwd)"; exit 3' });
    expect(state.data).toMatchObject({ mode: 'shell', exitCode: 3, stdout: '42 /workspace/sub\n' });

    await ok('file_write', { workspace: 'inproc', path: 'a/b.txt', content: 'one\ntwo\n' });
    const read = await ok('file_read', { workspace: 'inproc', path: 'a/b.txt' });
    expect(read.data).toMatchObject({ content: 'one\ntwo\n', totalLines: 2 });
    await ok('file_edit', { workspace: 'inproc', path: 'a/b.txt', search: 'two', replace: 'deux' });
    expect((await ok('exec', { workspace: 'inproc', command: 'cat /workspace/a/b.txt' })).data.stdout).toBe('one\ndeux\n');
    const listed = await ok('file_list', { workspace: 'inproc', path: 'a' });
    expect(listed.data.entries).toEqual([{ path: 'a/b.txt', type: 'file', size: 9 }]);
    await ok('file_delete', { workspace: 'inproc', path: 'a/b.txt' });
    expect((await ok('file_list', { workspace: 'inproc', path: 'a' })).text).toBe('(empty directory)');
  });

  it('file_list shows control characters in names as escapes; structured paths stay exact', async () => {
    const info = await s.runner.workspaces.get('inproc');
    const evil = 'x\x1b]52;c;ZXZpbA==\x07\x1b[2J\u202e.txt';
    writeFileSync(join(info.worktree, evil), 'x');
    const listed = await ok('file_list', { workspace: 'inproc' });
    expect(listed.text).not.toMatch(/[\x1b\x07\u202e]/);
    expect(listed.text).toContain('x\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J\\u202e.txt (1 bytes)');
    expect((listed.data.entries as { path: string }[]).map((e) => e.path)).toContain(evil);
  });

  it('reports domain errors as isError results with a next step', async () => {
    const missing = await s.call('file_read', { workspace: 'inproc', path: 'nope.txt' });
    expect(missing.isError).toBe(true);
    expect(textOf(missing)).toMatch(/^FILE_NOT_FOUND: [\s\S]*\nNext: /);
    const unknown = await s.call('exec', { workspace: 'ghost', command: 'true' });
    expect(unknown.isError).toBe(true);
    expect(textOf(unknown)).toMatch(/WORKSPACE_NOT_FOUND[\s\S]*workspace_create/);
    const escape = await s.call('file_write', { workspace: 'inproc', path: '../outside.txt', content: 'x' });
    expect(textOf(escape)).toMatch(/^PATH_OUTSIDE/);
    expect(execFileSync('find', [s.fx.root, '-name', 'outside.txt'], { encoding: 'utf8' })).toBe('');
  });

  it('rejects bad arguments and unknown tools with InvalidParams', async () => {
    await expect(s.call('exec', { workspace: 'inproc' })).rejects.toMatchObject({ code: ErrorCode.InvalidParams, message: expect.stringMatching(/command/) });
    await expect(s.call('exec', { workspace: '../x', command: 'true' })).rejects.toMatchObject({ code: ErrorCode.InvalidParams });
    await expect(s.call('file_write', { workspace: 'inproc', path: 'big', content: 'x'.repeat(10 * 1024 * 1024 + 1) })).rejects.toMatchObject({
      code: ErrorCode.InvalidParams,
      message: expect.stringMatching(/content is longer than 10485760 bytes/),
    });
    await expect(s.call('no_such_tool', {})).rejects.toMatchObject({ code: ErrorCode.InvalidParams });
  });

  it('workspace_delete removes the container', async () => {
    await ok('workspace_delete', { workspace: 'inproc' });
    expect(await s.runner.workspaces.find('inproc')).toBeUndefined();
  });
});

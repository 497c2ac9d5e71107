// The MCP tools an agent uses, on a remote workspace (BERTH_REMOTE=1, read once when the Runner is
// created): the file tools reach the tree in the volume (not the host worktree), and checkpoint +
// diff bring the work to the host branch.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { remoteVolumeNames } from '../../docker/index.js';
import { startInProcess, textOf, type InProcess } from '../mcp/inprocess.js';
import { describeDocker, docker } from '../helpers/docker.js';

describeDocker('MCP tools on a remote workspace', () => {
  let s: InProcess;
  const ok = async (name: string, args: Record<string, unknown>) => {
    const r = await s.call(name, args);
    expect(r.isError, `${name} failed: ${textOf(r)}`).toBeFalsy();
    return { text: textOf(r), data: r.structuredContent as Record<string, unknown> };
  };

  beforeAll(async () => {
    const before = process.env.BERTH_REMOTE;
    process.env.BERTH_REMOTE = '1';
    try {
      s = await startInProcess({ prefix: 'berth-mcp-remote-' });
    } finally {
      if (before === undefined) delete process.env.BERTH_REMOTE;
      else process.env.BERTH_REMOTE = before;
    }
  });

  afterAll(async () => {
    if (s) {
      const name = remoteVolumeNames(s.runner.repo, 'rem');
      await s.close();
      for (const v of [name.tree, name.git])
        await docker()
          .getVolume(v)
          .remove({ force: true })
          .catch(() => undefined);
    }
  });

  it('file tools, exec, checkpoint and diff work on the volume', async () => {
    expect(s.runner.remote).toBeDefined();
    await ok('workspace_create', { name: 'rem' });
    await ok('file_write', { workspace: 'rem', path: 'a/b.txt', content: 'one\ntwo\n' });
    await ok('file_edit', { workspace: 'rem', path: 'a/b.txt', search: 'two', replace: 'deux' });
    expect((await ok('file_read', { workspace: 'rem', path: 'a/b.txt' })).data).toMatchObject({ content: 'one\ndeux\n', totalLines: 2 });
    expect((await ok('exec', { workspace: 'rem', command: 'cat /workspace/a/b.txt' })).data.stdout).toBe('one\ndeux\n');
    expect((await ok('file_list', { workspace: 'rem', path: 'a' })).data.entries).toEqual([{ path: 'a/b.txt', type: 'file', size: 9 }]);
    // The host worktree shows the last checkpoint only: the live file is in the volume.
    const info = await s.runner.workspaces.get('rem');
    expect(existsSync(join(info.worktree, 'a/b.txt'))).toBe(false);
    const cp = await ok('checkpoint', { workspace: 'rem', message: 'add a/b.txt' });
    expect(cp.data).toMatchObject({ committed: true, filesChanged: 1 });
    expect(existsSync(join(info.worktree, 'a/b.txt'))).toBe(true);
    expect((await ok('diff', { workspace: 'rem' })).data.diff).toContain('+deux');
    await ok('file_delete', { workspace: 'rem', path: 'a/b.txt' });
    expect((await ok('file_list', { workspace: 'rem', path: 'a' })).text).toBe('(empty directory)');
  }, 180_000);
});

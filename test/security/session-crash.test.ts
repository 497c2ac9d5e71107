// Crash attacks on a live session, performed for real: `docker kill` and `docker rm -f` of its
// container, `docker restart`, and an OOM kill followed by an unrelated kill. The server process
// (here: one Runner used the way the MCP tools use it, `runner.get(name) ?? runner.open(name)`)
// must come back on the next call with the saved cwd/env and say so, and must not blame a later
// death on an OOM kill from earlier.
import { Dockerode } from '../helpers/docker.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isBerthError } from '../../src/errors.js';
import { Runner, type ExecResult, type Session } from '../../runner/session/index.js';
import { describeDocker } from '../helpers/docker.js';
import { busyboxSpec, makeFixture, type Fixture } from '../runner/helpers.js';

describeDocker('security: a session whose container dies comes back', () => {
  let fx: Fixture;
  const docker = new Dockerode();
  const runners: Runner[] = [];

  async function runner(spec = busyboxSpec()): Promise<Runner> {
    const r = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, spec, reconcile: false });
    runners.push(r);
    return r;
  }

  /** What every MCP tool does to get its session (runner/mcp/tool.ts ToolCall.session). */
  async function session(r: Runner, name: string): Promise<Session> {
    return r.get(name) ?? (await r.open(name));
  }

  /** One tool call; the call that discovers the death may fail with CONTAINER_DIED/GONE, never more. */
  async function call(r: Runner, name: string, command: string): Promise<{ result?: ExecResult; error?: unknown }> {
    try {
      return { result: await (await session(r, name)).exec(command, { timeoutMs: 30_000 }) };
    } catch (error) {
      return { error };
    }
  }

  async function callUntilBack(r: Runner, name: string, command: string): Promise<ExecResult> {
    const first = await call(r, name, command);
    if (first.result) return first.result;
    expect(isBerthError(first.error, 'CONTAINER_DIED') || isBerthError(first.error, 'CONTAINER_GONE'), String(first.error)).toBe(true);
    const second = await call(r, name, command);
    expect(second.error, String(second.error)).toBeUndefined();
    return second.result!;
  }

  beforeAll(() => {
    fx = makeFixture('berth-crash-');
  });

  afterAll(async () => {
    for (const r of runners) await r.close().catch(() => undefined);
    await fx?.cleanup();
  });

  it('after docker kill, the next call reopens the session with its cwd and env, and says so', async () => {
    const r = await runner();
    const s = await session(r, 'killed');
    await s.exec('cd src && export FOO=bar && echo keep > kept.txt');
    await docker.getContainer(s.containerId).kill();
    const back = await callUntilBack(r, 'killed', 'pwd; echo $FOO; cat kept.txt');
    expect(back.stdout).toBe('/workspace/src\nbar\nkeep\n');
    expect(back.notice).toMatch(/reopened/);
    expect(back.notice).toMatch(/restarted/);
    const next = await call(r, 'killed', 'echo again');
    expect(next.result?.stdout).toBe('again\n');
    expect(next.result?.notice).toBeUndefined();
  });

  it('after docker rm -f, the next call recreates the container on the same worktree', async () => {
    const r = await runner();
    const s = await session(r, 'removed');
    await s.exec('echo still-here > file.txt');
    await docker.getContainer(s.containerId).remove({ force: true });
    const back = await callUntilBack(r, 'removed', 'cat file.txt');
    expect(back.stdout).toBe('still-here\n');
    expect(back.notice).toMatch(/recreated/);
    expect((await session(r, 'removed')).containerId).not.toBe(s.containerId);
  });

  it('after docker restart, the session keeps working with its saved cwd', async () => {
    const r = await runner();
    const s = await session(r, 'restarted');
    await s.exec('cd /tmp && export KEEP=1');
    await docker.getContainer(s.containerId).restart({ t: 0 });
    const back = await callUntilBack(r, 'restarted', 'pwd; echo $KEEP');
    expect(back.stdout).toBe('/tmp\n1\n');
  });

  it('an OOM kill a command already reported is not blamed for a later death of the container', async () => {
    const r = await runner(busyboxSpec({ resources: { cpus: 1, memoryMb: 64, pids: 128 } }));
    for (let run = 0; run < 2; run++) {
      // Docker sets State.OOMKilled at exit when any process of the run was OOM-killed.
      const s = await r.open('oom');
      const oom = await s.exec('dd if=/dev/zero of=/dev/null bs=200M count=1', { timeoutMs: 30_000 });
      expect(oom.exitCode).toBe(137);
      expect(oom.oomKilled).toBe(true);
      expect((await s.exec('echo later')).stdout).toBe('later\n');
      await docker.getContainer(s.containerId).kill();
      const err = await s.exec('true').catch((e: unknown) => e);
      expect(isBerthError(err, 'CONTAINER_DIED'), String(err)).toBe(true);
      expect((await docker.getContainer(s.containerId).inspect()).State.OOMKilled).toBe(true);
      expect((err as Error).message).not.toMatch(/out of memory|OOMKilled/);
      expect((err as { details?: { oomKilled?: boolean } }).details?.oomKilled).toBe(false);
      // Reopened explicitly: open() replaces a dead session in old and new code alike.
    }
  });
});

// Fault injection against real processes and containers: a runner SIGKILLed mid-command, OOM,
// concurrent runner processes, fork bombs, runaway loops, 200 MB of output, hostile names, and
// graceful shutdown on SIGTERM/SIGINT/stdin EOF. Runner processes are spawned children
// (test/runner/child-runner.ts) so that killing one is real.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isBerthError } from '../../src/errors.js';
import { Runner, type ExecResult, type Session } from '../../runner/session/index.js';
import { describeDocker } from '../helpers/docker.js';
import { busyboxSpec, containerState, makeFixture, nodeSpec, sleep, type Fixture } from './helpers.js';

const CHILD = join(import.meta.dirname, 'child-runner.ts');

interface ChildEvent {
  event: 'ready' | 'result' | 'running' | 'closed';
  i?: number;
  containerId?: string;
  code?: number;
  result?: ExecResult;
}

interface Child {
  proc: ChildProcessWithoutNullStreams;
  events: ChildEvent[];
  /** Resolves with the first event matching `pred` (rejects if the child exits first). */
  waitFor(pred: (e: ChildEvent) => boolean, timeoutMs?: number): Promise<ChildEvent>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

describeDocker('faults', () => {
  let fx: Fixture;
  const runners: Runner[] = [];

  function child(cfg: { spec: Record<string, unknown>; workspace: string; commands: string[]; hold?: boolean }): Child {
    const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify({ repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, ...cfg })], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const events: ChildEvent[] = [];
    const waiters: { pred: (e: ChildEvent) => boolean; resolve: (e: ChildEvent) => void }[] = [];
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const e = JSON.parse(line) as ChildEvent;
      events.push(e);
      for (const w of waiters.filter((x) => x.pred(e))) w.resolve(e);
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
      proc.on('close', (code, signal) => resolve({ code, signal, stderr })),
    );
    return {
      proc,
      events,
      exited,
      waitFor: (pred, timeoutMs = 60_000) =>
        new Promise((resolve, reject) => {
          const hit = events.find(pred);
          if (hit) return resolve(hit);
          const t = setTimeout(() => reject(new Error(`child: no matching event in ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
          waiters.push({ pred, resolve: (e) => (clearTimeout(t), resolve(e)) });
          void exited.then((x) => reject(new Error(`child exited (${x.code ?? x.signal}) before the event; stderr: ${x.stderr}`)));
        }),
    };
  }

  async function runner(spec = busyboxSpec()): Promise<Runner> {
    const r = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, spec, reconcile: false });
    runners.push(r);
    return r;
  }

  beforeAll(() => {
    fx = makeFixture('berth-faults-');
  });

  afterAll(async () => {
    for (const r of runners) await r.close().catch(() => undefined);
    await fx?.cleanup();
  });

  it('SIGKILL of a runner process mid-command: a new runner adopts the container with worktree, cwd and env intact', async () => {
    const c = child({
      spec: busyboxSpec(),
      workspace: 'killed-runner',
      commands: ['cd src && export FAULT=survived && printf "\\000\\001\\377bytes" > data.bin', '&sleep 60'],
    });
    const ready = await c.waitFor((e) => e.event === 'ready');
    await c.waitFor((e) => e.event === 'running');
    await sleep(300);
    c.proc.kill('SIGKILL');
    expect((await c.exited).signal).toBe('SIGKILL');

    const r = await runner();
    const s = await r.open('killed-runner');
    expect(s.containerId).toBe(ready.containerId);
    expect(s.created).toEqual({ workspace: false, container: false, fromPool: false, resumed: false });
    const res = await s.exec('pwd; echo $FAULT; od -An -c data.bin | tr -s " "');
    expect(res.stdout).toBe('/workspace/src\nsurvived\n \\0 001 377 b y t e s\n');
    expect(readFileSync(join(s.workspace.worktree, 'src', 'data.bin'))).toEqual(Buffer.from([0, 1, 255, ...Buffer.from('bytes')]));
    expect((await r.workspaces.get('killed-runner')).branch).toBe('berth/killed-runner');
  });

  it('a memory hog is OOM-killed and reported; the session stays usable', async () => {
    const r = await runner(busyboxSpec({ resources: { memoryMb: 48, pids: 128, cpus: 1 } }));
    const s = await r.open('oom');
    // busybox tail keeps the (endless, newline-free) last line of /dev/zero in memory.
    const res = await s.exec('tail /dev/zero', { timeoutMs: 60_000 });
    expect(res.exitCode).toBe(137);
    expect(res.oomKilled).toBe(true);
    expect(res.timedOut).toBe(false);
    expect((await s.exec('echo alive')).stdout).toBe('alive\n');
    expect((await containerState(s.containerId))?.running).toBe(true);
  });

  it('two runner processes: different workspaces, then the same one — no corruption, no deadlock', async () => {
    const lines = (id: string) => Array.from({ length: 8 }, (_, i) => `echo ${id}-${i} >> /workspace/log.txt; echo ${id}-${i}`);
    const [a, b] = [
      child({ spec: busyboxSpec(), workspace: 'par-1', commands: ['cd src && echo one > mine.txt && pwd', ...lines('a')] }),
      child({ spec: busyboxSpec(), workspace: 'par-2', commands: ['cd src && echo two > mine.txt && pwd', ...lines('b')] }),
    ];
    const [ea, eb] = await Promise.all([a.exited, b.exited]);
    expect([ea.code, eb.code]).toEqual([0, 0]);
    for (const [c, id] of [
      [a, 'a'],
      [b, 'b'],
    ] as const) {
      const results = c.events.filter((e) => e.event === 'result').map((e) => e.result!);
      expect(results[0]!.stdout).toBe('/workspace/src\n');
      results.slice(1).forEach((res, i) => expect(res).toMatchObject({ stdout: `${id}-${i}\n`, exitCode: 0 }));
    }
    const r = await runner();
    const names = (await r.workspaces.list()).map((w) => w.name);
    expect(names).toEqual(expect.arrayContaining(['par-1', 'par-2']));
    expect(readFileSync(join((await r.workspaces.get('par-1')).worktree, 'src', 'mine.txt'), 'utf8')).toBe('one\n');
    expect(readFileSync(join((await r.workspaces.get('par-2')).worktree, 'src', 'mine.txt'), 'utf8')).toBe('two\n');

    // Now both on one workspace at once (one creates it, the other finds it under the lock).
    const [c, d] = [
      child({ spec: busyboxSpec(), workspace: 'par-shared', commands: lines('c') }),
      child({ spec: busyboxSpec(), workspace: 'par-shared', commands: lines('d') }),
    ];
    const [ec, ed] = await Promise.all([c.exited, d.exited]);
    expect([ec.code, ed.code], `${ec.stderr}\n${ed.stderr}`).toEqual([0, 0]);
    const readyIds = [c, d].map((x) => x.events.find((e) => e.event === 'ready')!.containerId);
    expect(readyIds[0]).toBe(readyIds[1]);
    const log = readFileSync(join((await r.workspaces.get('par-shared')).worktree, 'log.txt'), 'utf8')
      .trim()
      .split('\n')
      .sort();
    expect(log).toEqual([...lines('c'), ...lines('d')].map((l) => l.split(' ')[1]!).sort());
    expect((await r.list()).filter((x) => x.name === 'par-shared')).toHaveLength(1);
  });

  describeDocker('in one bash container', () => {
    let s: Session;

    beforeAll(async () => {
      const r = await runner(nodeSpec({ resources: { memoryMb: 512, pids: 128, cpus: 1 } }));
      s = await r.open('abuse');
      await s.exec('cd /tmp && export KEEP=kept');
    });

    it('a foreground fork bomb hits the pids limit; the runner recovers the container and the session', async () => {
      const res = await s.exec('bomb() { bomb | bomb; }; bomb', { timeoutMs: 3000 });
      expect(res.containerRestarted || res.timedOut || res.exitCode !== 0).toBe(true);
      const next = await s.exec('pwd; echo $KEEP; ls / | wc -l', { timeoutMs: 30_000 });
      expect(next.stdout.split('\n').slice(0, 2)).toEqual(['/tmp', 'kept']);
      expect(next.exitCode).toBe(0);
    });

    it('a background fork bomb is detected by its fork failures and cleared', async () => {
      const res = await s.exec('f(){ f|f& };f; sleep 2', { timeoutMs: 10_000 });
      const next = res.containerRestarted ? res : await s.exec('ls / | wc -l', { timeoutMs: 30_000 });
      expect(next.containerRestarted).toBe(true);
      const after = await s.exec('pwd; echo $KEEP; ls / >/dev/null && echo forks-ok', { timeoutMs: 30_000 });
      expect(after.stdout).toBe('/tmp\nkept\nforks-ok\n');
    });

    it('a CPU-burning external loop times out and the shell stays', async () => {
      const res = await s.exec('yes > /dev/null', { timeoutMs: 800 });
      expect(res.timedOut).toBe(true);
      expect(res.shellEnded).toBe(false);
      expect((await s.exec('echo $KEEP')).stdout).toBe('kept\n');
    });

    it('200 MB of output streams through with bounded memory and a capped result', async () => {
      const base = process.memoryUsage().rss;
      let peak = base;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
      let live = 0;
      const res = await s
        .exec('head -c 200000000 /dev/zero | tr "\\0" x; echo; echo done >&2', {
          timeoutMs: 120_000,
          onOutput: (st, chunk) => (live += st === 'stdout' ? chunk.length : 0),
        })
        .finally(() => clearInterval(sampler));
      expect(res.exitCode).toBe(0);
      expect(res.stdoutBytes).toBe(200_000_001);
      expect(live).toBe(200_000_001);
      expect(res.truncated).toBe(true);
      expect(res.stdout.length).toBeLessThan(1024 * 1024 + 200);
      expect(res.stdout.startsWith('xxxx')).toBe(true);
      expect(res.stderr).toBe('done\n');
      // Holding the output would cost at least 200 MB.
      expect(peak - base).toBeLessThan(120 * 1024 * 1024);
      expect((await s.exec('echo responsive')).stdout).toBe('responsive\n');
    });
  });

  it('hostile names are refused before anything is created', async () => {
    const r = await runner();
    for (const name of ['../x', '-rf', 'a b', '$(id)', 'x'.repeat(80), 'É', '.hidden', 'a/b', '']) {
      await expect(r.open(name)).rejects.toSatisfy((e: unknown) => isBerthError(e, 'INVALID_NAME') || isBerthError(e, 'BAD_INPUT'));
    }
    expect(existsSync(join(fx.dataDir, 'worktrees', r.repo.id, '..', 'x'))).toBe(false);
    const s = await r.open('names');
    for (const shell of ['../etc', 'a b', '$(id)', '-x', 'x'.repeat(70)]) {
      await expect(s.exec('true', { shell })).rejects.toSatisfy((e: unknown) => isBerthError(e, 'BAD_INPUT'));
    }
    for (const proc of ['../p', 'p q', '']) {
      await expect(s.startProcess(proc, 'true')).rejects.toSatisfy((e: unknown) => isBerthError(e, 'BAD_INPUT'));
    }
    const weird = await s.exec('pwd', { fresh: true, cwd: '/no/such dir; rm -rf /' });
    expect(weird.exitCode).toBe(125);
    expect(weird.stderr).toContain('cannot cd');
  });

  for (const how of ['SIGTERM', 'SIGINT', 'stdin EOF'] as const) {
    it(`${how} shuts a runner process down gracefully; the session resumes`, async () => {
      const c = child({ spec: busyboxSpec(), workspace: 'graceful', commands: ['cd /tmp && export GRACE=1 && echo set'], hold: true });
      const ready = await c.waitFor((e) => e.event === 'ready');
      await c.waitFor((e) => e.event === 'result');
      const t0 = Date.now();
      if (how === 'stdin EOF') c.proc.stdin.end();
      else c.proc.kill(how);
      const closed = await c.waitFor((e) => e.event === 'closed', 30_000);
      expect(closed.code).toBe(0);
      expect((await c.exited).code).toBe(0);
      expect(Date.now() - t0).toBeLessThan(30_000);
      expect((await containerState(ready.containerId!))?.running).toBe(false);
      const r = await runner();
      const s = await r.open('graceful');
      expect(s.created.resumed).toBe(true);
      expect((await s.exec('pwd; echo $GRACE')).stdout).toBe('/tmp\n1\n');
      await r.close();
    });
  }
});

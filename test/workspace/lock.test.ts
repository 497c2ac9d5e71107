/**
 * The repository lock across real OS processes: concurrent writers keep git, the notes and the
 * branches consistent, and a holder killed with SIGKILL does not block the next process for ever.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../../src/errors.js';
import { lockPath, Workspaces } from '../../src/workspace/index.js';
import { berthBranches, gitEnv, makeRepo, notesOf, worktreePaths, type TempRepo } from './helpers/repo.js';

const WORKER = fileURLToPath(new URL('./helpers/worker.ts', import.meta.url));
const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

const children: ChildProcess[] = [];
let r: TempRepo | undefined;

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  r?.cleanup();
  r = undefined;
});

function startWorker(args: string[]): {
  child: ChildProcess;
  stdout: () => string;
  done: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>;
} {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, ...args], { cwd: PROJECT_ROOT, env: gitEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout: out, stderr: err })),
  );
  return { child, stdout: () => out, done };
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

describe('repository lock across processes', () => {
  it('two processes creating, checkpointing, updating and deleting concurrently leave a consistent repo', async () => {
    r = makeRepo();
    const repo = r;
    const a = startWorker(['churn', repo.repo, repo.dataDir, 'a', '4']);
    const b = startWorker(['churn', repo.repo, repo.dataDir, 'b', '4']);
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect(ra.stderr).toBe('');
    expect(rb.stderr).toBe('');
    expect([ra.code, rb.code]).toEqual([0, 0]);
    const kept = [...(JSON.parse(ra.stdout) as { kept: string[] }).kept, ...(JSON.parse(rb.stdout) as { kept: string[] }).kept].sort();
    expect(kept).toEqual(['a-0', 'a-2', 'b-0', 'b-2']);

    const fsck = repo.gitStatus('fsck', '--no-progress', '--no-dangling', '--strict');
    expect(fsck.status).toBe(0);
    expect(fsck.stderr + fsck.stdout).toBe('');
    expect(berthBranches(repo)).toEqual(kept);

    const ws = await Workspaces.open(repo.repo, { dataDir: repo.dataDir });
    const list = await ws.list();
    expect(list.map((w) => w.name)).toEqual(kept);
    // Exactly one note per live workspace, none left by the deleted ones, and no lost updates.
    expect(
      notesOf(repo)
        .map((n) => n[1])
        .sort(),
    ).toEqual(list.map((w) => w.rootSha).sort());
    for (const w of list) {
      expect(w.extra).toEqual({ owner: w.name[0], index: Number(w.name.slice(2)) });
      expect((await ws.log(w.name)).map((c) => c.subject)).toEqual([`work in ${w.name}`]);
    }
    expect(worktreePaths(repo).sort()).toEqual([repo.repo, ...list.map((w) => w.worktree)].sort());
    expect(repo.git('worktree', 'prune', '--dry-run', '-v')).toBe('');
    expect(existsSync(lockPath(repo.git('rev-parse', '--path-format=absolute', '--git-common-dir').trim()))).toBe(false);
  });

  it('a live holder makes others time out with LOCK_TIMEOUT; once it is SIGKILLed its stale lock is taken over', async () => {
    r = makeRepo();
    const repo = r;
    const staleMs = 3000;
    const holder = startWorker(['hold', repo.repo, repo.dataDir, String(staleMs)]);
    await waitFor(() => holder.stdout().includes('locked'), 'the holder to take the lock');

    const ws = await Workspaces.open(repo.repo, { dataDir: repo.dataDir, lockStaleMs: staleMs, lockTimeoutMs: 2 * staleMs });
    let err: unknown;
    try {
      await ws.create('blocked');
    } catch (e) {
      err = e;
    }
    // Held for longer than staleMs by a live process: it keeps the lock fresh, so we time out.
    expect(isBerthError(err, 'LOCK_TIMEOUT')).toBe(true);
    expect((err as Error).message).toContain('berth.lock');
    expect(berthBranches(repo)).toEqual([]);

    holder.child.kill('SIGKILL');
    const exit = await holder.done;
    expect(exit.signal).toBe('SIGKILL');
    const lock = lockPath(repo.git('rev-parse', '--path-format=absolute', '--git-common-dir').trim());
    expect(existsSync(lock)).toBe(true);

    const after = await Workspaces.open(repo.repo, { dataDir: repo.dataDir, lockStaleMs: staleMs, lockTimeoutMs: 30_000 });
    const { workspace } = await after.create('after-kill');
    expect(workspace.name).toBe('after-kill');
    expect(berthBranches(repo)).toEqual(['after-kill']);
    expect(existsSync(lock)).toBe(false);
  });
});

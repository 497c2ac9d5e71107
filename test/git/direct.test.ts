/**
 * gitDirect (src/git/run.ts): the simple-git-free runner of a warm claim's git commands (root
 * commit, branch, note). It must keep the hardened base: a repository whose config names a hooks
 * directory and a GIT_* environment in the caller's process change nothing, and it must translate
 * exit codes, input, timeouts and aborts the way `git()` does.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { GitRepo, readyLaunchers } from '../../src/git/index.js';
import { Workspaces } from '../../src/workspace/index.js';
import { makeRepo, type TempRepo } from '../workspace/helpers/repo.js';

let r: TempRepo;

/** The launchers a prepare forks (src/git/launch.ts) are ready within 5 s. */
const launchersReady = () => vi.waitFor(() => expect(readyLaunchers(r.repo)).toBe(3), { timeout: 5000, interval: 25 });
let repo: GitRepo;

beforeEach(async () => {
  r = makeRepo();
  repo = await GitRepo.discover(r.repo);
});

afterEach(() => {
  repo.close();
  r.cleanup();
});

it('returns stdout, passes input, and maps a non-ok exit to a BerthError naming the command', async () => {
  const head = r.git('rev-parse', 'HEAD').trim();
  const tree = await repo.runDirect(['rev-parse', `${head}^{tree}`], { cwd: r.repo });
  expect(tree.stdout.toString('utf8').trim()).toBe(r.git('rev-parse', 'HEAD^{tree}').trim());
  const blob = await repo.runDirect(['hash-object', '--stdin'], { cwd: r.repo, input: 'hello\n' });
  expect(blob.stdout.toString('utf8').trim()).toBe('ce013625030ba8dba906f756967f9e9ca394464a');
  await expect(repo.runDirect(['rev-parse', '--verify', 'no-such-ref'], { cwd: r.repo })).rejects.toMatchObject({ code: 'GIT_ERROR' });
  const soft = await repo.runDirect(['rev-parse', '--verify', '--quiet', 'no-such-ref'], { cwd: r.repo, ok: [0, 1] });
  expect(soft.exitCode).toBe(1);
});

it('times out and aborts with TIMEOUT / ABORTED, killing git', async () => {
  // commit-tree -F <fifo> blocks in open() until a writer comes: only the timeout or the abort ends it.
  const fifo = join(r.root, 'never');
  execFileSync('mkfifo', [fifo]);
  const args = ['commit-tree', '-F', fifo, r.git('rev-parse', 'HEAD^{tree}').trim()];
  await expect(repo.runDirect(args, { cwd: r.repo, timeoutMs: 300 })).rejects.toMatchObject({ code: 'TIMEOUT' });
  const ac = new AbortController();
  const aborted = repo.runDirect(args, { cwd: r.repo, signal: ac.signal });
  setTimeout(() => ac.abort(), 200);
  await expect(aborted).rejects.toMatchObject({ code: 'ABORTED' });
  await expect(repo.runDirect(['rev-parse', 'HEAD'], { cwd: r.repo, signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORTED' });
});

it('runs no hook of the repository, and ignores GIT_DIR in the caller environment, on a prepared claim', async () => {
  const marks = join(r.root, 'marks');
  const hooks = join(r.root, 'hooks');
  mkdirSync(marks);
  mkdirSync(hooks);
  for (const h of ['reference-transaction', 'post-commit', 'post-checkout']) {
    writeFileSync(join(hooks, h), `#!/bin/sh\ntouch '${marks}/${h}'\n`);
    chmodSync(join(hooks, h), 0o755);
  }
  r.git('config', 'core.hooksPath', hooks);
  const other = makeRepo();
  const saved = process.env.GIT_DIR;
  process.env.GIT_DIR = join(other.repo, '.git');
  try {
    const ws = await Workspaces.open(r.repo, { dataDir: r.dataDir });
    try {
      const dir = join(r.dataDir, 'slot');
      mkdirSync(dir, { recursive: true });
      await ws.prepare(dir);
      // prepare() forks launchers a moment later (src/git/launch.ts): the claim's writes use them.
      await launchersReady();
      const { workspace } = await ws.create('hooked', { worktreeDir: dir, prepared: true });
      expect(r.git('rev-parse', 'refs/heads/berth/hooked').trim()).toBe(workspace.rootSha);
      expect(r.git('notes', '--ref=refs/notes/berth', 'show', workspace.rootSha)).toContain('"name":"hooked"');
      expect(other.gitStatus('rev-parse', '--verify', 'refs/heads/berth/hooked').status).not.toBe(0);
    } finally {
      await ws.close();
    }
    expect(readdirSync(marks)).toEqual([]);
    // The hooks run when git itself is used with the repository's config: the check can fail.
    r.git('-c', `core.hooksPath=${hooks}`, 'update-ref', 'refs/heads/probe', 'HEAD');
    expect(existsSync(join(marks, 'reference-transaction'))).toBe(true);
  } finally {
    if (saved === undefined) delete process.env.GIT_DIR;
    else process.env.GIT_DIR = saved;
    other.cleanup();
  }
});

it('a launcher passes every word to git as one argument: quotes, $(...), backticks and globs are not shell code', async () => {
  await repo.primeWrites();
  await launchersReady();
  const marker = join(r.root, 'pwned');
  const words = [`x'; touch ${marker}; '`, `$(touch ${marker})`, `\`touch ${marker}\``, '*', '"a b"', '$HOME', "it's"];
  // The words arrived intact: git echoes them back as given (this
  // one runs in a launcher: three are ready).
  const echoed = await repo.runDirect(['rev-parse', '--sq-quote', ...words], { cwd: r.repo });
  expect(echoed.stdout.toString('utf8').trim()).toBe(words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' '));
  for (const w of words) {
    const res = await repo.runDirect(['rev-parse', '--verify', '--quiet', '--end-of-options', w], { cwd: r.repo, ok: [0, 1] });
    expect(res.exitCode).toBe(1);
  }
  expect(existsSync(marker)).toBe(false);
});

/**
 * Real temporary git repositories for the workspace suites. Fixture commits use an explicit
 * identity and skip hooks so tests can install failing hooks without breaking their own setup.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export function gitEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
  return { ...env, LC_ALL: 'C', ...extra };
}

export interface TempRepo {
  /** Temp root holding `repo/` and `data/` (the berth data dir). */
  readonly root: string;
  readonly repo: string;
  readonly dataDir: string;
  git(...args: string[]): string;
  /** Runs git and returns exit status + output instead of throwing. */
  gitStatus(...args: string[]): { status: number; stdout: string; stderr: string };
  write(rel: string, content: string): void;
  commitAll(message: string): string;
  cleanup(): void;
}

export function makeTempRoot(prefix = 'berth-ws-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function makeRepo(opts: { commit?: boolean; root?: string } = {}): TempRepo {
  const root = opts.root ?? makeTempRoot();
  const repo = join(root, 'repo');
  const dataDir = join(root, 'data');
  mkdirSync(repo, { recursive: true });
  const base = ['-c', 'user.name=Fixture', '-c', 'user.email=fixture@example.invalid', '-c', 'core.hooksPath=/dev/null', '-c', 'commit.gpgSign=false'];
  const git = (...args: string[]) => execFileSync('git', [...base, ...args], { cwd: repo, env: gitEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const gitStatus = (...args: string[]) => {
    const r = spawnSync('git', [...base, ...args], { cwd: repo, env: gitEnv(), encoding: 'utf8' });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  git('init', '-q', '-b', 'main');
  const write = (rel: string, content: string) => {
    const p = join(repo, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  };
  const commitAll = (message: string) => {
    git('add', '-A');
    git('commit', '-q', '--no-verify', '-m', message);
    return git('rev-parse', 'HEAD').trim();
  };
  if (opts.commit !== false) {
    write('README.md', '# fixture\n');
    write('src/app.txt', 'line 1\nline 2\nline 3\n');
    write('.gitignore', '*.log\nnode_modules/\n');
    commitAll('initial commit');
  }
  return {
    root,
    repo,
    dataDir,
    git,
    gitStatus,
    write,
    commitAll,
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** Lines of `git notes --ref berth list` as [noteBlob, object] pairs. */
export function notesOf(r: TempRepo): string[][] {
  return r
    .git('notes', '--ref=berth', 'list')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '));
}

/** Names of refs/heads/berth/* branches. */
export function berthBranches(r: TempRepo): string[] {
  return r
    .git('for-each-ref', '--format=%(refname)', 'refs/heads/berth/')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice('refs/heads/berth/'.length))
    .sort();
}

/** Worktree paths git has registered (main checkout first). */
export function worktreePaths(r: TempRepo): string[] {
  return r
    .git('worktree', 'list', '--porcelain')
    .split('\n')
    .filter((l) => l.startsWith('worktree '))
    .map((l) => l.slice('worktree '.length));
}

/** Real git repositories and workspaces for the transfer suites (git CLI + the workspace library). */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readFile, readdir, readlink, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const ENV: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GIT_')));

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.invalid', '-c', 'core.hooksPath=/dev/null', ...args], {
    cwd,
    env: { ...ENV, LC_ALL: 'C' },
    encoding: 'buffer',
    maxBuffer: 64 * 1024 * 1024,
  }).toString('latin1');
}

/** A repository with text, binary, executable, symlink and ignored content, two commits. */
export async function makeRepo(dir: string): Promise<void> {
  await mkdir(join(dir, 'tools'), { recursive: true });
  git(dir, 'init', '-q', '-b', 'main');
  await writeFile(join(dir, 'README.md'), '# demo\n');
  await writeFile(join(dir, 'a.txt'), 'line 1\nline 2\nline 3\n');
  await writeFile(join(dir, 'img.bin'), randomBytes(40_000));
  await writeFile(join(dir, 'gone.txt'), 'to be deleted\n');
  await writeFile(join(dir, 'mode.txt'), 'becomes executable\n');
  await writeFile(join(dir, 'tools', 'build.sh'), '#!/bin/sh\necho build\n');
  await chmod(join(dir, 'tools', 'build.sh'), 0o755);
  await symlink('README.md', join(dir, 'readme-link'));
  await writeFile(join(dir, '.gitignore'), 'build/\n*.log\n');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'initial');
  await writeFile(join(dir, 'a.txt'), 'line 1\nline 2 (base edit)\nline 3\n');
  git(dir, 'commit', '-q', '-am', 'second');
}

/**
 * Everything a workspace's worktree holds that an export must carry: commits, staged and
 * unstaged edits (text, binary, deletion, mode change, new file), untracked files of every kind,
 * and an ignored file that must NOT travel.
 */
export async function dirtyWorktree(wt: string): Promise<void> {
  await writeFile(join(wt, 'committed.txt'), 'committed in the workspace\n');
  git(wt, 'add', 'committed.txt');
  git(wt, 'commit', '-q', '-m', 'workspace commit');
  // staged, then edited again on top (staged ≠ unstaged)
  await writeFile(join(wt, 'a.txt'), 'line 1\nline 2 (staged)\nline 3\n');
  git(wt, 'add', 'a.txt');
  await writeFile(join(wt, 'a.txt'), 'line 1\nline 2 (staged)\nline 3 (unstaged)\n');
  await writeFile(join(wt, 'new-staged.txt'), 'staged new file\n');
  git(wt, 'add', 'new-staged.txt');
  await writeFile(join(wt, 'img.bin'), randomBytes(30_000));
  await unlink(join(wt, 'gone.txt'));
  await chmod(join(wt, 'mode.txt'), 0o755);
  // untracked
  await mkdir(join(wt, 'notes', 'deep'), { recursive: true });
  await writeFile(join(wt, 'notes', 'todo.md'), '- export\n- import\n');
  await writeFile(join(wt, 'notes', 'deep', 'blob.bin'), randomBytes(200_000));
  await writeFile(join(wt, 'run.sh'), '#!/bin/sh\necho run\n');
  await chmod(join(wt, 'run.sh'), 0o755);
  await writeFile(join(wt, '@at-sign.txt'), 'tar treats @names as archives\n');
  await writeFile(join(wt, 'spaced ü name.txt'), 'unicode\n');
  await writeFile(join(wt, `${'long-'.repeat(30)}name.txt`), 'a name longer than 100 bytes\n');
  await writeFile(join(wt, 'empty.txt'), '');
  await symlink('notes/todo.md', join(wt, 'todo-link'));
  // ignored: never exported
  await mkdir(join(wt, 'build'));
  await writeFile(join(wt, 'build', 'out.o'), randomBytes(1000));
  await writeFile(join(wt, 'debug.log'), 'noise\n');
}

export type Snapshot = Record<string, string>;

/** Every path under `root` except .git: kind, executable bit and content hash or link target. */
export async function snapshot(root: string, rel = ''): Promise<Snapshot> {
  const out: Snapshot = {};
  for (const name of (await readdir(join(root, rel))).sort()) {
    if (rel === '' && name === '.git') continue;
    const p = rel ? `${rel}/${name}` : name;
    const abs = join(root, p);
    const st = await lstat(abs);
    if (st.isSymbolicLink()) out[p] = `link -> ${await readlink(abs)}`;
    else if (st.isDirectory()) Object.assign(out, await snapshot(root, p));
    else
      out[p] = `file ${st.mode & 0o111 ? 'x' : '-'} ${createHash('sha256')
        .update(await readFile(abs))
        .digest('hex')}`;
  }
  return out;
}

/** Index entries, status, and the two diffs: the exact tracked state of a worktree. */
export function trackedState(wt: string): Record<string, string> {
  return {
    index: git(wt, 'ls-files', '-s'),
    status: git(wt, 'status', '--porcelain=v1', '-z', '--untracked-files=all'),
    staged: git(wt, 'diff', '--cached', '--binary', '--full-index'),
    unstaged: git(wt, 'diff', '--binary', '--full-index'),
  };
}

export function history(repo: string, branch: string): string {
  return git(repo, 'log', '--format=%H %T %P %s', branch);
}

export function withoutIgnored(s: Snapshot): Snapshot {
  return Object.fromEntries(Object.entries(s).filter(([p]) => !p.startsWith('build/') && !p.endsWith('.log')));
}

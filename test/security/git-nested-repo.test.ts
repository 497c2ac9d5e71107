/**
 * Attack: host code execution through agent-written git content. The agent plants, inside its
 * worktree, a nested repository (a real `.git` dir, and a `.git` *file* pointing elsewhere) whose
 * config sets every command-running knob git has (filters, fsmonitor, hooks, external diff,
 * textconv, ssh, and an include of a config with the same), plus `.gitattributes` selecting
 * them, at the top and inside the nested repo. Then every host-side operation runs: checkpoint
 * (twice), list, get, diff, log, merge, the export-side git calls, delete. Each command writes a
 * marker file when run; none may exist afterwards, and no commit may contain a gitlink.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GitRepo } from '../../src/git/index.js';
import { Workspaces } from '../../src/workspace/index.js';
import { branchTip, listUntracked, readNote, worktreeHead, writeBundle, writeTrackedChanges } from '../../runner/storage/git.js';
import { makeRepo, type TempRepo } from '../workspace/helpers/repo.js';
import { execFileSync } from 'node:child_process';

let r: TempRepo;
let ws: Workspaces;
let marks: string;
let bin: string;

/** An executable that records it ran (marks/<name>) and then behaves harmlessly. */
function script(name: string, body: string): string {
  const p = join(bin, name);
  writeFileSync(p, `#!/bin/sh\ntouch '${marks}/${name}'\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

/** Every command-running setting git has, each pointing at its own marker script. */
function hostileConfig(tag: string, includePath?: string): string {
  const hooks = join(bin, `hooks-${tag}`);
  mkdirSync(hooks, { recursive: true });
  for (const h of ['pre-commit', 'post-commit', 'post-checkout', 'post-merge', 'reference-transaction', 'pre-auto-gc', 'post-index-change', 'commit-msg']) {
    const p = join(hooks, h);
    writeFileSync(p, `#!/bin/sh\ntouch '${marks}/hook-${tag}-${h}'\nexit 0\n`);
    chmodSync(p, 0o755);
  }
  const lines = [
    '[core]',
    `\tfsmonitor = ${script(`fsmonitor-${tag}`, 'exit 0')}`,
    `\thooksPath = ${hooks}`,
    `\tsshCommand = ${script(`ssh-${tag}`, 'exit 0')}`,
    `\tpager = ${script(`pager-${tag}`, 'cat')}`,
    '[filter "x"]',
    `\tclean = ${script(`clean-${tag}`, 'cat')}`,
    `\tsmudge = ${script(`smudge-${tag}`, 'cat')}`,
    '\trequired = false',
    '[diff]',
    `\texternal = ${script(`diffext-${tag}`, 'exit 0')}`,
    '[diff "x"]',
    `\ttextconv = ${script(`textconv-${tag}`, 'cat "$1"')}`,
    '[credential]',
    `\thelper = !${script(`cred-${tag}`, 'exit 0')}`,
  ];
  if (includePath) lines.push('[include]', `\tpath = ${includePath}`);
  return `${lines.join('\n')}\n`;
}

function plantNestedRepos(wt: string): void {
  const inc = join(bin, 'included.gitconfig');
  writeFileSync(inc, hostileConfig('inc'));
  const g = (cwd: string, ...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=a', '-c', 'user.email=a@b', '-c', 'core.hooksPath=/dev/null', ...args], { cwd, stdio: 'pipe' });
  // A nested repository with a real .git directory and a committed file.
  mkdirSync(join(wt, 'sub'));
  g(join(wt, 'sub'), 'init', '-q');
  writeFileSync(join(wt, 'sub', 'f.txt'), 'one\n');
  writeFileSync(join(wt, 'sub', '.gitattributes'), '* filter=x diff=x\n');
  g(join(wt, 'sub'), 'add', '-A');
  g(join(wt, 'sub'), 'commit', '-q', '-m', 'sub');
  writeFileSync(join(wt, 'sub', '.git', 'config'), `[core]\n\trepositoryformatversion = 0\n\tbare = false\n${hostileConfig('sub', inc)}`);
  // Same size, new content: a status inside `sub` would have to run the clean filter.
  writeFileSync(join(wt, 'sub', 'f.txt'), 'two\n');
  // The .git-file variant: deep/wf/.git says "gitdir: ../../elsewhere", a repo with the same config.
  const elsewhere = join(wt, 'elsewhere');
  mkdirSync(join(wt, 'deep', 'wf'), { recursive: true });
  g(wt, 'init', '-q', '--separate-git-dir', elsewhere, join(wt, 'deep', 'wf'));
  writeFileSync(join(wt, 'deep', 'wf', 'g.txt'), 'g\n');
  writeFileSync(join(wt, 'deep', 'wf', '.gitattributes'), '* filter=x diff=x\n');
  writeFileSync(join(wt, 'deep', 'wf', '.git'), 'gitdir: ../../elsewhere\n');
  g(join(wt, 'deep', 'wf'), 'add', '-A');
  g(join(wt, 'deep', 'wf'), 'commit', '-q', '-m', 'wf');
  writeFileSync(join(elsewhere, 'config'), `[core]\n\trepositoryformatversion = 0\n\tbare = false\n${hostileConfig('gitfile', inc)}`);
  writeFileSync(join(wt, 'deep', 'wf', 'g.txt'), 'h\n');
  // The top-level attributes select the same drivers for every file of the workspace.
  writeFileSync(join(wt, '.gitattributes'), '* filter=x diff=x\n');
  writeFileSync(join(wt, 'top.txt'), 'top\n');
}

function gitlinksInRepo(): string[] {
  const commits = r.git('rev-list', '--all').split('\n').filter(Boolean);
  const out: string[] = [];
  for (const c of commits) {
    for (const l of r.git('ls-tree', '-r', c).split('\n')) if (l.startsWith('160000')) out.push(`${c.slice(0, 8)} ${l}`);
  }
  return out;
}

beforeEach(async () => {
  r = makeRepo();
  marks = join(r.root, 'marks');
  bin = join(r.root, 'bin');
  mkdirSync(marks);
  mkdirSync(bin);
  ws = await Workspaces.open(r.repo, { dataDir: r.dataDir });
});

afterEach(async () => {
  await ws.close();
  r.cleanup();
});

describe('a nested repository with hostile config in the worktree', () => {
  it('runs none of its commands on the host and records no gitlink, through every host-side operation', async () => {
    const { workspace } = await ws.create('nest');
    const wt = workspace.worktree;
    plantNestedRepos(wt);

    const first = await ws.checkpoint('nest', 'first');
    expect(first.committed).toBe(true);
    const files = r.git('ls-tree', '-r', '--name-only', first.sha).split('\n');
    // Plain files, never the nested .git (dir or file).
    expect(files).toEqual(expect.arrayContaining(['sub/f.txt', 'deep/wf/g.txt', 'top.txt']));
    expect(files.filter((f) => f.split('/').includes('.git'))).toEqual([]);
    writeFileSync(join(wt, 'sub', 'f.txt'), 'six\n');
    writeFileSync(join(wt, 'sub', 'new.txt'), 'new\n');
    const second = await ws.checkpoint('nest', 'second');
    expect(second.committed).toBe(true);
    expect(r.git('show', `${second.sha}:sub/new.txt`)).toBe('new\n');

    writeFileSync(join(wt, 'sub', 'f.txt'), 'ten\n');
    const list = await ws.list();
    expect(list.find((w) => w.name === 'nest')?.dirty).toBe(true);
    await ws.get('nest');
    const diff = await ws.diff('nest');
    expect(diff).toContain('+ten');
    await ws.diff('nest', { stat: true });
    expect((await ws.log('nest')).map((c) => c.subject)).toEqual(['second', 'first']);

    const repo = await GitRepo.discover(r.repo);
    const handle = { path: wt, gitDir: (await repo.worktreeGitDir(wt)) ?? '' };
    const tmp = mkdtempSync(join(r.root, 'export-'));
    await listUntracked(repo, handle);
    await writeTrackedChanges(repo, handle, { staged: join(tmp, 's.patch'), unstaged: join(tmp, 'u.patch') });
    await worktreeHead(repo, handle);
    const tip = await branchTip(repo, 'nest');
    const note = await readNote(repo, workspace.rootSha);
    await writeBundle(repo, {
      name: 'nest',
      head: tip ?? '',
      rootSha: workspace.rootSha,
      note: note ?? Buffer.from('{}'),
      tmpDir: tmp,
      out: join(tmp, 'b.bundle'),
    });

    const merged = await ws.merge('nest');
    expect(merged.merged).toBe(true);
    expect(existsSync(join(r.repo, 'sub', 'f.txt'))).toBe(true);
    await ws.delete('nest');
    rmSync(tmp, { recursive: true, force: true });

    expect(readdirSync(marks)).toEqual([]);
    expect(gitlinksInRepo()).toEqual([]);
  });
});

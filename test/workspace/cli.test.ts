/**
 * `berth ws` end to end: the real CLI entry (bin/berth.js) against a real repository, then git
 * itself is asked whether berth told the truth.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { register } from '../../runner/cli/commands/ws.js';
import { gitEnv, makeRepo, notesOf, worktreePaths, type TempRepo } from './helpers/repo.js';

const BIN = fileURLToPath(new URL('../../bin/berth.js', import.meta.url));

let r: TempRepo | undefined;
afterEach(() => {
  r?.cleanup();
  r = undefined;
});

function berth(repo: TempRepo, ...args: string[]): { code: number; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, [BIN, ...args], { cwd: repo.repo, env: gitEnv({ BERTH_DATA_DIR: repo.dataDir }), encoding: 'utf8', timeout: 60_000 });
  return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

interface ListJson {
  repo: string;
  workspaces: { name: string; branch: string; rootSha: string; worktree: string; dirty: boolean }[];
}

describe('berth ws (CLI)', () => {
  it('create, list --json, diff, delete agree with git', () => {
    const repo = (r = makeRepo());
    const created = berth(repo, 'ws', 'create', 'demo');
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^Created workspace demo from HEAD \([0-9a-f]{8}\)\n {2}branch {4}berth\/demo\n/);

    const listed = berth(repo, 'ws', 'list', '--json');
    expect(listed.code).toBe(0);
    const list = JSON.parse(listed.stdout) as ListJson;
    expect(list.repo).toBe(repo.repo);
    expect(list.workspaces.map((w) => [w.name, w.branch])).toEqual([['demo', 'berth/demo']]);
    const [w] = list.workspaces;
    if (!w) throw new Error('no workspace listed');
    expect(w.worktree.startsWith(repo.dataDir)).toBe(true);

    // What berth claims, checked against git.
    expect(notesOf(repo).map((n) => n[1])).toEqual([w.rootSha]);
    expect(repo.git('branch', '--format=%(refname:short)').split('\n').filter(Boolean).sort()).toEqual(['berth/demo', 'main']);
    expect(repo.git('rev-parse', 'berth/demo').trim()).toBe(w.rootSha);
    expect(worktreePaths(repo)).toEqual([repo.repo, w.worktree]);

    writeFileSync(join(w.worktree, 'agent.txt'), 'written by the agent\n');
    const diff = berth(repo, 'ws', 'diff', 'demo');
    expect(diff.code).toBe(0);
    expect(diff.stdout).toContain('diff --git a/agent.txt b/agent.txt');
    expect(diff.stdout).toContain('+written by the agent');

    const table = berth(repo, 'ws', 'list');
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+BASE\s+HEAD\s+STATUS\s+AGE\s+WORKTREE$/);
    expect(table.stdout).toMatch(/^demo\s+HEAD@[0-9a-f]{8}\s+[0-9a-f]{8}\s+modified\s+\d+s\s+\//m);

    const deleted = berth(repo, 'ws', 'delete', 'demo');
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toBe('Deleted workspace demo\n');
    expect(repo.gitStatus('notes', '--ref=berth', 'list').stdout).toBe('');
    expect(repo.git('branch', '--format=%(refname:short)').trim()).toBe('main');
    expect(existsSync(w.worktree)).toBe(false);
    expect(worktreePaths(repo)).toEqual([repo.repo]);
    expect(JSON.parse(berth(repo, 'ws', 'list', '--json').stdout)).toEqual({ repo: repo.repo, workspaces: [] });
  });

  it('reports errors with codes and exit statuses, and validates arguments', () => {
    const repo = (r = makeRepo());
    const missing = berth(repo, 'ws', 'show', 'nope', '--json');
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout)).toMatchObject({ error: { code: 'WORKSPACE_NOT_FOUND' } });

    const bad = berth(repo, 'ws', 'create', '--', '--upload-pack=x');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('workspace "--upload-pack=x" is not a valid name');

    const elsewhere = berth(repo, 'ws', 'list', '--repo', repo.dataDir);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toMatch(/^berth: .* (does not exist|is not inside a git repository)/);

    const duration = berth(repo, 'ws', 'prune', '--older-than', '7x');
    expect(duration.code).toBe(2);
    expect(duration.stderr).toContain('duration "7x" is not valid');
    expect(repo.git('branch', '--format=%(refname:short)').trim()).toBe('main');
  });

  it('checkpoint, log, merge --squash and prune through the CLI', () => {
    const repo = (r = makeRepo());
    expect(berth(repo, 'ws', 'create', 'feat', '--json').code).toBe(0);
    const w = (JSON.parse(berth(repo, 'ws', 'show', 'feat', '--json').stdout) as { workspace: { worktree: string } }).workspace;
    writeFileSync(join(w.worktree, 'feature.txt'), 'feature\n');
    const cp = JSON.parse(berth(repo, 'ws', 'checkpoint', 'feat', '-m', 'add feature', '--json').stdout) as { committed: boolean; sha: string };
    expect(cp.committed).toBe(true);
    expect(berth(repo, 'ws', 'log', 'feat').stdout).toMatch(new RegExp(`^${cp.sha.slice(0, 8)} .* add feature `));
    const merged = berth(repo, 'ws', 'merge', 'feat', '--squash', '-m', 'Feature');
    expect(merged.code).toBe(0);
    expect(merged.stdout).toMatch(/^Squashed berth\/feat into main \([0-9a-f]{8}\)\n$/);
    expect(repo.git('log', '-1', '--format=%s').trim()).toBe('Feature');
    const dry = berth(repo, 'ws', 'prune', '--older-than', '0s', '--dry-run');
    expect(dry.stdout).toBe('Would delete feat\n');
    const pruned = JSON.parse(berth(repo, 'ws', 'prune', '--older-than', '0s', '--json').stdout) as { pruned: string[] };
    expect(pruned.pruned).toEqual(['feat']);
    expect(repo.git('branch', '--format=%(refname:short)').trim()).toBe('main');
  });

  it('every subcommand has --help with an example', () => {
    // In-process (commander renders help without running anything): saves nine node start-ups.
    const program = new Command('berth');
    register(program);
    const ws = program.commands.find((c) => c.name() === 'ws');
    const subs = ws?.commands ?? [];
    expect(subs.map((c) => c.name()).sort()).toEqual([
      'checkpoint',
      'checkpoints',
      'create',
      'delete',
      'diff',
      'export',
      'fork',
      'import',
      'list',
      'log',
      'merge',
      'prune',
      'restore',
      'show',
      'sync',
      'volumes',
    ]);
    for (const sub of subs) {
      let out = '';
      sub.configureOutput({ writeOut: (s) => (out += s) });
      sub.outputHelp();
      expect(out).toMatch(new RegExp(`Example:\\n {2}berth ws ${sub.name()}`));
      expect(out).toContain('--repo <path>');
      expect(out).toContain('--json');
    }
  });
});

/**
 * The hardened base (src/git/run.ts) applies to every git call berth makes: a repository whose
 * own .git/config, and a HOME whose ~/.gitconfig, set command-running options (hooks, fsmonitor,
 * pager, external diff, textconv, editors, signing, ssh, credential helpers, and in HOME a
 * filter selected by the agent's .gitattributes) run none of them through create, checkpoint,
 * diff, log, list, merge and delete; HOME's config contributes only the identity and the
 * excludes file.
 */
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GitRepo, SAFE_CONFIG } from '../../src/git/index.js';
import { Workspaces } from '../../src/workspace/index.js';
import { makeRepo, type TempRepo } from '../workspace/helpers/repo.js';

let r: TempRepo;
let marks: string;
let bin: string;
const saved = { HOME: process.env.HOME, XDG: process.env.XDG_CONFIG_HOME, GLOBAL: process.env.GIT_CONFIG_GLOBAL };

function script(name: string, body = 'exit 0'): string {
  const p = join(bin, name);
  writeFileSync(p, `#!/bin/sh\ntouch '${marks}/${name}'\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

function hostile(tag: string): string {
  const hooks = join(bin, `hooks-${tag}`);
  mkdirSync(hooks);
  for (const h of [
    'pre-commit',
    'commit-msg',
    'post-commit',
    'post-checkout',
    'post-merge',
    'reference-transaction',
    'post-index-change',
    'pre-merge-commit',
  ]) {
    writeFileSync(join(hooks, h), `#!/bin/sh\ntouch '${marks}/hook-${tag}-${h}'\nexit 0\n`);
    chmodSync(join(hooks, h), 0o755);
  }
  return [
    '[core]',
    `\tfsmonitor = ${script(`fsmonitor-${tag}`)}`,
    `\thooksPath = ${hooks}`,
    `\tpager = ${script(`pager-${tag}`, 'cat')}`,
    `\teditor = ${script(`editor-${tag}`)}`,
    `\tsshCommand = ${script(`ssh-${tag}`)}`,
    `\taskPass = ${script(`askpass-${tag}`)}`,
    '[diff]',
    `\texternal = ${script(`diffext-${tag}`)}`,
    '[diff "x"]',
    `\ttextconv = ${script(`textconv-${tag}`, 'cat "$1"')}`,
    '[pager]',
    `\tlog = ${script(`pagerlog-${tag}`, 'cat')}`,
    `\tdiff = ${script(`pagerdiff-${tag}`, 'cat')}`,
    '[credential]',
    `\thelper = !${script(`cred-${tag}`)}`,
    '[commit]',
    '\tgpgSign = true',
    '[gpg]',
    `\tprogram = ${script(`gpg-${tag}`)}`,
    '[sequence]',
    `\teditor = ${script(`seqeditor-${tag}`)}`,
    '[status]',
    '\tsubmoduleSummary = true',
    '[log]',
    '\tshowSignature = true',
    '',
  ].join('\n');
}

beforeEach(() => {
  r = makeRepo();
  marks = join(r.root, 'marks');
  bin = join(r.root, 'bin');
  mkdirSync(marks);
  mkdirSync(bin);
});

afterEach(() => {
  for (const [k, v] of [
    ['HOME', saved.HOME],
    ['XDG_CONFIG_HOME', saved.XDG],
    ['GIT_CONFIG_GLOBAL', saved.GLOBAL],
  ] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  r.cleanup();
});

describe('the hardened git base', () => {
  it('passes every neutralising setting once, and `protocol.allow=never`', () => {
    for (const k of [
      'core.hooksPath=/dev/null',
      'core.fsmonitor=false',
      'diff.external=',
      'diff.ignoreSubmodules=all',
      'protocol.allow=never',
      'credential.helper=',
      'core.pager=cat',
    ]) {
      expect(SAFE_CONFIG).toContain(k);
    }
  });

  it('runs nothing configured in .git/config or ~/.gitconfig, and takes only identity and excludes from HOME', async () => {
    // The repository's own config: settings the user meant for their own shell, not agent content.
    writeFileSync(
      join(r.repo, '.git', 'config'),
      `${r
        .git('config', '--local', '--list')
        .split('\n')
        .filter(Boolean)
        .map((l) => l.replace(/^([^.]+)\.([^=]+)=(.*)$/, '[$1]\n\t$2 = $3'))
        .join('\n')}\n${hostile('repo')}`,
    );
    // HOME: the same, plus a filter the agent's .gitattributes selects, and an identity.
    const home = join(r.root, 'home');
    mkdirSync(home);
    writeFileSync(join(home, 'excludes'), '*.secretlocal\n');
    writeFileSync(
      join(home, '.gitconfig'),
      `[user]\n\tname = Home User\n\temail = home@example.invalid\n[core]\n\texcludesFile = ${join(home, 'excludes')}\n[filter "x"]\n\tclean = ${script('clean-home', 'cat')}\n\tsmudge = ${script('smudge-home', 'cat')}\n[alias]\n\tstatus = !${script('alias-home')}\n${hostile('home').replace('[core]\n', '[core]\n\tattributesFile = /dev/null\n')}`,
    );
    process.env.HOME = home;
    delete process.env.XDG_CONFIG_HOME;
    delete process.env.GIT_CONFIG_GLOBAL;

    const ws = await Workspaces.open(r.repo, { dataDir: r.dataDir });
    try {
      const { workspace } = await ws.create('base');
      const wt = workspace.worktree;
      writeFileSync(join(wt, '.gitattributes'), '* filter=x diff=x\n');
      writeFileSync(join(wt, 'new.txt'), 'new\n');
      writeFileSync(join(wt, 'README.md'), '# changed\n');
      writeFileSync(join(wt, 'keys.secretlocal'), 'not for git\n');
      expect((await ws.list())[0]?.dirty).toBe(true);
      expect(await ws.diff('base')).toContain('+# changed');
      const cp = await ws.checkpoint('base', 'work');
      expect(cp.committed).toBe(true);
      // Identity from HOME; excludesFile from HOME honoured (the user's ignore list still applies).
      expect(r.git('log', '-1', '--format=%an <%ae>|%cn <%ce>', cp.sha).trim()).toBe('Home User <home@example.invalid>|Home User <home@example.invalid>');
      expect(r.git('ls-tree', '-r', '--name-only', cp.sha)).not.toContain('keys.secretlocal');
      writeFileSync(join(wt, 'README.md'), '# changed again\n');
      expect(await ws.diff('base')).toContain('+# changed again');
      expect((await ws.log('base')).map((c) => c.subject)).toEqual(['work']);
      const merged = await ws.merge('base', { squash: true });
      expect(merged.merged).toBe(true);
      await ws.delete('base');
      // Low-level calls get the same base: a raw `log -p` still runs no pager or external diff.
      const repo = await GitRepo.discover(r.repo);
      await repo.run(['log', '-p', '--no-textconv', '-1'], { cwd: r.repo });
    } finally {
      await ws.close();
    }
    expect(readdirSync(marks)).toEqual([]);
  });

  it('falls back to the berth identity when neither HOME nor the repository has one', async () => {
    const home = join(r.root, 'empty-home');
    mkdirSync(home);
    process.env.HOME = home;
    delete process.env.XDG_CONFIG_HOME;
    delete process.env.GIT_CONFIG_GLOBAL;
    const ws = await Workspaces.open(r.repo, { dataDir: r.dataDir });
    try {
      const { workspace } = await ws.create('fallback');
      writeFileSync(join(workspace.worktree, 'a.txt'), 'a\n');
      const cp = await ws.checkpoint('fallback', 'x');
      expect(r.git('log', '-1', '--format=%an <%ae>', cp.sha).trim()).toBe('berth <berth@localhost>');
      // A repository-local identity wins over HOME's and the fallback, as in git.
      r.git('config', 'user.name', 'Repo User');
      r.git('config', 'user.email', 'repo@example.invalid');
      writeFileSync(join(workspace.worktree, 'b.txt'), 'b\n');
      const cp2 = await ws.checkpoint('fallback', 'y');
      expect(r.git('log', '-1', '--format=%an <%ae>', cp2.sha).trim()).toBe('Repo User <repo@example.invalid>');
    } finally {
      await ws.close();
    }
  });
});

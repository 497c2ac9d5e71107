// Attack class: a hostile agent inside a REMOTE workspace (its tree is a volume; berth's helper
// runs git over it to checkpoint, and the host fetches the result as a bundle).
//  1. The agent replaces the tree's `.git` file with a `.git` directory whose config sets
//     core.fsmonitor, a clean filter (armed by its .gitattributes) and hooks that write markers,
//     and which carries an extra ref. A checkpoint must run none of them (no marker in the volume,
//     in the git volume or on the host), commit none of its files, and give the host repository
//     nothing but the workspace's own branch.
//  2. A bundle bomb: a checkpoint larger than the limit fails with CHECKPOINT_TOO_LARGE and leaves
//     the host branch, its refs and its worktree as they were.
// Both fail on a naive version: verified by running this file with the helper's git pointed at
// the tree's own .git (GIT_DIR unset, no SAFE_CONFIG) and with the size limit disabled.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isBerthError } from '../../src/errors.js';
import { checkpointWorkspace } from '../../runner/session/checkpoints.js';
import { Runner, type Session } from '../../runner/session/index.js';
import { describeDocker } from '../helpers/docker.js';
import { busyboxSpec, makeFixture, removeLabelled, type Fixture } from '../runner/helpers.js';

const HOSTILE_CONFIG = (hostMarker: string) => `[core]
\trepositoryformatversion = 0
\tbare = false
\tfsmonitor = "touch \\"$PWD/PWNED-fsmonitor\\" /berth-git/PWNED-fsmonitor ${hostMarker}; exit 1"
\thooksPath = hooks
[filter "evil"]
\tclean = "sh -c 'touch PWNED-filter /berth-git/PWNED-filter ${hostMarker}; cat'"
\trequired = true
`;

const HOOK = (hostMarker: string) => `#!/bin/sh\ntouch "$PWD/PWNED-hook" /berth-git/PWNED-hook ${hostMarker}\n`;

describeDocker('security: hostile content in a remote workspace', () => {
  let fx: Fixture;
  let runner: Runner;
  let small: Runner;
  let hostDir: string;

  beforeAll(async () => {
    fx = makeFixture('berth-sec-remote-');
    hostDir = mkdtempSync(join(tmpdir(), 'berth-sec-remote-host-'));
    const base = { repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, spec: busyboxSpec(), reconcile: false };
    runner = await Runner.create({ ...base, remote: true });
    small = await Runner.create({ ...base, remote: { maxBundleBytes: 200_000 } });
  });

  afterAll(async () => {
    await runner?.close().catch(() => undefined);
    await small?.close().catch(() => undefined);
    if (hostDir) rmSync(hostDir, { recursive: true, force: true });
    if (fx) {
      await removeLabelled(fx.runId);
      await fx.cleanup();
    }
  });

  async function sh(s: Session, cmd: string): Promise<string> {
    const r = await s.exec(cmd);
    expect(r.exitCode, `${cmd}: ${r.stderr}`).toBe(0);
    return r.stdout;
  }

  const refs = () => fx.git('for-each-ref', '--format=%(refname)').split('\n').filter(Boolean).sort();

  it('a planted .git with fsmonitor, filter, hooks and refs runs nothing and reaches the host as content only', async () => {
    const marker = join(hostDir, 'host-marker');
    const s = await runner.open('evil');
    const refsBefore = refs();
    const hook = HOOK(marker).replace(/'/g, `'\\''`);
    await sh(
      s,
      [
        'rm -f .git && mkdir -p .git/hooks .git/refs/heads .git/objects',
        `printf '%s' '${HOSTILE_CONFIG(marker).replace(/'/g, `'\\''`)}' > .git/config`,
        "echo 'ref: refs/heads/berth/evil' > .git/HEAD",
        'cp /berth-git/refs/heads/berth/evil .git/refs/heads/injected 2>/dev/null || echo 0000000000000000000000000000000000000000 > .git/refs/heads/injected',
        `for h in pre-commit post-commit pre-auto-gc reference-transaction post-index-change; do printf '%s' '${hook}' > .git/hooks/$h; chmod +x .git/hooks/$h; printf '%s' '${hook}' > hooks-$h; chmod +x hooks-$h; done`,
        'mkdir -p hooks && cp .git/hooks/* hooks/',
        "echo '* filter=evil' > .gitattributes",
        'echo agent-work > work.txt',
      ].join(' && '),
    );
    // The agent can't reach berth's git volume either.
    expect((await s.exec('echo "[core] fsmonitor = touch /berth-git/x" >> /berth-git/config')).exitCode).not.toBe(0);

    const cp = await checkpointWorkspace(runner, 'evil', { message: 'agent work' });
    expect(cp.committed).toBe(true);

    // Nothing ran: no marker in the tree, the git volume or on the host.
    const listing = await sh(s, 'ls -a . /berth-git');
    expect(listing).not.toMatch(/PWNED/);
    expect(existsSync(marker)).toBe(false);
    // The host got content only: the branch's files, no .git, no marker, filter output untouched.
    const files = fx.git('ls-tree', '-r', '--name-only', 'berth/evil').split('\n').filter(Boolean);
    expect(files).toContain('work.txt');
    expect(files.some((f) => f === '.git' || f.startsWith('.git/') || /PWNED/.test(f))).toBe(false);
    expect(fx.git('show', 'berth/evil:work.txt')).toBe('agent-work\n');
    // Only the workspace's own branch moved; the injected ref stayed in the volume.
    expect(refs()).toEqual(refsBefore);
    expect(fx.git('rev-parse', 'refs/heads/berth/evil').trim()).toBe(cp.sha);
  }, 180_000);

  it('a checkpoint over the size limit fails clearly and changes nothing on the host', async () => {
    const s = await small.open('bomb');
    const before = { refs: refs(), head: fx.git('rev-parse', 'refs/heads/berth/bomb').trim() };
    await sh(s, 'head -c 2000000 /dev/urandom > big.bin && echo small > note.txt');
    const err = await checkpointWorkspace(small, 'bomb', { message: 'bomb' }).catch((e: unknown) => e);
    expect(isBerthError(err, 'CHECKPOINT_TOO_LARGE'), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/over the limit of 200000/);
    expect(refs()).toEqual(before.refs);
    expect(fx.git('rev-parse', 'refs/heads/berth/bomb').trim()).toBe(before.head);
    const info = await small.workspaces.get('bomb');
    expect(existsSync(join(info.worktree, 'big.bin'))).toBe(false);
    // Nothing is lost: the work is still in the volume, and removing the big file lets it through.
    await sh(s, 'rm big.bin');
    const cp = await checkpointWorkspace(small, 'bomb', { message: 'without the bomb' });
    expect(fx.git('show', `${cp.sha}:note.txt`)).toBe('small\n');
  }, 180_000);
});

// Checkpoints with container state, forks, restores, the command log and named volumes, on a real
// git repository and real containers (busybox). Every container, volume and image this suite makes
// carries the fixture's label and is removed in afterAll.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Dockerode } from '../helpers/docker.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { IMAGES } from '../../src/images.js';
import { checkpointImageRef, checkpointImageRepo, LABEL, workspaceVolumeName } from '../../docker/labels.js';
import { listRepoTags } from '../../docker/snapshots.js';
import { isBerthError } from '../../src/errors.js';
import { readCheckpoints, readContainerImage, readRestores } from '../../runner/session/checkpoint-state.js';
import { checkpointWorkspace, forkWorkspace, restoreWorkspace, type CheckpointOutcome } from '../../runner/session/checkpoints.js';
import { CommandLog, commandLogPath, commandLogsWritten, entryFor, readCommandLog } from '../../runner/session/command-log.js';
import { Runner } from '../../runner/session/index.js';
import { hasVolume, isVolumeKept, workspaceVolumes } from '../../runner/session/workspace-resources.js';
import { describeDocker } from '../helpers/docker.js';
import { busyboxSpec, makeFixture, removeLabelled, TEST_LABEL, type Fixture } from '../runner/helpers.js';
import { removeLabelledImages } from './helpers.js';

const BIN = fileURLToPath(new URL('../../bin/berth.js', import.meta.url));

/** "Installs a package": a script under /usr/local/bin, written as root like a package manager would. */
function install(tool: string, says: string): string {
  return `mkdir -p /usr/local/bin && printf '#!/bin/sh\\necho ${says}\\n' > /usr/local/bin/${tool} && chmod 755 /usr/local/bin/${tool}`;
}

describeDocker('persistence: checkpoints, forks, restores, command log, volumes', () => {
  let fx: Fixture;
  let runner: Runner;
  let cp1: CheckpointOutcome;
  const docker = new Dockerode();

  function berth(...args: string[]): { code: number; stdout: string; stderr: string } {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
    const res = spawnSync(process.execPath, [BIN, ...args], { cwd: fx.repo, env: { ...env, BERTH_DATA_DIR: fx.dataDir }, encoding: 'utf8', timeout: 60_000 });
    return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
  }

  beforeAll(async () => {
    fx = makeFixture('berth-persist-');
    // berth.yaml, so the CLI (which reads only the repository) sees the same volumes as the runner.
    fx.write('berth.yaml', `image: ${IMAGES.busybox}\nvolumes:\n  data: /data\n`);
    fx.commitAll('berth.yaml');
    runner = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, spec: busyboxSpec(), reconcile: false });
  });

  afterAll(async () => {
    await runner?.close().catch(() => undefined);
    if (fx) {
      await removeLabelled(fx.runId);
      await removeLabelledImages(fx.runId);
      await fx.cleanup();
    }
  });

  it('checkpoint --with-container snapshots the container; a new container of the workspace starts from it', async () => {
    const s = await runner.open('alpha');
    const inst = await s.exec(install('mytool', 'tool-v1'), { fresh: true, user: '0:0' });
    expect(inst.exitCode).toBe(0);
    writeFileSync(join(s.workspace.worktree, 'notes.txt'), 'v1\n');

    cp1 = await checkpointWorkspace(runner, 'alpha', { message: 'first step\n\ndetails', withContainer: true });
    expect(cp1.committed).toBe(true);
    expect(cp1.image?.ref).toBe(checkpointImageRef(runner.repo, 'alpha', cp1.sha));
    const img = await docker.getImage(cp1.image!.ref).inspect();
    expect(img.Config.Labels).toMatchObject({
      [LABEL.checkpoint]: cp1.sha,
      [LABEL.workspace]: 'alpha',
      [LABEL.repoId]: runner.repo.id,
      [LABEL.role]: 'checkpoint',
      [TEST_LABEL]: fx.runId,
    });
    const info = await runner.workspaces.get('alpha');
    expect(readCheckpoints(info.extra)).toEqual([
      expect.objectContaining({ sha: cp1.sha, message: 'first step', image: cp1.image!.ref, imageId: cp1.image!.id, baseImage: IMAGES.busybox }),
    ]);
    expect(readContainerImage(info.extra)).toMatchObject({ ref: cp1.image!.ref, checkpoint: cp1.sha });

    // The container is lost (removed by hand, pruned, a crash): the next open recreates it.
    await runner.closeSession('alpha');
    await docker.getContainer(s.containerId).remove({ force: true });
    const s2 = await runner.open('alpha');
    expect(s2.created.container).toBe(true);
    expect((await docker.getContainer(s2.containerId).inspect()).Config.Image).toBe(cp1.image!.ref);
    expect((await s2.exec('mytool')).stdout).toBe('tool-v1\n');
    // Still a normal session container: berth's labels win over the snapshot's.
    expect((await docker.getContainer(s2.containerId).inspect()).Config.Labels).toMatchObject({ [LABEL.role]: 'session', [LABEL.workspace]: 'alpha' });
  });

  it('checkpoint --with-container without a container fails before committing anything', async () => {
    await runner.workspaces.create('nocontainer');
    const head = (await runner.workspaces.get('nocontainer')).head;
    writeFileSync(join((await runner.workspaces.get('nocontainer')).worktree, 'x.txt'), 'x');
    const err = await checkpointWorkspace(runner, 'nocontainer', { message: 'x', withContainer: true }).catch((e: unknown) => e);
    expect(isBerthError(err, 'NOT_FOUND')).toBe(true);
    expect((await runner.workspaces.get('nocontainer')).head).toBe(head);
    await runner.delete('nocontainer');
  });

  it('logs every command of a session (not in the worktree), bounded, and shows it with berth ws log --commands', async () => {
    const s = runner.get('alpha') ?? (await runner.open('alpha'));
    await s.exec('echo hello; echo oops >&2; exit 3');
    await s.exec('sleep 5', { timeoutMs: 300 });
    await s.exec('printf abc', { fresh: true });
    await commandLogsWritten();
    const path = commandLogPath(fx.dataDir, runner.repo, 'alpha');
    expect(path.startsWith(fx.dataDir)).toBe(true);
    const last = (await readCommandLog(path)).slice(-3);
    expect(last[0]).toMatchObject({
      shell: 'main',
      command: 'echo hello; echo oops >&2; exit 3',
      exitCode: 3,
      stdoutBytes: 6,
      stderrBytes: 5,
      truncated: false,
      timedOut: false,
    });
    expect(last[1]).toMatchObject({ shell: 'main', command: 'sleep 5', timedOut: true });
    expect(last[2]).toMatchObject({ shell: null, command: 'printf abc', exitCode: 0, stdoutBytes: 3 });
    expect(Date.parse(last[0]!.ts)).toBeLessThanOrEqual(Date.parse(last[1]!.ts));
    // The worktree's diff does not see the log.
    expect(await runner.workspaces.diff('alpha')).not.toContain('jsonl');

    const cli = berth('ws', 'log', 'alpha', '--commands', '--json', '-n', '2');
    expect(cli.code, cli.stderr).toBe(0);
    const parsed = JSON.parse(cli.stdout) as { commands: { command: string }[] };
    expect(parsed.commands.map((c) => c.command)).toEqual(['sleep 5', 'printf abc']);

    // Bounded: old lines go, the newest stay, every line stays whole.
    const small = new CommandLog(join(fx.root, 'small.jsonl'), { maxBytes: 4096 });
    const r = await s.exec('true');
    for (let i = 0; i < 100; i++) await small.append(entryFor(`echo ${i}`, r));
    expect(statSync(small.path).size).toBeLessThanOrEqual(4096);
    const kept = await readCommandLog(small.path);
    expect(kept.length).toBeGreaterThan(5);
    expect(kept[kept.length - 1]?.command).toBe('echo 99');
    expect(readFileSync(small.path, 'utf8').trim().split('\n')).toHaveLength(kept.length);
  });

  it('fork --at a checkpoint starts a new workspace at its commit, its container from its snapshot', async () => {
    const f = await forkWorkspace(runner, 'alpha', 'beta', { at: cp1.sha.slice(0, 7) });
    expect(f.from).toEqual({ name: 'alpha', sha: cp1.sha });
    expect(f.image).toBe(checkpointImageRef(runner.repo, 'beta', cp1.sha));
    expect(f.workspace.baseSha).toBe(cp1.sha);
    expect(readFileSync(join(f.workspace.worktree, 'notes.txt'), 'utf8')).toBe('v1\n');
    const sb = await runner.open('beta');
    expect((await sb.exec('mytool')).stdout).toBe('tool-v1\n');
    expect((await docker.getContainer(sb.containerId).inspect()).Config.Image).toBe(f.image);

    expect(isBerthError(await forkWorkspace(runner, 'alpha', 'gamma', { at: 'not-a-sha' }).catch((e: unknown) => e), 'BAD_INPUT')).toBe(true);
    expect(isBerthError(await forkWorkspace(runner, 'alpha', 'gamma', { at: 'deadbeef' }).catch((e: unknown) => e), 'NOT_FOUND')).toBe(true);
    expect(await runner.workspaces.find('gamma')).toBeUndefined();
  });

  it('restore rolls back worktree, branch and container; the old head and pending work stay reachable', async () => {
    const s = runner.get('alpha') ?? (await runner.open('alpha'));
    expect((await s.exec(install('second', 'second-tool'), { fresh: true, user: '0:0' })).exitCode).toBe(0);
    const wt = s.workspace.worktree;
    writeFileSync(join(wt, 'notes.txt'), 'v2\n');
    const cp2 = await checkpointWorkspace(runner, 'alpha', { message: 'second step' });
    expect(cp2.image).toBeUndefined();
    writeFileSync(join(wt, 'notes.txt'), 'v3\n');
    writeFileSync(join(wt, 'scratch.txt'), 'pending work\n');

    const r = await restoreWorkspace(runner, 'alpha', { at: cp1.sha.slice(0, 10) });
    expect(r.sha).toBe(cp1.sha);
    expect(r.savedPending).toBeDefined();
    expect(r.previousHead).toBe(r.savedPending);
    expect(r.containerRecreated).toBe(true);
    expect(readFileSync(join(wt, 'notes.txt'), 'utf8')).toBe('v1\n');
    expect(existsSync(join(wt, 'scratch.txt'))).toBe(false);
    const info = await runner.workspaces.get('alpha');
    expect(info.head).toBe(cp1.sha);
    expect(info.dirty).toBe(false);
    expect(fx.git('rev-parse', r.keptRef!).trim()).toBe(r.previousHead);
    expect(fx.git('show', `${r.savedPending}:scratch.txt`)).toBe('pending work\n');
    expect(fx.git('log', '--format=%s', '-1', `${r.savedPending}^`).trim()).toBe('second step');
    expect(readRestores(info.extra).at(-1)).toMatchObject({ from: r.previousHead, to: cp1.sha, keptRef: r.keptRef });

    const s2 = await runner.open('alpha');
    expect(s2.created.container).toBe(true);
    expect((await s2.exec('mytool')).stdout).toBe('tool-v1\n');
    expect((await s2.exec('test -e /usr/local/bin/second')).exitCode).toBe(1);

    // Forward again to the kept head: nothing was lost.
    const back = await restoreWorkspace(runner, 'alpha', { at: r.previousHead.slice(0, 12) });
    expect(back.sha).toBe(r.previousHead);
    expect(readFileSync(join(wt, 'notes.txt'), 'utf8')).toBe('v3\n');
    expect(readFileSync(join(wt, 'scratch.txt'), 'utf8')).toBe('pending work\n');
    // Restoring to where the branch already is keeps nothing extra.
    expect((await restoreWorkspace(runner, 'alpha', { at: r.previousHead.slice(0, 12) })).keptRef).toBeUndefined();
  });

  it('volumes are created on open, writable by the session user, listed, kept with --keep-volumes and deleted otherwise', async () => {
    const s = runner.get('alpha') ?? (await runner.open('alpha'));
    const spec = (await runner.resolve()).spec;
    expect(await workspaceVolumes(runner, 'alpha', spec)).toEqual([
      expect.objectContaining({ name: 'data', path: '/data', volume: workspaceVolumeName(runner.repo, 'alpha', 'data'), workspace: 'alpha', kept: false }),
    ]);
    expect(await hasVolume(runner, 'alpha', 'data')).toBe(true);
    expect(await hasVolume(runner, 'alpha', 'other')).toBe(false);
    expect(await hasVolume(runner, 'nope', 'data')).toBe(false);
    expect((await s.exec('echo hi > /data/x && cat /data/x')).stdout).toBe('hi\n');
    const cli = berth('ws', 'volumes', 'alpha', '--json');
    expect(cli.code, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ name: 'alpha', volumes: [{ name: 'data', path: '/data', kept: false }] });

    const g = await runner.open('gamma');
    await g.exec('echo kept-data > /data/file');
    await runner.closeSession('gamma');
    const vol = workspaceVolumeName(runner.repo, 'gamma', 'data');
    const del = berth('ws', 'delete', 'gamma', '--keep-volumes');
    expect(del.code, del.stderr).toBe(0);
    expect(await runner.workspaces.find('gamma')).toBeUndefined();
    await docker.getVolume(vol).inspect();
    expect(await isVolumeKept(fx.dataDir, vol)).toBe(true);
    await runner.gc();
    await docker.getVolume(vol).inspect();

    // Same name again: the kept volume is mounted again.
    const g2 = await runner.open('gamma');
    expect((await g2.exec('cat /data/file')).stdout).toBe('kept-data\n');
    await runner.delete('gamma');
    expect(
      await docker
        .getVolume(vol)
        .inspect()
        .then(
          () => true,
          () => false,
        ),
    ).toBe(false);
    expect(await isVolumeKept(fx.dataDir, vol)).toBe(false);
  });

  it('deleting a workspace removes its snapshots, kept heads and command log, but not a fork source still using the image', async () => {
    await runner.delete('beta');
    expect(await listRepoTags(docker, checkpointImageRepo(runner.repo, 'beta'))).toEqual([]);
    await docker.getImage(cp1.image!.ref).inspect();

    const log = commandLogPath(fx.dataDir, runner.repo, 'alpha');
    expect(existsSync(log)).toBe(true);
    const kept = fx.git('for-each-ref', '--format=%(refname)', 'refs/berth/kept/alpha/').trim();
    expect(kept).not.toBe('');
    await runner.delete('alpha');
    expect(await listRepoTags(docker, checkpointImageRepo(runner.repo, 'alpha'))).toEqual([]);
    expect(fx.git('for-each-ref', '--format=%(refname)', 'refs/berth/kept/alpha/').trim()).toBe('');
    expect(existsSync(log)).toBe(false);
  });
});

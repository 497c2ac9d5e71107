// The "done when" of persistence: a workspace with commits, uncommitted and untracked files, a
// container checkpoint and volume data is exported to a real S3-compatible server (s3rver on
// loopback), deleted, imported under a new name and resumed — and every byte is the same.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Dockerode } from '../helpers/docker.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { IMAGES } from '../../src/images.js';
import { checkpointImageRef, checkpointImageRepo, workspaceVolumeName } from '../../docker/labels.js';
import { inspectImage, listRepoTags } from '../../docker/snapshots.js';
import { isBerthError } from '../../src/errors.js';
import { readCheckpoints, readContainerImage } from '../../runner/session/checkpoint-state.js';
import { checkpointWorkspace } from '../../runner/session/checkpoints.js';
import { commandLogPath, commandLogsWritten } from '../../runner/session/command-log.js';
import { Runner, type Session } from '../../runner/session/index.js';
import { containerStateOf } from '../../runner/storage/container-transfer.js';
import { exportWorkspace, importWorkspace } from '../../runner/storage/transfer.js';
import { describeDocker } from '../helpers/docker.js';
import { busyboxSpec, makeFixture, removeLabelled, type Fixture } from '../runner/helpers.js';
import { BUCKET, startS3, type TestS3 } from '../storage/harness.js';
import { removeLabelledImages, treeDigest } from './helpers.js';

/** Everything in /data that can differ: names, types, modes, owners, sizes, content hashes. */
const VOLUME_FINGERPRINT = `cd /data && find . | sort | while read -r p; do
  if [ -L "$p" ]; then echo "$p link $(readlink "$p")";
  elif [ -d "$p" ]; then echo "$p dir $(stat -c '%a %u:%g' "$p")";
  else echo "$p file $(stat -c '%a %u:%g %s' "$p") $(sha256sum < "$p" | cut -d' ' -f1)"; fi
done`;

describeDocker('persistence: export, delete, import under a new name, resume', () => {
  let fx: Fixture;
  let runner: Runner;
  let s3: TestS3;
  let scratch: string;
  const docker = new Dockerode();

  beforeAll(async () => {
    fx = makeFixture('berth-roundtrip-');
    fx.write('berth.yaml', `image: ${IMAGES.busybox}\nvolumes:\n  data: /data\n`);
    fx.commitAll('berth.yaml');
    runner = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, spec: busyboxSpec(), reconcile: false });
    s3 = await startS3();
    scratch = mkdtempSync(join(tmpdir(), 'berth-roundtrip-scratch-'));
  });

  afterAll(async () => {
    await runner?.close().catch(() => undefined);
    await s3?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    if (fx) {
      await removeLabelled(fx.runId);
      await removeLabelledImages(fx.runId);
      await fx.cleanup();
    }
  });

  async function ok(s: Session, cmd: string, root = false): Promise<string> {
    const r = await s.exec(cmd, root ? { fresh: true, user: '0:0' } : {});
    expect(r.exitCode, `${cmd}: ${r.stderr}`).toBe(0);
    return r.stdout;
  }

  it('round-trips worktree, branch, state, command log, container snapshot and volume bytes', async () => {
    // ---- a workspace with everything ---------------------------------------------------------
    const s = await runner.open('src');
    const wt = s.workspace.worktree;
    writeFileSync(join(wt, 'feature.txt'), 'first\n');
    await checkpointWorkspace(runner, 'src', { message: 'add feature' });
    await ok(s, 'mkdir -p /usr/local/bin && printf "#!/bin/sh\\necho installed-tool\\n" > /usr/local/bin/mytool && chmod 755 /usr/local/bin/mytool', true);
    writeFileSync(join(wt, 'feature.txt'), 'second\n');
    const cp = await checkpointWorkspace(runner, 'src', { message: 'with the tool installed', withContainer: true });
    expect(cp.image).toBeDefined();
    // Uncommitted work on top: a modified tracked file, untracked files (binary, executable, link).
    writeFileSync(join(wt, 'feature.txt'), 'third, not committed\n');
    mkdirSync(join(wt, 'untracked'));
    writeFileSync(join(wt, 'untracked', 'blob.bin'), randomBytes(300_000));
    writeFileSync(join(wt, 'untracked', 'run.sh'), '#!/bin/sh\necho run\n');
    chmodSync(join(wt, 'untracked', 'run.sh'), 0o755);
    symlinkSync('blob.bin', join(wt, 'untracked', 'link'));
    // Volume data: nested, a private directory, binary content, a link.
    await ok(
      s,
      'mkdir -p /data/db && chmod 700 /data/db && head -c 65536 /dev/urandom > /data/db/blob && echo hello > /data/top.txt && ln -s top.txt /data/link && mkdir -p /data/repo/.git && echo ref > /data/repo/.git/HEAD',
    );
    await ok(s, 'echo logged-command');
    await commandLogsWritten();

    const before = {
      tree: await treeDigest(wt),
      info: await runner.workspaces.get('src'),
      log: (await runner.workspaces.log('src')).map((c) => `${c.sha} ${c.subject}`),
      tool: await ok(s, 'cat /usr/local/bin/mytool'),
      volume: await ok(s, VOLUME_FINGERPRINT),
      commands: '',
    };
    await commandLogsWritten();
    before.commands = await readFile(commandLogPath(fx.dataDir, runner.repo, 'src'), 'utf8');
    expect(before.commands).toContain('"command":"echo logged-command"');
    expect(before.volume).toContain('./db dir 700');
    expect(before.volume).toContain('./repo/.git/HEAD file');

    // ---- export -----------------------------------------------------------------------------
    const url = `s3://${BUCKET}/roundtrip/${fx.runId}`;
    const exported = await exportWorkspace({
      workspace: before.info,
      url,
      storage: s3.config(),
      tempDir: scratch,
      sessionLog: commandLogPath(fx.dataDir, runner.repo, 'src'),
      container: await containerStateOf(docker, runner.repo, before.info, fx.labels),
    });
    expect(exported.manifest.container?.image).toMatchObject({ checkpoint: cp.sha, ref: cp.image!.ref, baseImage: IMAGES.busybox });
    expect(exported.manifest.container?.volumes.map((v) => v.name)).toEqual(['data']);
    expect(exported.manifest.objects.map((o) => o.role).sort()).toEqual(['bundle', 'session-log', 'unstaged', 'untracked']);

    // ---- delete: nothing of src is left, the snapshot image included ---------------------------
    await runner.delete('src');
    expect(await runner.workspaces.find('src')).toBeUndefined();
    expect(await listRepoTags(docker, checkpointImageRepo(runner.repo, 'src'))).toEqual([]);
    expect(await inspectImage(docker, cp.image!.id)).toBeUndefined();
    expect(
      await docker
        .getVolume(workspaceVolumeName(runner.repo, 'src', 'data'))
        .inspect()
        .then(
          () => true,
          () => false,
        ),
    ).toBe(false);

    // ---- import under a new name and resume -----------------------------------------------------
    const imported = await importWorkspace({
      repo: fx.repo,
      url,
      name: 'dst',
      dataDir: fx.dataDir,
      storage: s3.config(),
      tempDir: scratch,
      sessionLogPath: (n) => commandLogPath(fx.dataDir, runner.repo, n),
      container: { labels: fx.labels },
    });
    expect(imported.warnings).toEqual([]);
    expect(imported.container?.image).toBe(checkpointImageRef(runner.repo, 'dst', cp.sha));
    expect(imported.container?.volumes).toEqual([expect.objectContaining({ name: 'data', volume: workspaceVolumeName(runner.repo, 'dst', 'data') })]);
    expect(imported.container?.volumes[0]?.report.rejected).toEqual([]);
    // The exporter's tag that `docker load` recreated is dropped again; the new name has its own.
    expect(await listRepoTags(docker, checkpointImageRepo(runner.repo, 'src'))).toEqual([]);

    const d = await runner.open('dst');
    expect(d.created.container).toBe(true);
    expect((await docker.getContainer(d.containerId).inspect()).Config.Image).toBe(imported.container?.image);
    const after = await runner.workspaces.get('dst');
    expect(await treeDigest(after.worktree)).toEqual(before.tree);
    expect(after.head).toBe(before.info.head);
    expect(after.branch).toBe('berth/dst');
    expect((await runner.workspaces.log('dst')).map((c) => `${c.sha} ${c.subject}`)).toEqual(before.log);
    expect(readCheckpoints(after.extra).map((c) => [c.sha, c.message])).toEqual(readCheckpoints(before.info.extra).map((c) => [c.sha, c.message]));
    expect(readContainerImage(after.extra)).toMatchObject({ ref: imported.container?.image, checkpoint: cp.sha });
    expect(after.extra.importedFrom).toMatchObject({ name: 'src', url });
    expect(await ok(d, 'cat /usr/local/bin/mytool')).toBe(before.tool);
    expect(await ok(d, 'mytool')).toBe('installed-tool\n');
    expect(await ok(d, VOLUME_FINGERPRINT)).toBe(before.volume);
    // The exported log, then what the resumed session ran since.
    await commandLogsWritten();
    const resumedLog = await readFile(commandLogPath(fx.dataDir, runner.repo, 'dst'), 'utf8');
    expect(resumedLog.startsWith(before.commands)).toBe(true);
    expect(resumedLog.slice(before.commands.length)).toContain('"command":"mytool"');
  });

  it('an import whose volume name is taken fails whole: no branch, tag or volume of the new name is left', async () => {
    const url = `s3://${BUCKET}/roundtrip/${fx.runId}`;
    // One copy of a workspace per repository: the first import goes before trying another.
    await runner.delete('dst');
    const vol = workspaceVolumeName(runner.repo, 'dst2', 'data');
    await docker.createVolume({ Name: vol, Labels: fx.labels });
    const err = await importWorkspace({
      repo: fx.repo,
      url,
      name: 'dst2',
      dataDir: fx.dataDir,
      storage: s3.config(),
      tempDir: scratch,
      container: { labels: fx.labels },
    }).catch((e: unknown) => e);
    expect(isBerthError(err, 'BAD_INPUT')).toBe(true);
    expect((err as Error).message).toContain(vol);
    expect(await runner.workspaces.find('dst2')).toBeUndefined();
    expect(fx.git('branch', '--list', 'berth/dst2').trim()).toBe('');
    expect(await listRepoTags(docker, checkpointImageRepo(runner.repo, 'dst2'))).toEqual([]);
    // The volume that was there before is untouched (and still empty).
    expect((await docker.getVolume(vol).inspect()).Name).toBe(vol);
    await docker.getVolume(vol).remove();
  });
});

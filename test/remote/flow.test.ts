// Remote workspaces (issue 15): ONE flow (create, exec, file tools, checkpoint, diff, log, restore,
// merge, export, delete, import) run three times: for a local workspace (bind-mounted worktree),
// for a remote one on the local engine declared remote (the tree lives in volumes, seeded and
// checkpointed through git bundles over the Docker API), and for one PLACED on a second engine
// reached over ssh:// (scripts/second-engine.sh: a dockerd in its own mount namespace with its own
// data root, behind sshd on 127.0.0.1), configured next to the local engine in one EngineSet: it is
// remote because its engine is (ssh:// implies it), not because of any runner-wide switch. All
// runs must give the same results; a remote session container must have no bind mount at all.
import { readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineSet, parseEngineList, remoteVolumeNames } from '../../docker/index.js';
import { isBerthError } from '../../src/errors.js';
import { checkpointWorkspace, restoreWorkspace } from '../../runner/session/checkpoints.js';
import { Runner, WorkspaceFiles, type WorkspaceFilesApi } from '../../runner/session/index.js';
import { exportWorkspace, importWorkspace } from '../../runner/storage/transfer.js';
import { containerStateOf } from '../../runner/storage/container-transfer.js';
import { describeDocker, dockerAvailable, Dockerode } from '../helpers/docker.js';
import { busyboxSpec, makeFixture, removeLabelled, TEST_LABEL, type Fixture } from '../runner/helpers.js';
import { removeOn, secondEngine, stopSecondEngine, type SecondEngine } from '../engines/helpers.js';
import { BUCKET, startS3, type TestS3 } from '../storage/harness.js';

/** What each mode's flow produced, compared across modes at the end. */
const outcomes = new Map<string, unknown>();

function fileOps(files: WorkspaceFilesApi) {
  const drop = <T extends object>(o: T) => JSON.parse(JSON.stringify(o, (k, v: unknown) => (k === 'mtimeMs' ? undefined : v))) as T;
  return {
    async run() {
      const out: Record<string, unknown> = {};
      out.write = await files.write('src/new.txt', 'one\ntwo\nthree\n');
      out.overwrite = await files.write('src/new.txt', 'one\ntwo\nthree\nfour\n');
      out.edit = await files.edit('README.md', { search: '# fixture', replace: '# fixture, edited' });
      out.read = await files.read('src/new.txt');
      out.readRange = await files.read('/workspace/src/new.txt', { startLine: 2, endLine: 3 });
      out.list = drop(await files.list('.'));
      out.listRecursive = drop(await files.list('.', { recursive: true }));
      out.listFile = drop(await files.list('src/app.txt'));
      out.stat = drop(await files.stat('src/new.txt'));
      await files.write('tmp/junk/deep.txt', 'x');
      out.deleteNonEmpty = await files.delete('tmp').catch((e: unknown) => (isBerthError(e) ? e.code : String(e)));
      out.delete = await files.delete('tmp', { recursive: true });
      out.outside = await files.read('../etc/passwd').catch((e: unknown) => (isBerthError(e) ? e.code : String(e)));
      out.missing = await files.read('nope.txt').catch((e: unknown) => (isBerthError(e) ? e.code : String(e)));
      out.dotgit = await files.write('.git', 'gitdir: /elsewhere\n').catch((e: unknown) => (isBerthError(e) ? e.code : String(e)));
      out.dir = await files.read('src').catch((e: unknown) => (isBerthError(e) ? e.code : String(e)));
      // Bytes in and out: a NUL makes the read binary; a startLine past the end is refused.
      out.writeBytes = await files.write('tmp.bin', new Uint8Array([0x61, 0x00, 0x62, 0x0a]));
      out.readBinary = await files.read('tmp.bin');
      out.pastEnd = await files.read('src/new.txt', { startLine: 9 }).catch((e: unknown) => (isBerthError(e) ? e.code : String(e)));
      await files.delete('tmp.bin');
      return out;
    },
  };
}

const ENGINE_ONE = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST : 'unix:///var/run/docker.sock';
const e2 = dockerAvailable ? secondEngine() : { reason: 'no Docker engine' };
const sshReady = 'sock' in e2;
const modes = sshReady ? (['local', 'remote', 'ssh'] as const) : (['local', 'remote'] as const);
afterAll(() => {
  if (sshReady) stopSecondEngine(e2);
});

/**
 * ssh mode: engine two over ssh:// listed next to the local engine. It is listed first so that a
 * workspace with no recorded engine (the imported one: imports record none) lives there too;
 * placement puts the new workspace there by the rule (a tie on free capacity goes to the first).
 */
function sshEngines(fx: Fixture): EngineSet {
  const two = e2 as SecondEngine;
  return EngineSet.of(
    parseEngineList(
      [
        { id: 'ssh2', host: two.ssh, sshIdentityFile: two.sshKey, sshKnownHostsFile: two.knownHosts },
        { id: 'local', host: ENGINE_ONE },
      ],
      'test',
    ),
    { sessionLabels: [`${TEST_LABEL}=${fx.runId}`] },
  );
}

for (const mode of modes) {
  describeDocker(`workspace flow: ${mode}`, () => {
    // The bound is for ssh:// (one kept ssh connection per engine: 21-36 s here, vs 99-186 s when
    // every Docker API call opened its own), with room for a loaded machine.
    let fx: Fixture;
    let runner: Runner;
    let s3: TestS3;
    let scratch: string;
    /** The engine the workspace lives on, through its own client (ssh:// in ssh mode). */
    let docker: InstanceType<typeof Dockerode>;

    beforeAll(async () => {
      fx = makeFixture(`berth-flow-${mode}-`);
      runner = await Runner.create({
        repo: fx.repo,
        dataDir: fx.dataDir,
        labels: fx.labels,
        spec: busyboxSpec(),
        reconcile: false,
        ...(mode === 'ssh' ? { engines: sshEngines(fx) } : { remote: mode === 'remote' }),
      });
      docker = mode === 'ssh' ? (runner.engines.get('ssh2').docker as InstanceType<typeof Dockerode>) : new Dockerode();
      s3 = await startS3();
      scratch = mkdtempSync(join(tmpdir(), 'berth-flow-scratch-'));
    });

    afterAll(async () => {
      await runner?.close().catch(() => undefined);
      await s3?.stop();
      if (scratch) rmSync(scratch, { recursive: true, force: true });
      if (fx) {
        await removeLabelled(fx.runId);
        if (mode === 'ssh') await removeOn((e2 as SecondEngine).client, [`${TEST_LABEL}=${fx.runId}`]);
        await fx.cleanup();
      }
    });

    const filesOf = async (name: string): Promise<WorkspaceFilesApi> =>
      runner.remoteFiles(name) ?? new WorkspaceFiles((await runner.workspaces.get(name)).worktree, { containerWorkdir: '/workspace' });

    it('create, exec, file tools, checkpoint, diff, log, restore, merge, export and import', async () => {
      const out: Record<string, unknown> = {};
      // ---- create + exec -------------------------------------------------------------------------
      const s = await runner.open('w');
      if (mode === 'ssh') {
        // Placed on engine two, recorded in the workspace's state, and running there.
        expect((await runner.workspaces.get('w')).extra.engine).toBe('ssh2');
        expect((await (e2 as SecondEngine).client.getContainer(s.containerId).inspect()).State.Running).toBe(true);
        expect(
          await new Dockerode()
            .getContainer(s.containerId)
            .inspect()
            .catch(() => 'absent'),
        ).toBe('absent');
      }
      const mounts = (await docker.getContainer(s.containerId).inspect()).HostConfig;
      if (mode !== 'local') {
        expect(mounts.Binds ?? []).toEqual([]);
        expect((mounts.Mounts ?? []).filter((m) => m.Type === 'bind')).toEqual([]);
        expect((mounts.Mounts ?? []).map((m) => m.Source)).toContain(remoteVolumeNames(runner.repo, 'w').tree);
        // The git volume is read-only in the session: the agent can't plant config or refs.
        expect((await s.exec('echo x > /berth-git/config')).exitCode).not.toBe(0);
      } else {
        expect((mounts.Mounts ?? []).some((m) => m.Type === 'bind')).toBe(true);
      }
      const ex = await s.exec('cat src/app.txt && printf "from exec\\n" > exec.txt && ls');
      expect(ex.exitCode).toBe(0);
      out.exec = ex.stdout;

      // ---- file tools ----------------------------------------------------------------------------
      const f = await fileOps(await filesOf('w')).run();
      expect(f).toMatchObject({ outside: 'PATH_OUTSIDE', missing: 'FILE_NOT_FOUND', dotgit: 'PATH_PROTECTED', dir: 'BAD_INPUT', deleteNonEmpty: 'BAD_INPUT' });
      expect(f.read).toMatchObject({ content: 'one\ntwo\nthree\nfour\n', totalLines: 4 });
      expect(f).toMatchObject({ readBinary: { content: '', binary: true, size: 4 }, pastEnd: 'BAD_INPUT' });
      expect((f.listRecursive as { entries: { path: string }[] }).entries.map((e) => e.path)).toEqual([
        'README.md',
        'exec.txt',
        'src',
        'src/app.txt',
        'src/new.txt',
      ]);
      out.files = f;
      expect((await s.exec('cat README.md src/new.txt')).stdout).toBe('# fixture, edited\none\ntwo\nthree\nfour\n');

      // ---- checkpoint, diff, log -----------------------------------------------------------------
      const cp1 = await checkpointWorkspace(runner, 'w', { message: 'first change' });
      expect(cp1.committed).toBe(true);
      out.cp1 = { committed: cp1.committed, filesChanged: cp1.filesChanged };
      out.diff = await runner.workspaces.diff('w');
      out.log = (await runner.workspaces.log('w')).map((c) => c.subject);
      expect(out.diff).toContain('+from exec');
      const again = await checkpointWorkspace(runner, 'w', { message: 'nothing new' });
      expect(again).toMatchObject({ committed: false, sha: cp1.sha });

      // ---- restore: a later change is rolled back in the live tree -------------------------------
      await s.exec('echo later > later.txt && rm exec.txt');
      const cp2 = await checkpointWorkspace(runner, 'w', { message: 'second change' });
      const restored = await restoreWorkspace(runner, 'w', { at: cp1.sha });
      expect(restored).toMatchObject({ sha: cp1.sha, previousHead: cp2.sha });
      const s2 = await runner.open('w');
      out.afterRestore = (await s2.exec('ls; cat exec.txt')).stdout;
      expect(out.afterRestore).not.toContain('later.txt');
      expect(out.afterRestore).toContain('from exec');
      // Work after a restore checkpoints on top of the restored commit.
      await s2.exec('echo after-restore > after.txt');
      const cp3 = await checkpointWorkspace(runner, 'w', { message: 'after restore' });
      expect(cp3.committed).toBe(true);
      out.logAfterRestore = (await runner.workspaces.log('w')).map((c) => c.subject);

      // ---- export, delete, import, resume ---------------------------------------------------------
      const url = `s3://${BUCKET}/flow/${fx.runId}`;
      const info = await runner.workspaces.get('w');
      await exportWorkspace({
        workspace: info,
        url,
        storage: s3.config(),
        tempDir: scratch,
        container: await containerStateOf(docker, runner.repo, info, fx.labels),
      });
      await runner.delete('w');
      if (mode !== 'local') {
        const vols = await docker.listVolumes({ filters: { name: [remoteVolumeNames(runner.repo, 'w').tree] } });
        expect(vols.Volumes ?? []).toEqual([]);
      }
      await importWorkspace({
        repo: fx.repo,
        url,
        name: 'w2',
        dataDir: fx.dataDir,
        storage: s3.config(),
        tempDir: scratch,
        container: { labels: fx.labels, ...(mode === 'ssh' ? { docker } : {}) },
      });
      const s3w = await runner.open('w2');
      if (mode !== 'local') expect((await docker.getContainer(s3w.containerId).inspect()).HostConfig.Binds ?? []).toEqual([]);
      out.imported = (await s3w.exec('cat README.md after.txt src/new.txt')).stdout;
      expect(out.imported).toBe('# fixture, edited\nafter-restore\none\ntwo\nthree\nfour\n');

      // ---- merge into the user's checkout -------------------------------------------------------
      const merged = await runner.workspaces.merge('w2', { squash: true, message: 'take w2' });
      expect(merged.into).toBe('main');
      out.merged = readFileSync(join(fx.repo, 'after.txt'), 'utf8') + readFileSync(join(fx.repo, 'README.md'), 'utf8');
      outcomes.set(mode, out);
    }, 240_000);
  });
}

describe('local and remote workspaces', () => {
  it(`give the same results for the same flow${sshReady ? '' : ` [ssh:// mode skipped: ${(e2 as { reason: string }).reason}]`}`, () => {
    if (!dockerAvailable) return;
    expect([...outcomes.keys()].sort()).toEqual([...modes].sort());
    expect(outcomes.get('remote')).toEqual(outcomes.get('local'));
    if (sshReady) expect(outcomes.get('ssh')).toEqual(outcomes.get('local'));
  });
});

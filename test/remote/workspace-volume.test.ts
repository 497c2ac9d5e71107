// docker/workspace-volume.ts on the real engine: a remote workspace's volumes and the helper that
// moves files in and out of them over the archive API, with the size bound enforced while the
// bytes stream (not only by a size the agent-controlled side reports).
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { docker } from '../helpers/docker.js';
import { ensureRemoteVolumes, remoteVolumesExist, removeRemoteVolumes, WorkspaceHelper, GIT_MOUNT, type RemoteVolumes } from '../../docker/index.js';
import { isBerthError } from '../../src/errors.js';
import { describeDocker } from '../helpers/docker.js';
import { TEST_LABEL, removeLabelled } from '../runner/helpers.js';

const runId = `berth-wsvol-${randomBytes(6).toString('hex')}`;
const repo = { path: '/nonexistent/berth-wsvol', id: `wsvol-${randomBytes(4).toString('hex')}` };
const labels = { [TEST_LABEL]: runId };

function collect(): { sink: Writable; data: () => Buffer } {
  const chunks: Buffer[] = [];
  return {
    sink: new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c);
        cb();
      },
    }),
    data: () => Buffer.concat(chunks),
  };
}

describeDocker('remote workspace volumes and helper', () => {
  let vols: RemoteVolumes;
  let helper: WorkspaceHelper;

  beforeAll(async () => {
    vols = await ensureRemoteVolumes(docker(), repo, 'v', labels);
    helper = await WorkspaceHelper.start(docker(), repo, vols, labels);
  });

  afterAll(async () => {
    await helper?.close();
    await removeRemoteVolumes(docker(), repo, 'v').catch(() => undefined);
    await removeLabelled(runId);
  });

  it('finds the volumes by label and runs with no bind mount', async () => {
    expect(await remoteVolumesExist(docker(), repo, 'v')).toBe(true);
    expect(await remoteVolumesExist(docker(), repo, 'other')).toBe(false);
    const hc = (await docker().getContainer(helper.id).inspect()).HostConfig;
    expect((hc.Mounts ?? []).map((m) => m.Type)).toEqual(['volume', 'volume']);
    expect(hc.NetworkMode).toBe('none');
    expect(hc.ReadonlyRootfs).toBe(true);
  });

  it('round-trips bytes (several tar blocks, odd length) and bounds them while streaming', async () => {
    const data = randomBytes(300_001);
    await helper.putFile(GIT_MOUNT, 'blob.bin', Readable.from([data]), data.length, { uid: 1234, gid: 1234 });
    const st = await helper.run(`stat -c '%u:%g %a %s' ${GIT_MOUNT}/blob.bin`, [], { user: '0:0' });
    expect(st.stdout.trim()).toBe('1234:1234 600 300001');
    const ok = collect();
    expect(await helper.getFile(`${GIT_MOUNT}/blob.bin`, data.length, ok.sink, 'blob')).toBe(data.length);
    expect(ok.data().equals(data)).toBe(true);
    // The tar header's size is over the limit: refused before any content is passed on.
    const small = collect();
    const err = await helper.getFile(`${GIT_MOUNT}/blob.bin`, 100_000, small.sink, 'the blob').catch((e: unknown) => e);
    expect(isBerthError(err, 'CHECKPOINT_TOO_LARGE'), String(err)).toBe(true);
    expect((err as Error).message).toContain('the blob is over 100000 bytes');
    expect(small.data().length).toBe(0);
    // A directory (or anything not a regular file) is not taken for the bundle.
    const dir = await helper.getFile(GIT_MOUNT, 1_000_000, collect().sink, 'dir').catch((e: unknown) => e);
    expect(isBerthError(dir, 'BAD_INPUT'), String(dir)).toBe(true);
  });

  it('a helper script that runs too long fails with TIMEOUT', async () => {
    const err = await helper.run('sleep 60', [], { user: '0:0', timeoutMs: 300 }).catch((e: unknown) => e);
    expect(isBerthError(err, 'TIMEOUT'), String(err)).toBe(true);
  });
});

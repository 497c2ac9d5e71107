// `berth cache ls | prune` through the real CLI on real labelled volumes: sizes are listed, a volume
// a container uses is never pruned, --older-than keeps fresh ones.
import { randomUUID } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { docker } from '../../docker/client.js';
import { LABEL } from '../../docker/labels.js';
import { IMAGES } from '../../src/images.js';
import { describeDocker } from '../helpers/docker.js';
import { runBerth } from '../helpers/cli.js';

const id = randomUUID().slice(0, 8);
const free = `berth-cache-test-${id}-free`;
const busy = `berth-cache-test-${id}-busy`;
let holder: string | undefined;

const berth = (args: string[]) => runBerth(args, { env: { ...process.env, NO_COLOR: '1' } });

describeDocker('berth cache', () => {
  afterAll(async () => {
    if (holder)
      await docker()
        .getContainer(holder)
        .remove({ force: true })
        .catch(() => undefined);
    for (const v of [free, busy])
      await docker()
        .getVolume(v)
        .remove()
        .catch(() => undefined);
  });

  it('lists cache volumes with sizes and prunes only unused ones', async () => {
    const client = docker();
    const labels = (name: string) => ({ [LABEL.managed]: '1', [LABEL.volumeKind]: 'cache', [LABEL.volumeName]: name, [LABEL.toolchain]: 'node' });
    await client.createVolume({ Name: free, Labels: labels('npm') });
    await client.createVolume({ Name: busy, Labels: labels('pip') });
    // Put bytes in the free one so its size is real, and keep the busy one mounted by a container.
    const writer = await client.createContainer({
      Image: IMAGES.busybox,
      Cmd: ['sh', '-c', 'head -c 2000000 /dev/zero > /c/blob'],
      HostConfig: { NetworkMode: 'none', Mounts: [{ Type: 'volume', Source: free, Target: '/c' }] },
    });
    await writer.start();
    await writer.wait();
    await writer.remove();
    const c = await client.createContainer({
      Image: IMAGES.busybox,
      Cmd: ['true'],
      HostConfig: { NetworkMode: 'none', Mounts: [{ Type: 'volume', Source: busy, Target: '/c' }] },
    });
    holder = c.id;

    const ls = await berth(['cache', 'ls', '--json']);
    expect(ls.code).toBe(0);
    const rows = JSON.parse(ls.stdout) as { name: string; sizeBytes: number; inUse: number; toolchain: string }[];
    expect(rows.find((r) => r.name === free)).toMatchObject({ toolchain: 'node', inUse: 0 });
    expect(rows.find((r) => r.name === free)!.sizeBytes).toBeGreaterThanOrEqual(2_000_000);
    expect(rows.find((r) => r.name === busy)!.inUse).toBe(1);

    const fresh = await berth(['cache', 'prune', '--match', `berth-cache-test-${id}`, '--older-than', '7d', '--json']);
    expect((JSON.parse(fresh.stdout) as { removed: { name: string }[] }).removed.map((v) => v.name)).not.toContain(free);

    const pruned = await berth(['cache', 'prune', '--match', `berth-cache-test-${id}`, '--json']);
    const res = JSON.parse(pruned.stdout) as { removed: { name: string }[]; kept: { name: string }[] };
    expect(res.removed.map((v) => v.name)).toContain(free);
    expect(res.kept.map((v) => v.name)).toContain(busy);
    // --match confines the prune to this test's volumes: nothing else on the engine was touched.
    expect(res.removed.map((v) => v.name).every((n) => n.includes(id))).toBe(true);
    expect(await client.getVolume(busy).inspect()).toMatchObject({ Name: busy });
    await expect(client.getVolume(free).inspect()).rejects.toMatchObject({ statusCode: 404 });
  }, 120_000);
});

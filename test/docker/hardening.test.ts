/**
 * docker/hardening.ts without an engine: the HostConfig every container gets, per capability
 * profile, and the input checks on mounts (the attack cases against a real engine are in
 * test/security/docker-mounts.test.ts).
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hardenedHostConfig, ROOT_SETUP_CAPS, type HardeningSpec } from '../../docker/hardening.js';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'berth-hardening-unit-')));
const worktree = join(root, 'wt');
mkdirSync(worktree);
const base: HardeningSpec = { caps: 'none', resources: { cpus: 1.5, memoryMb: 300, pids: 64 } };

describe('hardenedHostConfig', () => {
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('drops every capability, adds back only the profile, and never touches seccomp', async () => {
    for (const [caps, add] of [
      ['none', []],
      ['chown', ['CHOWN']],
      ['root-setup', ROOT_SETUP_CAPS],
    ] as const) {
      const hc = await hardenedHostConfig({ ...base, caps });
      expect(hc.CapDrop).toEqual(['ALL']);
      expect(hc.CapAdd).toEqual([...add]);
      expect(hc.SecurityOpt).toEqual(['no-new-privileges:true']);
    }
  });

  it('limits pids, memory without swap and cpus; no log, init, no network by default', async () => {
    const hc = await hardenedHostConfig(base);
    expect(hc).toMatchObject({
      PidsLimit: 64,
      Memory: 300 * 1024 * 1024,
      MemorySwap: 300 * 1024 * 1024,
      NanoCpus: 1.5e9,
      LogConfig: { Type: 'none', Config: {} },
      Init: true,
      NetworkMode: 'none',
      Privileged: false,
      ReadonlyRootfs: false,
      Mounts: [],
    });
  });

  it('refuses limits that are not positive', async () => {
    await expect(hardenedHostConfig({ ...base, resources: { cpus: 1, memoryMb: 0, pids: 64 } })).rejects.toMatchObject({ code: 'BAD_INPUT' });
    await expect(hardenedHostConfig({ ...base, resources: { cpus: Number.NaN, memoryMb: 64, pids: 64 } })).rejects.toMatchObject({ code: 'BAD_INPUT' });
  });

  it('refuses malformed mounts: relative or NUL paths, a volume "name" that is a path', async () => {
    const bad = [
      { type: 'bind' as const, source: 'relative/dir', target: '/w' },
      { type: 'bind' as const, source: `${worktree}\0x`, target: '/w' },
      { type: 'bind' as const, source: worktree, target: 'w' },
      { type: 'volume' as const, source: '/etc', target: '/v' },
      { type: 'volume' as const, source: '../x', target: '/v' },
    ];
    for (const m of bad) {
      await expect(hardenedHostConfig({ ...base, mounts: [m], bindRoots: { worktree } }), JSON.stringify(m)).rejects.toMatchObject({ code: 'MOUNT_REFUSED' });
    }
  });

  it('refuses every bind when no root is given, and a missing source as FS_ERROR', async () => {
    await expect(hardenedHostConfig({ ...base, mounts: [{ type: 'bind', source: worktree, target: '/w' }] })).rejects.toMatchObject({ code: 'MOUNT_REFUSED' });
    await expect(
      hardenedHostConfig({ ...base, mounts: [{ type: 'bind', source: join(root, 'gone'), target: '/w' }], bindRoots: { worktree } }),
    ).rejects.toMatchObject({
      code: 'FS_ERROR',
    });
  });

  it('binds an allowed path by its real path, private and non-recursive', async () => {
    const hc = await hardenedHostConfig({ ...base, mounts: [{ type: 'bind', source: `${worktree}/.`, target: '/w' }], bindRoots: { worktree } });
    expect(hc.Mounts).toEqual([
      { Type: 'bind', Source: worktree, Target: '/w', ReadOnly: false, BindOptions: { Propagation: 'rprivate', NonRecursive: true } },
    ]);
  });
});

/**
 * Attack: a tampered export whose container snapshot (`image.tar`, docker-save format) makes
 * `docker load` re-point a local image tag (`berth-busybox:1`, `berth-node:bookworm-1`) at the
 * attacker's image. Three real archives are crafted from a real `docker save`, uploaded into a real
 * export on s3rver, and imported; afterwards the local images must still have their original ids
 * and each import must fail with a clear BAD_INPUT.
 *  - dup:     manifest.json (harmless, untagged) plus "./manifest.json" (tags berth-busybox:1);
 *             Docker cleans the second name and lets it win
 *  - symlink: manifest.json (harmless), evil.json, then manifest.json again as a symlink to it
 *  - tags:    manifest.json whose RepoTags name berth-node:bookworm-1 directly
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Readable } from 'node:stream';
import { Dockerode } from '../helpers/docker.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { IMAGES } from '../../src/images.js';
import { isBerthError } from '../../src/errors.js';
import { Workspaces } from '../../src/workspace/index.js';
import type { WorkspaceInfo } from '../../src/workspace/types.js';
import { parseS3Url, keyFor } from '../../runner/storage/config.js';
import { ObjectStore } from '../../runner/storage/s3.js';
import { exportWorkspace, importWorkspace } from '../../runner/storage/transfer.js';
import { describeDocker } from '../helpers/docker.js';
import { TEST_LABEL } from '../runner/helpers.js';
import { BUCKET, GOOD_CREDENTIALS, startS3, type TestS3 } from '../storage/harness.js';
import { makeRepo } from '../storage/fixtures.js';
import { readTarEntries, tarBuffer, type RawEntry } from '../storage/tarball.js';

const PROTECTED: string[] = [IMAGES.busybox, IMAGES.node];
const run = promisify(execFile);
const BIN = resolve(__dirname, '../../bin/berth.js');

async function tarEntries(stream: Readable): Promise<RawEntry[]> {
  return (await readTarEntries(stream)).map((e) => ({
    path: e.path,
    type: e.type as RawEntry['type'],
    mode: e.mode ?? 0o644,
    body: e.body,
    ...(e.linkpath ? { linkpath: e.linkpath } : {}),
  }));
}

describeDocker('security: image tag poisoning through ws import', () => {
  const docker = new Dockerode();
  const runId = `sec-img-${randomBytes(4).toString('hex')}`;
  const original = new Map<string, string>();
  let s3: TestS3;
  let root: string;
  let ws: Workspaces;
  let info: WorkspaceInfo;
  let evilId = '';
  let saved: RawEntry[] = [];

  beforeAll(async () => {
    for (const ref of PROTECTED) original.set(ref, (await docker.getImage(ref).inspect()).Id);
    s3 = await startS3();
    root = await mkdtemp(join(tmpdir(), 'berth-sec-img-'));
    await mkdir(join(root, 'repo'));
    await makeRepo(join(root, 'repo'));
    ws = await Workspaces.open(join(root, 'repo'), { dataDir: join(root, 'data') });
    info = (await ws.create('victim')).workspace;
    // The attacker's image: berth-busybox:1 plus a marker file.
    const c = await docker.createContainer({
      Image: IMAGES.busybox,
      Cmd: ['sh', '-c', 'echo pwned > /pwned'],
      Labels: { [TEST_LABEL]: runId },
      HostConfig: { NetworkMode: 'none' },
    });
    try {
      await c.start();
      await c.wait();
      evilId = ((await c.commit({ repo: 'berth-sec-evil', tag: runId, changes: [`LABEL ${TEST_LABEL}=${runId}`] })) as { Id: string }).Id;
    } finally {
      await c.remove({ force: true });
    }
    saved = await tarEntries((await docker.getImage(evilId).get()) as unknown as Readable);
  }, 180_000);

  afterAll(async () => {
    // Never leave a poisoned tag behind, even when an assertion failed.
    for (const [ref, id] of original) {
      const now = await docker
        .getImage(ref)
        .inspect()
        .then(
          (i) => i.Id,
          () => undefined,
        );
      if (now !== id) {
        const [repo, tag] = ref.split(':') as [string, string];
        await docker.getImage(id).tag({ repo, tag });
      }
    }
    if (evilId) {
      const tags = await docker
        .getImage(evilId)
        .inspect()
        .then(
          (i) => i.RepoTags ?? [],
          () => [] as string[],
        );
      for (const t of tags)
        if (!PROTECTED.includes(t))
          await docker
            .getImage(t)
            .remove()
            .catch(() => undefined);
      await docker
        .getImage(evilId)
        .remove({ force: true })
        .catch(() => undefined);
    }
    await ws?.close();
    await s3?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  }, 120_000);

  /** A real export of `victim` with the evil snapshot, whose image.tar is then replaced by `tar`. */
  async function exportWith(name: string, tar: Buffer | undefined): Promise<string> {
    const url = `s3://${BUCKET}/poison/${name}`;
    const exported = await exportWorkspace({
      workspace: info,
      url,
      storage: s3.config(),
      container: { docker, repo: { path: ws.repo, id: ws.repoId }, image: { ref: evilId, checkpoint: info.rootSha } },
    });
    if (tar === undefined) return url;
    const loc = parseS3Url(url);
    await using store = new ObjectStore(s3.config(), BUCKET);
    const image = exported.manifest.container?.image;
    if (!image) throw new Error('export carried no image');
    await store.putBytes(keyFor(loc, image.key), tar);
    const manifest = {
      ...exported.manifest,
      container: { ...exported.manifest.container, image: { ...image, size: tar.length, sha256: createHash('sha256').update(tar).digest('hex') } },
    };
    await store.putBytes(exported.manifestKey, Buffer.from(JSON.stringify(manifest)));
    return url;
  }

  function manifestOf(tags: string[]): string {
    const m = JSON.parse(String(saved.find((e) => e.path === 'manifest.json')?.body)) as { Config: string; Layers: string[] }[];
    return JSON.stringify([{ Config: m[0]?.Config, RepoTags: tags, Layers: m[0]?.Layers }]);
  }

  const rest = () => saved.filter((e) => e.path !== 'manifest.json' && e.path !== 'repositories');

  const variants: Record<string, () => Buffer> = {
    dup: () => tarBuffer([...rest(), { path: 'manifest.json', body: manifestOf([]) }, { path: './manifest.json', body: manifestOf([IMAGES.busybox]) }]),
    symlink: () =>
      tarBuffer([
        ...rest(),
        { path: 'manifest.json', body: manifestOf([]) },
        { path: 'evil.json', body: manifestOf([IMAGES.busybox, IMAGES.node]) },
        { path: 'manifest.json', type: 'SymbolicLink', linkpath: 'evil.json' },
      ]),
    tags: () => tarBuffer([...rest(), { path: 'manifest.json', body: manifestOf([IMAGES.node]) }]),
  };

  for (const [name, craft] of Object.entries(variants)) {
    it(`${name}: the import fails and no local tag moves`, async () => {
      const url = await exportWith(name, craft());
      const err = await importWorkspace({
        repo: ws.repo,
        url,
        name: `imp-${name}`,
        dataDir: join(root, 'data'),
        storage: s3.config(),
        container: { docker },
      }).catch((e: unknown) => e);
      for (const [ref, id] of original) expect((await docker.getImage(ref).inspect()).Id, `${ref} was re-tagged by variant ${name}`).toBe(id);
      expect(isBerthError(err, 'BAD_INPUT'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(/container image/);
      expect(await ws.find(`imp-${name}`)).toBeUndefined();
    }, 120_000);
  }

  it('through the real CLI: `berth ws import` refuses the archive, exit 1, and no tag moves', async () => {
    const url = await exportWith('cli', variants.symlink?.() as Buffer);
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('BERTH_S3_') && !k.startsWith('GIT_')),
    ) as Record<string, string>;
    const res = await run(process.execPath, [BIN, 'ws', 'import', url, '--name', 'imp-cli', '--repo', ws.repo], {
      env: {
        ...env,
        BERTH_DATA_DIR: join(root, 'data'),
        BERTH_S3_ENDPOINT: s3.endpoint,
        AWS_ACCESS_KEY_ID: GOOD_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: GOOD_CREDENTIALS.secretAccessKey,
        AWS_REGION: 'us-east-1',
      },
    }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code?: number; stderr?: string }) => ({ code: e.code ?? -1, stderr: e.stderr ?? '' }),
    );
    for (const [ref, id] of original) expect((await docker.getImage(ref).inspect()).Id, `${ref} was re-tagged through the CLI`).toBe(id);
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toContain('is not a plain docker-save archive (two entries are named "manifest.json")');
  }, 120_000);

  it('control: the untampered export imports, tagged only with the name berth chose', async () => {
    const url = await exportWith('clean', undefined);
    await ws.delete('victim'); // one copy per repository: the original goes first
    const res = await importWorkspace({ repo: ws.repo, url, name: 'imp-clean', dataDir: join(root, 'data'), storage: s3.config(), container: { docker } });
    const tags = (await docker.getImage(evilId).inspect()).RepoTags ?? [];
    expect(tags.sort()).toEqual([`berth-sec-evil:${runId}`, res.container?.image].sort());
    for (const [ref, id] of original) expect((await docker.getImage(ref).inspect()).Id).toBe(id);
  }, 120_000);
});

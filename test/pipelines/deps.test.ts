// Ready dependencies for pipelines, on the real engine: a fixture whose only dependency is a local
// tarball with an install script that writes a random stamp (so no network is needed, and every
// real install writes a new stamp). A second run with the same lockfile must print the first run's
// stamp (the install did not run again), a deleted source file must not come back from the
// snapshot, and a changed lockfile must install again. `berth cache ls|prune` shows and removes it.
import { appendFile, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runPipeline, type PipelineResult } from '../../pipelines/index.js';
import { LocalSourceReader } from '../../src/source-reader.js';
import { resolveSpec } from '../../src/project/index.js';
import { LABEL } from '../../docker/labels.js';
import { describeDocker } from '../helpers/docker.js';
import { cleanup, copyFixture, docker, pipelineContainers, type FixtureCopy } from './helpers.js';
import { runBerth } from '../helpers/cli.js';

const berth = (args: string[]) => runBerth(args, { env: { ...process.env, NO_COLOR: '1' } });

async function depsImages(scope: string): Promise<string[]> {
  const rows = await docker.listImages({ filters: { label: [`${LABEL.role}=deps`, `${LABEL.depsScope}=${scope}`] } });
  return rows.flatMap((r) => r.RepoTags ?? []);
}

describeDocker('ready dependencies (pipelines)', () => {
  let copy: FixtureCopy;
  const infos: string[] = [];

  const test = async (): Promise<PipelineResult> => {
    const resolved = await resolveSpec(new LocalSourceReader(copy.dir));
    const r = await runPipeline({ kind: 'local', dir: copy.dir }, resolved.spec, 'test', {
      onOutput: (e) => {
        if (e.type === 'info') infos.push(e.message);
      },
    });
    expect(await pipelineContainers(copy.repo)).toEqual([]);
    return r;
  };
  const stamp = (r: PipelineResult) => /^\d+-0\.\d+(?= nets=)/m.exec(r.phases.find((p) => p.name === 'test')?.tail ?? '')?.[0];

  beforeAll(async () => {
    copy = await copyFixture('deps-node');
    await writeFile(join(copy.dir, 'extra.txt'), 'deleted before the second run\n');
  });
  afterAll(async () => {
    for (const ref of await depsImages(copy.repo))
      await docker
        .getImage(ref)
        .remove({ force: true })
        .catch(() => undefined);
    await cleanup(copy);
  });

  it('saves the install, skips it on the next run, and misses when the lockfile changes', async () => {
    const first = await test();
    expect(first.ok, JSON.stringify(first.phases)).toBe(true);
    const install1 = first.phases.find((p) => p.name === 'install');
    expect(install1).toMatchObject({ outcome: 'passed', commands: [{ command: 'npm ci', exitCode: 0 }], cache: { hit: false, saved: true } });
    const a = stamp(first);
    expect(a).toBeDefined();
    expect(first.phases.find((p) => p.name === 'test')?.tail).toContain('extra.txt');
    expect(await depsImages(copy.repo)).toEqual([install1?.cache?.image]);

    await rm(join(copy.dir, 'extra.txt'));
    infos.length = 0;
    const second = await test();
    expect(second.ok, JSON.stringify(second.phases)).toBe(true);
    // No install ran: the phase has no commands, and the dependency's install script did not
    // write a new stamp.
    expect(second.phases.find((p) => p.name === 'install')).toMatchObject({
      outcome: 'passed',
      commands: [],
      cache: { hit: true, key: install1?.cache?.key, image: install1?.cache?.image },
    });
    expect(stamp(second)).toBe(a);
    expect(infos.some((m) => m.startsWith(`install: cached (key ${install1?.cache?.key}`))).toBe(true);
    // The snapshot holds no source: a file deleted since the first run is gone.
    expect(second.phases.find((p) => p.name === 'test')?.tail).not.toContain('extra.txt');
    expect(second.image).toBe(first.image);

    await appendFile(join(copy.dir, 'package-lock.json'), '\n');
    const third = await test();
    expect(third.ok).toBe(true);
    const install3 = third.phases.find((p) => p.name === 'install');
    expect(install3).toMatchObject({ commands: [{ command: 'npm ci', exitCode: 0 }], cache: { hit: false, saved: true } });
    expect(install3?.cache?.key).not.toBe(install1?.cache?.key);
    expect(stamp(third)).toBeDefined();
    expect(stamp(third)).not.toBe(a);
  }, 300_000);

  it('berth cache ls --json lists the snapshots with key and size; prune --match removes them', async () => {
    const mine = await depsImages(copy.repo);
    expect(mine.length).toBeGreaterThanOrEqual(1);
    const ls = await berth(['cache', 'ls', '--json']);
    expect(ls.code, ls.stderr).toBe(0);
    const rows = (JSON.parse(ls.stdout) as { kind: string; name: string; key: string; scope: string; sizeBytes: number; toolchain: string }[]).filter(
      (r) => r.kind === 'deps' && r.scope === copy.repo,
    );
    expect(rows.map((r) => r.name).sort()).toEqual([...mine].sort());
    for (const r of rows) {
      expect(r.name.endsWith(`:${r.key}`)).toBe(true);
      expect(r.toolchain).toBe('node');
      expect(r.sizeBytes).toBeGreaterThan(0);
    }
    const prune = await berth(['cache', 'prune', '--match', copy.repo, '--json']);
    expect(prune.code, prune.stderr).toBe(0);
    const res = JSON.parse(prune.stdout) as { removed: { name: string }[] };
    expect(res.removed.map((r) => r.name).sort()).toEqual([...mine].sort());
    expect(await depsImages(copy.repo)).toEqual([]);
  }, 120_000);
});

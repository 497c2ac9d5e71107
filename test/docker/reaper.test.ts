/**
 * docker/reaper.ts: gc's docker-side half. A pipeline process killed with SIGKILL mid-run leaves
 * its container behind (nobody ran teardown); a container whose owner died before starting it
 * stays in `Created`. Both must be found (any state) and reaped; containers of live owners, of
 * owners on other hosts, and young unlabelled ones must be left alone.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createContainer } from '../../docker/create.js';
import { LABEL, RUNNER_VERSION } from '../../docker/labels.js';
import { listBerthContainers, OWNER_LABEL, ownerLabel, reapOrphanContainers, UNOWNED_MAX_AGE_MS } from '../../docker/reaper.js';
import { IMAGES } from '../../src/images.js';
import { describeDocker, docker } from '../helpers/docker.js';
import { pipelineSpec } from '../pipelines/helpers.js';

const CHILD = join(import.meta.dirname, 'pipeline-child.ts');

describeDocker('reaping containers whose owner is gone', () => {
  const tag = `berth-reaper-${randomBytes(4).toString('hex')}`;
  const test = { 'dev.berth.test': tag };
  let source: string;

  beforeAll(() => {
    source = mkdtempSync(join(tmpdir(), 'berth-reaper-'));
    writeFileSync(join(source, 'README'), 'x\n');
  });

  afterAll(async () => {
    for (const c of await docker().listContainers({ all: true, filters: { label: [`dev.berth.test=${tag}`] } })) {
      await docker()
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => undefined);
    }
    rmSync(source, { recursive: true, force: true });
  });

  const created = (name: string, owner: Record<string, string>) =>
    createContainer(
      docker(),
      {
        name: `${tag}-${name}`,
        image: IMAGES.busybox,
        entrypoint: ['true'],
        labels: { [LABEL.managed]: '1', [LABEL.role]: 'pipeline', [LABEL.runnerVersion]: RUNNER_VERSION, ...test, ...owner },
      },
      { caps: 'none', resources: { cpus: 0.5, memoryMb: 32, pids: 8 } },
    );

  it('reaps a SIGKILLed pipeline run and Created containers of dead owners; keeps live and foreign ones', async () => {
    // A real pipeline process, killed mid-step: its container keeps running with nobody to remove it.
    const spec = pipelineSpec({ resources: { cpus: 0.5, memoryMb: 64, pids: 32 }, stepTimeoutMs: 120_000 });
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify({ spec, source, repo: `reaper-${tag}`, labels: test })], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => b.toString().includes('READY') && resolve());
      child.once('exit', (code) => reject(new Error(`pipeline child exited (${code}) before READY`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const [orphan] = await listBerthContainers(docker(), { roles: ['pipeline'], labels: { ...test, [LABEL.pipelinePart]: 'main' } });
    expect(orphan?.labels[OWNER_LABEL]).toMatch(new RegExp(`^${hostname()}/${child.pid}/`));

    // Created (never started) containers: a dead owner (this pid, but another start time = pid reuse),
    // this live process, another host, and an unlabelled one made just now.
    const self = ownerLabel()[OWNER_LABEL]!;
    await created('reused-pid', { [OWNER_LABEL]: self.replace(/\/\d+$/, '/1') });
    await created('live', ownerLabel());
    await created('foreign', { [OWNER_LABEL]: `not-${hostname()}/1/1` });
    await created('unlabelled', {});
    const all = await listBerthContainers(docker(), { labels: test });
    expect(
      all
        .filter((c) => c.state === 'created')
        .map((c) => c.name)
        .sort(),
    ).toEqual(['foreign', 'live', 'reused-pid', 'unlabelled'].map((n) => `${tag}-${n}`));

    const removed = await reapOrphanContainers(docker(), { labels: test });
    expect(removed.sort()).toEqual([orphan!.name, `${tag}-reused-pid`].sort());
    const left = (await listBerthContainers(docker(), { labels: test })).map((c) => c.name).sort();
    expect(left).toEqual(['foreign', 'live', 'unlabelled'].map((n) => `${tag}-${n}`));

    // A day later the unlabelled one counts as an orphan too.
    const later = await reapOrphanContainers(docker(), { labels: test, nowMs: Date.now() + UNOWNED_MAX_AGE_MS + 60_000 });
    expect(later).toEqual([`${tag}-unlabelled`]);
  });
});

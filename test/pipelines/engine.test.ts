// A pipeline on any engine (issue 15), as a user runs it: `berth test --engine ssh2 --json` (the
// real CLI process) with two engines in BERTH_ENGINES, the second reached over ssh://
// (scripts/second-engine.sh). The run happens on engine two: its image, which only the local
// engine had, is copied there (docker save | load over the API) and stays; the source goes in
// through the archive API; the JSON names the engine; no pipeline container is left on either
// engine. An unknown --engine is berth's own failure (125, ENGINE_CONFIG), and without --engine a
// configured set places the run and names where.
import { runBerth, type CliRun } from '../helpers/cli.js';
import { mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL } from '../../docker/labels.js';
import { repoKey, type PipelineResult } from '../../pipelines/index.js';
import { IMAGES } from '../../src/images.js';
import { dockerAvailable, Dockerode } from '../helpers/docker.js';
import { removeOn, secondEngine, stopSecondEngine, type SecondEngine } from '../engines/helpers.js';

const ENGINE_ONE = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST : 'unix:///var/run/docker.sock';
const e2 = dockerAvailable ? secondEngine() : { reason: 'no Docker engine' };
const ready = 'sock' in e2;

function berth(args: string[], env: Record<string, string>): Promise<CliRun> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BERTH_')));
  return runBerth(args, { env: { ...base, NO_COLOR: '1', ...env } });
}

describe.skipIf(!ready)(`pipelines on a chosen engine${ready ? '' : ` [skipped: ${(e2 as { reason: string }).reason}]`}`, () => {
  const two = e2 as SecondEngine;
  const local = new Dockerode();
  /** An image only the local engine has at first: a fresh tag of busybox, unique to this run. */
  const image = `berth-pipeline-engine-test:${process.pid}-${Date.now().toString(36)}`;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = await realpath(await mkdtemp(join(tmpdir(), 'berth-pl-engine-')));
    await writeFile(join(dir, 'hello.txt'), 'hello from the source\n');
    await writeFile(join(dir, 'berth.yaml'), `image: ${image}\npull: never\ninstall: []\ntest: cat hello.txt && echo answer-$((6 * 7))\n`);
    const [repo, tag] = image.split(':') as [string, string];
    await local.getImage(IMAGES.busybox).tag({ repo, tag });
    const engines = [
      { id: 'local', host: ENGINE_ONE },
      { id: 'ssh2', host: two.ssh, sshIdentityFile: two.sshKey, sshKnownHostsFile: two.knownHosts },
    ];
    env = { BERTH_ENGINES: JSON.stringify(engines) };
  });

  afterAll(async () => {
    const label = [`${LABEL.pipelineRepo}=${repoKey(dir)}`];
    await removeOn(two.client, label).catch(() => undefined);
    for (const client of [local, two.client]) {
      await client
        .getImage(image)
        .remove()
        .catch(() => undefined);
    }
    if (dir) await rm(dir, { recursive: true, force: true });
    stopSecondEngine(e2);
  }, 120_000);

  it('berth test --engine ssh2 runs there, copying the image once, and says so in --json', async () => {
    expect(
      await two.client
        .getImage(image)
        .inspect()
        .catch(() => 'absent'),
    ).toBe('absent');
    const r = await berth(['test', '--source', dir, '--engine', 'ssh2', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as PipelineResult;
    expect(res).toMatchObject({ ok: true, engine: 'ssh2', image, executor: 'local' });
    const tail = res.phases.find((p) => p.name === 'test')?.tail ?? '';
    expect(tail).toContain('hello from the source');
    expect(tail).toContain('answer-42');
    expect(r.stderr).toContain(`copying image ${image} to engine "ssh2"`);
    expect(r.stderr).toMatch(/test passed .*\(engine ssh2\)/);
    // The image is on engine two now; the run's containers are gone from both engines.
    expect((await two.client.getImage(image).inspect()).RepoTags).toContain(image);
    const label = { label: [`${LABEL.pipelineRun}=${res.runId}`] };
    expect(await two.client.listContainers({ all: true, filters: label })).toEqual([]);
    expect(await local.listContainers({ all: true, filters: label })).toEqual([]);

    // A second run finds the image there: nothing is copied again.
    const again = await berth(['test', '--source', dir, '--engine', 'ssh2', '--json'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toContain('copying image');
  }, 300_000);

  it('an unknown --engine is berth’s own failure; without --engine a configured set places the run', async () => {
    const bad = await berth(['test', '--source', dir, '--engine', 'nope', '--json'], env);
    expect(bad.code).toBe(125);
    const err = JSON.parse(bad.stdout) as PipelineResult;
    expect(err.error?.code).toBe('ENGINE_CONFIG');
    expect(err.error?.message).toContain('"nope"');

    const placed = await berth(['test', '--source', dir, '--json'], env);
    expect(placed.code, placed.stderr).toBe(0);
    expect(['local', 'ssh2']).toContain((JSON.parse(placed.stdout) as PipelineResult).engine);
  }, 300_000);
});

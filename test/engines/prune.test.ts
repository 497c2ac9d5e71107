// `berth ws prune` over every configured engine (issue 15 follow-up): a workspace whose container
// lives on the second engine is pruned with its container there, not only the first engine's; an
// engine that does not answer is skipped with one warning and the prune still completes.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineSet, parseEngineList } from '../../docker/engines.js';
import { Runner } from '../../runner/session/index.js';
import { dockerClient } from '../helpers/docker.js';
import { busyboxSpec, makeFixture, TEST_LABEL, type Fixture } from '../runner/helpers.js';
import { removeOn, secondEngine, stopSecondEngine, type SecondEngine } from './helpers.js';

const run = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../bin/berth.js');
const ENGINE_ONE = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST : 'unix:///var/run/docker.sock';
const e2 = secondEngine();
const ready = 'sock' in e2;

describe.skipIf(!ready)(`berth ws prune on every engine${ready ? '' : ` [skipped: ${(e2 as { reason: string }).reason}]`}`, () => {
  const two = e2 as SecondEngine;
  let fx: Fixture;
  const entries = () => [
    { id: 'one', host: ENGINE_ONE },
    { id: 'two', host: `unix://${two.sock}` },
  ];

  beforeAll(() => {
    fx = makeFixture('berth-prune-engines-');
  });

  afterAll(async () => {
    if (fx) {
      await removeOn(two.client, [`${TEST_LABEL}=${fx.runId}`]).catch(() => undefined);
      await fx.cleanup();
    }
    stopSecondEngine(e2);
  }, 180_000);

  /** Open workspace `name` on the engine `id` alone, leaving its container running. */
  async function openOn(id: string, name: string): Promise<void> {
    const set = EngineSet.of(parseEngineList([entries().find((e) => e.id === id)!], 'test'));
    const r = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, spec: busyboxSpec(), engines: set });
    try {
      await r.open(name);
      expect((await r.workspaces.get(name)).extra.engine).toBe(id);
    } finally {
      await r.close({ stop: false });
    }
  }

  it('removes the containers on each engine and warns about (skips) one that is down', async () => {
    await openOn('one', 'on-one');
    await openOn('two', 'on-two');
    const label = { label: [`${TEST_LABEL}=${fx.runId}`] };
    const local = dockerClient();
    expect(await two.client.listContainers({ all: true, filters: label })).toHaveLength(1);
    expect(await local.listContainers({ all: true, filters: label })).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 1500)); // both are now idle for longer than --older-than

    const engines = [...entries(), { id: 'gone', host: 'unix:///nonexistent/berth-gone-engine.sock' }];
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BERTH_')));
    const { stdout, stderr } = await run(process.execPath, [BIN, 'ws', 'prune', '--older-than', '1s', '--force', '--repo', fx.repo, '--json'], {
      env: { ...base, BERTH_DATA_DIR: fx.dataDir, BERTH_ENGINES: JSON.stringify(engines), NO_COLOR: '1' },
    });
    const res = JSON.parse(stdout) as { pruned: string[] };
    expect([...res.pruned].sort()).toEqual(['on-one', 'on-two']);
    expect(await two.client.listContainers({ all: true, filters: label })).toEqual([]);
    expect(await local.listContainers({ all: true, filters: label })).toEqual([]);
    // One warning for the engine that is down, naming it, however many workspaces were pruned.
    expect(stderr.match(/engine "gone" .* does not answer/g)).toHaveLength(1);
    expect(stderr).toContain('berth gc');
  }, 300_000);
});

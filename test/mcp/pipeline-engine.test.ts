// MCP `pipeline_run` on a chosen engine (issue 15 follow-up), through a real in-process server over a
// Runner with two real engines (this machine's and scripts/second-engine.sh's): `engine` runs it
// there and the result names it; an unknown id is a tool error with ENGINE_CONFIG; without it the
// run is placed on one of the configured engines. The result validates against the advertised schema.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineSet, parseEngineList } from '../../docker/engines.js';
import { LABEL } from '../../docker/labels.js';
import { createLifecycle, createServer } from '../../runner/mcp/index.js';
import { Runner } from '../../runner/session/index.js';
import { createLogger } from '../../src/log.js';
import { dockerClient } from '../helpers/docker.js';
import { busyboxSpec, makeFixture, TEST_LABEL, type Fixture } from '../runner/helpers.js';
import { removeOn, secondEngine, stopSecondEngine, type SecondEngine } from '../engines/helpers.js';

const ENGINE_ONE = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST : 'unix:///var/run/docker.sock';
const e2 = secondEngine();
/** Unique per run: pipeline containers are found by this workspace label on both engines. */
const WS = `ple-${process.pid}-${Date.now().toString(36)}`;
const ready = 'sock' in e2;

describe.skipIf(!ready)(`MCP pipeline_run on a chosen engine${ready ? '' : ` [skipped: ${(e2 as { reason: string }).reason}]`}`, () => {
  const two = e2 as SecondEngine;
  let fx: Fixture;
  let runner: Runner;
  let client: Client;
  let schema: Record<string, unknown>;
  const controller = new AbortController();

  beforeAll(async () => {
    fx = makeFixture('berth-mcp-pipeline-engine-');
    const engines = EngineSet.of(
      parseEngineList(
        [
          { id: 'one', host: ENGINE_ONE },
          { id: 'two', host: `unix://${two.sock}` },
        ],
        'test',
      ),
      { sessionLabels: [`${TEST_LABEL}=${fx.runId}`] },
    );
    const spec = busyboxSpec({ pull: 'never', install: [], test: 'echo answer-$((6 * 7))' });
    runner = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, spec, engines });
    await runner.workspaces.create(WS);
    const server = createServer({ runner, logger: createLogger({ level: 'error' }), lifecycle: createLifecycle(controller.signal), version: '0.0.0-test' });
    const [a, b] = InMemoryTransport.createLinkedPair();
    await server.connect(b);
    client = new Client({ name: 'pipeline-engine-test', version: '1.0.0' });
    await client.connect(a);
    const tool = (await client.listTools()).tools.find((t) => t.name === 'pipeline_run');
    schema = tool!.outputSchema as Record<string, unknown>;
  }, 120_000);

  afterAll(async () => {
    controller.abort();
    await client?.close().catch(() => undefined);
    await runner?.close().catch(() => undefined);
    if (fx) {
      await removeOn(two.client, [`${TEST_LABEL}=${fx.runId}`]).catch(() => undefined);
      await fx.cleanup();
    }
    stopSecondEngine(e2);
  }, 120_000);

  const call = async (args: Record<string, unknown>) => client.callTool({ name: 'pipeline_run', arguments: { workspace: WS, step: 'test', ...args } });
  const text = (r: Awaited<ReturnType<typeof call>>) => (r.content as { type: string; text?: string }[]).map((c) => c.text ?? '').join('\n');

  it('runs on the engine it names, says so, and its result matches the output schema', async () => {
    expect((schema.properties as Record<string, unknown>).engine).toBeDefined();
    const seen = new Set<string>();
    // Watch engine two's containers while the run is in flight: the pipeline's own appear there.
    const events = await two.client.getEvents({ filters: { type: ['container'], event: ['create'], label: [`${LABEL.workspace}=${WS}`] } });
    events.on('data', (d: Buffer) => seen.add(String((JSON.parse(d.toString()) as { id: string }).id)));
    try {
      const r = await call({ engine: 'two' });
      expect(r.isError, text(r)).toBeFalsy();
      const out = r.structuredContent as { ok: boolean; engine: string; phases: { tail: string }[] };
      expect(out).toMatchObject({ ok: true, engine: 'two' });
      expect(out.phases.map((p) => p.tail).join('')).toContain('answer-42');
      expect(text(r)).toContain('on engine two');
      const verdict = new AjvJsonSchemaValidator().getValidator(schema as never)(r.structuredContent);
      expect(verdict.valid, verdict.errorMessage).toBe(true);
    } finally {
      (events as unknown as { destroy(): void }).destroy();
    }
    expect(seen.size).toBeGreaterThan(0);
    // Nothing of it stays on the local engine.
    expect(await dockerClient().listContainers({ all: true, filters: { label: [`${LABEL.workspace}=${WS}`] } })).toEqual([]);
  }, 300_000);

  it('an unknown engine is a tool error with ENGINE_CONFIG; without one the run is placed', async () => {
    const bad = await call({ engine: 'nope' });
    expect(bad.isError).toBe(true);
    expect(text(bad)).toMatch(/ENGINE_CONFIG|not configured/);
    expect(text(bad)).toContain('"nope"');
    const placed = await call({});
    expect(placed.isError, text(placed)).toBeFalsy();
    expect(['one', 'two']).toContain((placed.structuredContent as { engine: string }).engine);
  }, 300_000);
});

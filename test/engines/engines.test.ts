// Two real Docker engines (the machine's, and a second dockerd from scripts/second-engine.sh):
// placement spreads workspaces across both, a workspace stays on its engine, killing engine two
// makes only its workspaces fail (ENGINE_UNAVAILABLE, naming it) while engine one's keep working,
// restarting it brings them back, a new runner adopts sessions on both, `berth engines --json`
// reports both (and the dead one), and an ssh:// endpoint runs a session.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineSet, parseEngineList } from '../../docker/engines.js';
import { sessionContainerName } from '../../docker/labels.js';
import { forkWorkspace, Runner, workspaceContainers } from '../../runner/session/index.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { createLifecycle, createServer } from '../../runner/mcp/index.js';
import { BerthError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { busyboxSpec, makeFixture, TEST_LABEL, type Fixture } from '../runner/helpers.js';
import { cleanUpBothEngines, engineScript, privateSecondEngine, type SecondEngine } from './helpers.js';

// Its own engine two: this suite kills and restarts it, while other suites use the shared one.
const e2 = privateSecondEngine('kill');
const ready = 'sock' in e2;
const ENGINE_ONE = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST : 'unix:///var/run/docker.sock';
const CLI = resolve(import.meta.dirname, '../../runner/cli/main.ts');
const N = 20;

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return err instanceof BerthError ? err.code : `not a BerthError: ${String(err)}`;
  }
}

/** Run `fn` over `items`, at most `limit` at a time. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/** The MCP `engines` tool of a real server over `runner`: its listing and one call's structured result. */
async function mcpEngines(runner: Runner): Promise<{ tool: unknown; result: { engines: { id: string; up: boolean; error: string | null }[] } }> {
  const controller = new AbortController();
  const server = createServer({ runner, logger: createLogger({ level: 'error' }), lifecycle: createLifecycle(controller.signal), version: '0.0.0-test' });
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(b);
  const client = new Client({ name: 'engines-test', version: '1.0.0' });
  await client.connect(a);
  try {
    const tool = (await client.listTools()).tools.find((t) => t.name === 'engines');
    const r = await client.callTool({ name: 'engines', arguments: {} });
    return { tool, result: r.structuredContent as { engines: { id: string; up: boolean; error: string | null }[] } };
  } finally {
    controller.abort();
    await client.close().catch(() => undefined);
    await server.close().catch(() => undefined);
  }
}

describe.skipIf(!ready)(`several engines${ready ? '' : ` [skipped: ${(e2 as { reason: string }).reason}]`}`, () => {
  const two = e2 as SecondEngine;
  let fx: Fixture;
  let engines: EngineSet;
  const runners: Runner[] = [];
  const names = Array.from({ length: N }, (_, i) => `w${i}`);
  const where = new Map<string, string>();
  /** The runner of the adoption test, which keeps its sessions open through the engine's death. */
  let adopter: Runner;

  async function runner(set = engines): Promise<Runner> {
    const r = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, spec: busyboxSpec(), engines: set, reconcile: true });
    runners.push(r);
    return r;
  }

  beforeAll(async () => {
    fx = makeFixture('berth-engines-');
    // Capacity counts only this suite's sessions: other suites create and remove sessions on
    // engine one concurrently, which would otherwise move the split.
    engines = EngineSet.of(
      parseEngineList(
        [
          { id: 'one', host: ENGINE_ONE, maxSessions: N / 2 + 2 },
          { id: 'two', host: `unix://${two.sock}`, maxSessions: N / 2 + 2 },
        ],
        'test',
      ),
      { sessionLabels: [`${TEST_LABEL}=${fx.runId}`] },
    );
  });

  afterAll(async () => {
    await cleanUpBothEngines(runners, fx, two);
    if (two.startedHere) engineScript('down', two);
  }, 180_000);

  it(`spreads ${N} new workspaces across both engines, and each stays where its state says`, async () => {
    const r = await runner();
    const sessions = await mapLimit(names, 4, (n) => r.open(n));
    for (const s of sessions) expect((await s.exec('echo ok')).stdout).toBe('ok\n');
    for (const n of names) {
      const ws = await r.workspaces.get(n);
      const engine = ws.extra.engine as string;
      expect(['one', 'two']).toContain(engine);
      where.set(n, engine);
      // The container is on the recorded engine, and only there.
      const onTwo = await two.client
        .getContainer(sessionContainerName(r.repo, n))
        .inspect()
        .then(
          () => true,
          () => false,
        );
      expect(onTwo, `${n} recorded on ${engine}`).toBe(engine === 'two');
    }
    const counts = [...where.values()].reduce((m, e) => m.set(e, (m.get(e) ?? 0) + 1), new Map<string, number>());
    // Both have room for N/2 + 2: most free capacity first, so the two alternate (a placement
    // counted twice for a moment, pending and already labelled, may shift one).
    expect(Math.abs((counts.get('one') ?? 0) - (counts.get('two') ?? 0)), JSON.stringify([...counts])).toBeLessThanOrEqual(2);
    // Files written through one workspace on each engine, for the adoption and restart tests.
    for (const n of names) await r.get(n)!.exec(`echo kept-${n} > marker.txt`);
    const rows = await r.list();
    expect(
      rows
        .filter((x) => names.includes(x.name))
        .map((x) => x.engine)
        .sort(),
    ).toEqual([...where.values()].sort());
  }, 300_000);

  it('a new runner adopts the running sessions on both engines', async () => {
    const old = runners[0]!;
    await old.close({ stop: false });
    const r = await runner();
    adopter = r;
    const rows = (await r.list()).filter((x) => names.includes(x.name));
    expect(rows).toHaveLength(N);
    expect(rows.every((x) => x.state === 'running')).toBe(true);
    for (const n of [names.find((x) => where.get(x) === 'one')!, names.find((x) => where.get(x) === 'two')!]) {
      const s = await r.open(n);
      expect(s.created, n).toMatchObject({ container: false, resumed: false, workspace: false });
      expect((await s.exec('cat marker.txt')).stdout).toBe(`kept-${n}\n`);
    }
  }, 120_000);

  it('with engine two killed: its workspaces fail with ENGINE_UNAVAILABLE, engine one keeps working, berth engines shows it down', async () => {
    const r = adopter;
    const onOne = names.filter((n) => where.get(n) === 'one');
    const onTwo = names.filter((n) => where.get(n) === 'two');
    engineScript('kill-engine', two);
    // An open session on engine two, and a fresh open from another runner (a CLI call).
    const s2 = await r.open(onTwo[0]!);
    expect(await codeOf(s2.exec('echo hi'))).toBe('ENGINE_UNAVAILABLE');
    const fresh = await runner();
    const err = await fresh.open(onTwo[1]!).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('ENGINE_UNAVAILABLE');
    expect((err as BerthError).message).toContain('"two"');
    expect((err as BerthError).message).toContain(two.sock);
    // Engine one's workspaces still exec, in both runners.
    for (const n of onOne.slice(0, 3)) expect((await (await fresh.open(n)).exec(`cat marker.txt`)).stdout).toBe(`kept-${n}\n`);
    // A new workspace goes to the engine that answers.
    await fresh.open('while-down');
    expect((await fresh.workspaces.get('while-down')).extra.engine).toBe('one');
    // list() keeps the dead engine's workspaces, marked.
    const rows = await fresh.list();
    expect(rows.filter((x) => onTwo.includes(x.name)).every((x) => x.state === 'engine-unavailable')).toBe(true);
    // berth engines --json, as a user runs it.
    const env = {
      ...process.env,
      BERTH_ENGINES: JSON.stringify([
        { id: 'one', host: ENGINE_ONE },
        { id: 'two', host: `unix://${two.sock}` },
      ]),
    };
    const cli = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'engines', '--json'], { env, encoding: 'utf8', timeout: 60_000 });
    expect(cli.status, cli.stderr).toBe(3);
    const out = JSON.parse(cli.stdout) as { ok: boolean; engines: { id: string; health: { ok: boolean; version: string | null }; sessions: number | null }[] };
    expect(out.ok).toBe(false);
    expect(out.engines.map((e) => [e.id, e.health.ok])).toEqual([
      ['one', true],
      ['two', false],
    ]);
    expect(out.engines[0]!.health.version).toMatch(/\d+\.\d+/);
    expect(out.engines[0]!.sessions).toBeGreaterThanOrEqual(onOne.length);
    // The MCP tool says the same, read-only, with a title, the four hints and an output schema.
    const mcp = await mcpEngines(fresh);
    expect(mcp.tool).toMatchObject({
      title: 'Show Docker engines',
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      outputSchema: { type: 'object' },
    });
    expect(mcp.result.engines.map((e) => [e.id, e.up])).toEqual([
      ['one', true],
      ['two', false],
    ]);
    expect(mcp.result.engines[1]!.error).toContain(two.sock);
  }, 180_000);

  it('after engine two restarts, its workspaces come back with their files', async () => {
    engineScript('start-engine', two);
    const r = await runner();
    for (const n of names.filter((x) => where.get(x) === 'two').slice(1, 4)) {
      const s = await r.open(n);
      expect((await s.exec('cat marker.txt')).stdout).toBe(`kept-${n}\n`);
    }
    // The session the old runner held open through the outage comes back on its next open too
    // (its container died with the engine: the open restarts it and says so).
    const n0 = names.find((x) => where.get(x) === 'two')!;
    const s = await adopter.open(n0);
    expect(s.created.resumed).toBe(true);
    expect((await s.exec('cat marker.txt')).stdout).toBe(`kept-${n0}\n`);
    // A container snapshot of a workspace on engine two is taken there, and a fork of it lives
    // there too (its container starts from that snapshot, with the file the agent wrote).
    const n1 = names.filter((x) => where.get(x) === 'two')[1]!;
    await (await r.open(n1)).exec('echo installed > /tmp/pkg.txt');
    const cp = await r.checkpoint(n1, { message: 'snapshot on two', withContainer: true });
    expect(cp.image).toBeDefined();
    expect((await two.client.getImage(cp.image!.id).inspect()).Id).toBe(cp.image!.id);
    const host = {
      workspaces: r.workspaces,
      containers: await workspaceContainers(engines, r.workspaces, n1),
      repo: r.repo,
      dataDir: r.dataDir,
      labels: fx.labels,
      logger: r.logger,
      get: () => undefined,
    };
    await forkWorkspace(host, n1, 'fork-on-two', { at: 'latest' });
    expect((await r.workspaces.get('fork-on-two')).extra.engine).toBe('two');
    const f = await r.open('fork-on-two');
    expect((await f.exec('cat /tmp/pkg.txt marker.txt')).stdout).toBe(`installed\nkept-${n1}\n`);
    await two.client.getContainer(sessionContainerName(r.repo, 'fork-on-two')).inspect();
    // berth engines: both up.
    const st = await engines.status();
    expect(st.map((x) => x.health.ok)).toEqual([true, true]);
  }, 180_000);

  it('runs a session on an engine reached over ssh://, and refuses an ssh host key it does not know', async () => {
    const viaSsh = EngineSet.of(
      parseEngineList([{ id: 'ssh2', host: two.ssh, sshIdentityFile: two.sshKey, sshKnownHostsFile: two.knownHosts, remote: false }], 'test'),
    );
    const r = await runner(viaSsh);
    const s = await r.open('over-ssh');
    const res = await s.exec('echo $((6 * 7)) && cat /etc/hostname');
    expect(res.exitCode).toBe(0);
    expect(res.stdout.split('\n')[0]).toBe('42');
    // The container lives on engine two (seen through its unix socket).
    const i = await two.client.getContainer(sessionContainerName(r.repo, 'over-ssh')).inspect();
    expect(i.State.Running).toBe(true);
    await s.close();
    // Same endpoint, a known_hosts without its key: the connection is refused before any API call.
    const blind = EngineSet.of(parseEngineList([{ id: 'blind', host: two.ssh, sshIdentityFile: two.sshKey, sshKnownHostsFile: '/dev/null' }], 'test'));
    const st = await blind.status();
    expect(st[0]!.health.ok).toBe(false);
    expect(st[0]!.health.error).toMatch(/"blind".*Host denied \(verification failed\)/);
  }, 180_000);
});

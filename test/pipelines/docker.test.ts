// runPlanLocal against the real Docker engine: results, exit codes, isolation (copy of the source,
// separate containers for parallel steps), limits, user, timeout, abort, and that no labelled
// container or fork image survives any of it.
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { plan, runPlanLocal, type PipelineEvent, type LocalPipelineResult as PipelineResult } from '../../pipelines/index.js';
import { LABEL } from '../../docker/labels.js';
import { LocalSourceReader } from '../../src/source-reader.js';
import { resolveSpec, TOOLCHAIN_IMAGES } from '../../src/project/index.js';
import type { ResolvedSpec } from '../../src/project/types.js';
import { describeDocker } from '../helpers/docker.js';
import { cleanup, copyFixture, docker, pipelineContainers, pipelineSpec, snapshot, type FixtureCopy } from './helpers.js';

const copies: FixtureCopy[] = [];
async function fixture(name: string): Promise<FixtureCopy> {
  const c = await copyFixture(name);
  copies.push(c);
  return c;
}

async function runFixture(copy: FixtureCopy, target: 'test' | 'check', events?: PipelineEvent[]): Promise<PipelineResult> {
  const { spec } = await resolveSpec(new LocalSourceReader(copy.dir));
  const p = plan(spec, target, { repo: copy.repo });
  return runPlanLocal(p, { source: copy.dir, ...(events ? { onOutput: (e) => events.push(e) } : {}) });
}

function busyboxSpec(over: Partial<ResolvedSpec> = {}): ResolvedSpec {
  return pipelineSpec({ env: { GREETING: 'hello from env' }, caches: [{ name: 'tool', path: '/var/cache/berth/tool' }], ...over });
}

async function expectNoLeftovers(copy: FixtureCopy, result?: PipelineResult): Promise<void> {
  expect(await pipelineContainers(copy.repo), 'labelled pipeline containers left behind').toEqual([]);
  if (result) {
    const images = await docker.listImages({ filters: { label: [`${LABEL.pipelineRun}=${result.runId}`] } });
    expect(images, 'fork image left behind').toEqual([]);
  }
}

describeDocker('runPlanLocal (real Docker)', () => {
  let scratch: FixtureCopy;
  beforeAll(async () => {
    scratch = await fixture('make');
  });
  afterAll(async () => {
    for (const c of copies) await cleanup(c);
  });

  it('passes: phases, events, tails; the source is copied (ignores honoured), never modified', async () => {
    const copy = await fixture('node-pass');
    await writeFile(join(copy.dir, 'ignored-by-git.log'), 'must not be copied');
    await writeFile(join(copy.dir, 'secret.env'), 'TOKEN=must-not-be-copied');
    const before = await snapshot(copy.dir);
    const events: PipelineEvent[] = [];
    const r = await runFixture(copy, 'test', events);
    expect(r).toMatchObject({ ok: true, outcome: 'passed', exitCode: 0, target: 'test', image: TOOLCHAIN_IMAGES.node, failedPhase: undefined });
    expect(r.phases.map((p) => [p.name, p.outcome, p.exitCode, p.commands.map((c) => c.command)])).toEqual([
      ['install', 'passed', 0, ['npm ci']],
      ['test', 'passed', 0, ['npm test']],
    ]);
    // The fixture's own test asserts the ignored files are absent from the copy.
    expect(r.phases[1]?.tail).toMatch(/[#ℹ] pass 2\n[#ℹ] fail 0/);
    // An engine without a bridge network adds a note that the install runs offline (network.install).
    const kinds = events
      .filter((e) => e.type !== 'output' && !(e.type === 'info' && /no bridge network/.test(e.message)))
      .map((e) => (e.type === 'info' ? `info:${e.message.split(/[ (]/)[0]}` : `${e.type}:${e.phase}`));
    // The install runs on its own and is saved as the ready-deps snapshot (pipelines/local/deps.ts);
    // the test then runs from that snapshot with a fresh copy of the source.
    expect(kinds).toEqual([
      'info:copied',
      'phase-start:install',
      'command-start:install',
      'phase-end:install',
      'info:install:',
      'info:copied',
      'phase-start:test',
      'command-start:test',
      'phase-end:test',
    ]);
    expect(events.some((e) => e.type === 'output' && e.phase === 'test' && /ok 1 - adds|✔ adds/.test(e.text))).toBe(true);
    expect(await snapshot(copy.dir)).toBe(before);
    await expectNoLeftovers(copy, r);
    // The npm cache volume exists, labelled, shared by the toolchain (no repository), and is kept for the next run.
    const vol = await docker.getVolume('berth-cache-node-npm').inspect();
    expect([vol.Labels?.[LABEL.toolchain], vol.Labels?.[LABEL.volumeName], vol.Labels?.[LABEL.pipelineRepo]]).toEqual(['node', 'npm', undefined]);
  });

  it("fails with the test runner's own exit code and its output in the tail", async () => {
    const copy = await fixture('node-fail');
    const r = await runFixture(copy, 'test');
    expect(r).toMatchObject({ ok: false, outcome: 'failed', exitCode: 3, failedPhase: 'test' });
    expect(r.phases.find((p) => p.name === 'test')?.tail).toContain('not ok - arithmetic is broken on purpose');
    await expectNoLeftovers(copy, r);
  });

  it('check: steps run in separate containers forked after install; the first failing step sets the code', async () => {
    const copy = await fixture('node-lint');
    await appendFile(join(copy.dir, 'src', 'app.js'), '// trailing space \n');
    const r = await runFixture(copy, 'check');
    expect(r.phases.map((p) => [p.name, p.outcome, p.exitCode])).toEqual([
      ['install', 'passed', 0],
      ['build', 'passed', 0],
      // Its test asserts dist/app.js (written by the concurrent build step) is not visible.
      ['test', 'passed', 0],
      ['lint', 'failed', 4],
    ]);
    expect(r).toMatchObject({ outcome: 'failed', exitCode: 4, failedPhase: 'lint' });
    expect(r.phases[3]?.tail).toContain('src/app.js:4: tab or trailing whitespace');
    await expectNoLeftovers(copy, r);
  });

  it('applies env, network none, limits, and the plan user (setup as the image user)', async () => {
    const spec = busyboxSpec({
      user: '1000:1000',
      setup: ['echo "setup uid=$(id -u)"'],
      install: ['touch /src/made-by-install /var/cache/berth/tool/stamp'],
    });
    const p = plan(
      spec,
      {
        run: 'echo "uid=$(id -u) $GREETING net=$(ls /sys/class/net | tr "\\n" " ")pids=$(cat /sys/fs/cgroup/pids/pids.max) mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"; ls -n /src/Makefile',
      },
      { repo: scratch.repo },
    );
    const r = await runPlanLocal(p, { source: scratch.dir });
    expect(r.ok, JSON.stringify(r.phases)).toBe(true);
    expect(r.phases[0]?.tail).toBe('setup uid=0\n');
    const out = r.phases.find((ph) => ph.name === 'run')?.tail ?? '';
    expect(out).toContain(`uid=1000 hello from env net=lo pids=128 mem=${256 * 1024 * 1024}`);
    // The copied source belongs to the plan user.
    expect(out).toMatch(/-rw-r--r-- +1 1000 +1000 .* \/src\/Makefile/);
    await expectNoLeftovers(scratch, r);
  });

  it('a non-root plan without setup runs with CHOWN alone: root hands over the copy, the user owns it', async () => {
    const spec = busyboxSpec({ user: '1000:1000', install: ['touch /src/made-by-install /var/cache/berth/tool/stamp'] });
    const p = plan(spec, { run: 'grep ^CapBnd /proc/self/status; ls -n /src/made-by-install' }, { repo: scratch.repo });
    const r = await runPlanLocal(p, { source: scratch.dir });
    expect(r.ok, JSON.stringify(r.phases)).toBe(true);
    const out = r.phases.find((ph) => ph.name === 'run')?.tail ?? '';
    // The bounding set: CAP_CHOWN (bit 0) and nothing else.
    expect(out).toMatch(/^CapBnd:\s+0000000000000001$/m);
    expect(out).toMatch(/-rw-r--r-- +1 1000 +1000 .* \/src\/made-by-install/);
    await expectNoLeftovers(scratch, r);
  });

  it('single-container path: per-command results, output split by command and stream, no markers leak', async () => {
    // No setup, no user switch, not parallel: the plan runs as the container's main process.
    const steps = { build: [], test: ['printf "t-out"; printf "t-err" >&2', 'echo second; exit 5', 'echo never'], lint: [] };
    const p = plan(busyboxSpec({ install: ['printf "i-out-no-newline"; printf "i-err" >&2', 'echo i2 >&2'], steps }), 'test', { repo: scratch.repo });
    const events: PipelineEvent[] = [];
    const r = await runPlanLocal(p, { source: scratch.dir, onOutput: (e) => events.push(e) });
    expect(r).toMatchObject({ ok: false, outcome: 'failed', exitCode: 5, failedPhase: 'test' });
    expect(r.phases.map((ph) => [ph.name, ph.outcome, ph.exitCode, ph.commands.map((c) => c.exitCode)])).toEqual([
      ['install', 'passed', 0, [0, 0]],
      ['test', 'failed', 5, [0, 5]],
    ]);
    const text = (phase: string, stream: string) =>
      events.flatMap((e) => (e.type === 'output' && e.phase === phase && e.stream === stream ? [e.text] : [])).join('');
    expect(text('install', 'stdout')).toBe('i-out-no-newline');
    expect(text('install', 'stderr')).toBe('i-erri2\n');
    expect(text('test', 'stdout')).toBe('t-outsecond\n');
    expect(text('test', 'stderr')).toBe('t-err');
    expect(r.phases[1]?.tail).not.toContain('berth-');
    const kinds = events.filter((e) => e.type !== 'output' && e.type !== 'info').map((e) => `${e.type}:${e.phase}`);
    expect(kinds).toEqual([
      'phase-start:install',
      'command-start:install',
      'command-start:install',
      'phase-end:install',
      'phase-start:test',
      'command-start:test',
      'command-start:test',
      'phase-end:test',
    ]);
    await expectNoLeftovers(scratch, r);
  });

  it('a setup failure skips install and the steps', async () => {
    const p = plan(busyboxSpec({ setup: ['exit 7'], install: ['echo never'], steps: { build: [], test: ['echo never'], lint: [] } }), 'test', {
      repo: scratch.repo,
    });
    const r = await runPlanLocal(p, { source: scratch.dir });
    expect(r.phases.map((ph) => [ph.name, ph.outcome, ph.exitCode])).toEqual([
      ['setup', 'failed', 7],
      ['install', 'skipped', null],
      ['test', 'skipped', null],
    ]);
    expect(r.exitCode).toBe(7);
    await expectNoLeftovers(scratch, r);
  });

  it('a command over the timeout is stopped: exit 124, container removed', async () => {
    const p = plan(busyboxSpec(), { run: 'echo started; sleep 30' }, { repo: scratch.repo, timeoutMs: 1500 });
    const t0 = Date.now();
    const r = await runPlanLocal(p, { source: scratch.dir });
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(r).toMatchObject({ ok: false, outcome: 'timeout', exitCode: 124, failedPhase: 'run' });
    expect(r.phases[0]?.tail).toMatch(/^started\n[\s\S]*timed out after 1\.5s/);
    await expectNoLeftovers(scratch, r);
  });

  it('abort mid-command: exit 130, containers removed at once', async () => {
    const p = plan(busyboxSpec(), { run: 'sleep 30' }, { repo: scratch.repo });
    const ac = new AbortController();
    let abortedAt = 0;
    const t0 = Date.now();
    const r = await runPlanLocal(p, {
      source: scratch.dir,
      signal: ac.signal,
      onOutput: (e) => {
        if (e.type === 'command-start') {
          // Let the exec actually start before aborting.
          setTimeout(() => {
            abortedAt = Date.now();
            ac.abort();
          }, 300);
        }
      },
    });
    expect(abortedAt).toBeGreaterThan(0);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(r).toMatchObject({ ok: false, outcome: 'aborted', exitCode: 130, failedPhase: 'run' });
    await expectNoLeftovers(scratch, r);
  });

  it('check: a timeout in one forked step leaves the others to finish; abort removes every fork', async () => {
    const steps = { build: ['echo built'], test: ['sleep 30'], lint: ['echo linted'] };
    const timed = await runPlanLocal(plan(busyboxSpec({ steps }), 'check', { repo: scratch.repo, timeoutMs: 1500 }), { source: scratch.dir });
    expect(timed.phases.map((ph) => [ph.name, ph.outcome, ph.exitCode])).toEqual([
      ['build', 'passed', 0],
      ['test', 'timeout', null],
      ['lint', 'passed', 0],
    ]);
    expect(timed).toMatchObject({ outcome: 'timeout', exitCode: 124, failedPhase: 'test' });
    await expectNoLeftovers(scratch, timed);

    const ac = new AbortController();
    let started = 0;
    const slow = { build: ['sleep 30'], test: ['sleep 30'], lint: ['sleep 30'] };
    const aborted = await runPlanLocal(plan(busyboxSpec({ steps: slow }), 'check', { repo: scratch.repo }), {
      source: scratch.dir,
      signal: ac.signal,
      onOutput: (e) => {
        // Abort while the forks are being created/started: the race teardown must win.
        if (e.type === 'command-start' && ++started === 1) ac.abort();
      },
    });
    expect(aborted).toMatchObject({ outcome: 'aborted', exitCode: 130 });
    await expectNoLeftovers(scratch, aborted);
  });

  it('an already-aborted signal creates nothing', async () => {
    const p = plan(busyboxSpec(), { run: 'true' }, { repo: scratch.repo });
    const r = await runPlanLocal(p, { source: scratch.dir, signal: AbortSignal.abort() });
    expect(r.outcome).toBe('aborted');
    await expectNoLeftovers(scratch, r);
  });

  it('a missing image is IMAGE_MISSING with the remedy, before anything is created', async () => {
    const p = plan(busyboxSpec({ image: 'berth-no-such-image:0' }), { run: 'true' }, { repo: scratch.repo });
    await expect(runPlanLocal(p, { source: scratch.dir })).rejects.toMatchObject({
      code: 'IMAGE_MISSING',
      message: expect.stringMatching(/"berth-no-such-image:0" is not present.*berth images build/),
    });
    await expectNoLeftovers(scratch);
  });

  it('a throwing onOutput callback does not break the run', async () => {
    const p = plan(busyboxSpec(), { run: 'echo hi' }, { repo: scratch.repo });
    const r = await runPlanLocal(p, {
      source: scratch.dir,
      onOutput: () => {
        throw new Error('callback bug');
      },
    });
    expect(r.ok).toBe(true);
    await expectNoLeftovers(scratch, r);
  });
});

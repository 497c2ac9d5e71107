// `berth build|test|lint|check|run` as a real spawned process against the real engine: exit codes
// pass through, berth's own failures are 125, --json is a parseable summary, and no labelled
// container survives a pass, a failure, a timeout or Ctrl-C.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import type { PipelineResult } from '../../pipelines/index.js';
import { IMAGES } from '../../src/images.js';
import { describeDocker } from '../helpers/docker.js';
import { cleanup, copyFixture, pipelineContainers, snapshot, type FixtureCopy } from './helpers.js';

const BIN = fileURLToPath(new URL('../../bin/berth.js', import.meta.url));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Spawn the CLI; `onStderr` sees stderr as it arrives and gets the child (for signals). */
function berth(args: string[], onStderr?: (text: string, child: ReturnType<typeof spawn>) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      onStderr?.(stderr, child);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const copies: FixtureCopy[] = [];
async function fixture(name: string): Promise<FixtureCopy> {
  const c = await copyFixture(name);
  copies.push(c);
  return c;
}

async function expectNoContainers(copy: FixtureCopy): Promise<void> {
  expect(await pipelineContainers(copy.repo), 'labelled pipeline containers left behind').toEqual([]);
}

/** A project whose test step sleeps, on the tiny busybox image. */
async function sleepyProject(): Promise<FixtureCopy> {
  const copy = await fixture('node-fail');
  await writeFile(join(copy.dir, 'berth.yaml'), `image: ${IMAGES.busybox}\ninstall: []\ntest: echo sleeping; sleep 60\n`);
  return copy;
}

describeDocker('berth pipeline commands (spawned CLI, real Docker)', () => {
  afterAll(async () => {
    for (const c of copies) await cleanup(c);
  });

  it('test on the passing fixture exits 0 with headers and elapsed times; the source is untouched', async () => {
    const copy = await fixture('node-pass');
    const before = await snapshot(copy.dir);
    const r = await berth(['test', `--source=${copy.dir}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/[#ℹ] pass 2/); // Node 24's default reporter prints ℹ
    expect(r.stderr).toMatch(/==> install\n\$ npm ci\n/);
    expect(r.stderr).toMatch(/<== test passed in \d+(\.\d)?m?s\n/);
    expect(r.stderr).toMatch(/berth: test passed in /);
    expect(await snapshot(copy.dir)).toBe(before);
    await expectNoContainers(copy);
  });

  it("test on the failing fixture exits with the test runner's code (3)", async () => {
    const copy = await fixture('node-fail');
    const r = await berth(['test', `--source=${copy.dir}`]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain('not ok - arithmetic is broken on purpose');
    expect(r.stderr).toMatch(/berth: test failed in .*: test exited 3/);
    await expectNoContainers(copy);
  });

  it('check --json: a JSON summary on stdout, live output on stderr; the lint exits 4 (reserved for install failures), so the run exits 1', async () => {
    const copy = await fixture('node-lint');
    await writeFile(join(copy.dir, 'src', 'extra.js'), 'module.exports = 1;\t\n');
    const r = await berth(['check', `--source=${copy.dir}`, '--json']);
    expect(r.code, r.stderr).toBe(1);
    const summary = JSON.parse(r.stdout) as PipelineResult;
    expect(summary).toMatchObject({ step: 'check', outcome: 'failed', exitCode: 1, failedPhase: 'lint', failureKind: 'test', ok: false, error: null });
    expect(summary.phases.map((p) => [p.name, p.outcome, p.exitCode])).toEqual([
      ['install', 'passed', 0],
      ['build', 'passed', 0],
      ['test', 'passed', 0],
      ['lint', 'failed', 4],
    ]);
    expect(summary.phases[3]?.tail).toContain('src/extra.js:1: tab or trailing whitespace');
    expect(summary.phases.every((p) => typeof p.durationMs === 'number')).toBe(true);
    // Parallel steps are prefixed line by line on the live stream.
    expect(r.stderr).toMatch(/^\[lint\] src\/extra\.js:1: tab or trailing whitespace$/m);
    await expectNoContainers(copy);
  });

  it('the Makefile project runs its detected make targets', async () => {
    const copy = await fixture('make');
    const r = await berth(['build', `--source=${copy.dir}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('make-build-ok\n');
    expect(r.stderr).toContain('$ make build');
    await expectNoContainers(copy);
  });

  it('run -- CMD… passes an argv through and exits with its code', async () => {
    const copy = await fixture('make');
    const r = await berth(['run', `--source=${copy.dir}`, '--', 'sh', '-c', 'echo "$0 $1"; exit 42', 'arg zero', 'arg one']);
    expect(r.code, r.stderr).toBe(42);
    expect(r.stdout).toBe('arg zero arg one\n');
    await expectNoContainers(copy);
  });

  it("berth's own failures exit 125 with a clear message: broken berth.yaml, undefined step, bad --source", async () => {
    const broken = await fixture('broken-yaml');
    const r1 = await berth(['test', `--source=${broken.dir}`]);
    expect(r1.code).toBe(125);
    expect(r1.stderr).toMatch(/^berth: berth\.yaml:\d+:\d+: invalid YAML/);
    const r1j = await berth(['test', `--source=${broken.dir}`, '--json']);
    expect(r1j.code).toBe(125);
    expect(JSON.parse(r1j.stdout)).toMatchObject({ error: { code: 'SPEC_YAML' } });

    const fail = await fixture('node-fail');
    const r2 = await berth(['lint', `--source=${fail.dir}`]);
    expect(r2.code).toBe(125);
    expect(r2.stderr).toMatch(/step "lint" is not defined .*Add "lint: <command>" to berth\.yaml/);

    const r3 = await berth(['test', `--source=${join(fail.dir, 'nope')}`]);
    expect(r3.code).toBe(125);
    expect(r3.stderr).toMatch(/--source ".*nope" is not a directory/);

    const r4 = await berth(['test', `--source=${fail.dir}`, '--timeout', 'soon']);
    expect(r4.code).toBe(125);
    expect(r4.stderr).toContain('--timeout "soon" is not a duration');
    for (const c of [broken, fail]) await expectNoContainers(c);
  }, 180_000); // five spawned CLIs: generous for a loaded shared machine

  it('--timeout stops a hanging step: exit 124, no container left', async () => {
    const copy = await sleepyProject();
    const r = await berth(['test', `--source=${copy.dir}`, '--timeout', '2s']);
    expect(r.code, r.stderr).toBe(124);
    expect(r.stderr).toMatch(/timed out after 2\.0s/);
    await expectNoContainers(copy);
  });

  it('SIGINT mid-step: containers removed, exit 130', async () => {
    const copy = await sleepyProject();
    let sent = false;
    let sawContainer = false;
    const r = await berth(['test', `--source=${copy.dir}`], (stderr, child) => {
      if (!sent && stderr.includes('$ echo sleeping; sleep 60')) {
        sent = true;
        // Make sure the container really exists before interrupting.
        void pipelineContainers(copy.repo).then((list) => {
          sawContainer = list.length > 0;
          child.kill('SIGINT');
        });
      }
    });
    expect(sent).toBe(true);
    expect(sawContainer).toBe(true);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toContain('interrupted, removing pipeline containers');
    await expectNoContainers(copy);
  });

  it('every command has --help with an example', async () => {
    for (const cmd of ['build', 'test', 'lint', 'check', 'run']) {
      const r = await berth([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`Example[s]?:\\n  berth ${cmd} --source=\\.`));
      expect(r.stdout).toContain('--json');
      expect(r.stdout).toContain('--timeout');
    }
  });
});

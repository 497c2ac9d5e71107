// The exit codes a CI job branches on, through the real CLI on the real engine: an install failure
// (4) is told apart from a test failure (the step's own code) and from berth's own failure (125),
// and a step whose own code would read as a reserved one is reported as 1. --json says the same in
// failureKind, with each phase's own code kept.
import { runBerth, type CliRun } from '../helpers/cli.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT_INFRA, EXIT_INSTALL, pipelineExitCode, type PipelineResult } from '../../pipelines/index.js';
import { IMAGES } from '../../src/images.js';
import { describeDocker } from '../helpers/docker.js';
import { cleanup, copyFixture, pipelineContainers, type FixtureCopy } from './helpers.js';

function berth(args: string[]): Promise<CliRun> {
  return runBerth(args, { env: { ...process.env, NO_COLOR: '1' } });
}

describe('pipelineExitCode', () => {
  it('install failures are 4, reserved step codes become 1, other codes and mapped outcomes pass through', () => {
    expect(pipelineExitCode('failed', 'install', 1)).toBe(EXIT_INSTALL);
    expect(pipelineExitCode('failed', 'install', 127)).toBe(EXIT_INSTALL);
    expect(pipelineExitCode('failed', 'test', 3)).toBe(3);
    expect(pipelineExitCode('failed', 'test', 2)).toBe(2);
    for (const reserved of [4, 124, 125, 130]) expect(pipelineExitCode('failed', 'test', reserved)).toBe(1);
    expect(pipelineExitCode('passed', null, 0)).toBe(0);
    expect(pipelineExitCode('timeout', 'test', 124)).toBe(124);
    expect(pipelineExitCode('error', 'infra', EXIT_INFRA)).toBe(EXIT_INFRA);
    expect(pipelineExitCode('aborted', 'infra', 130)).toBe(130);
  });
});

describeDocker('berth test exit codes (spawned CLI, real Docker)', () => {
  const copies: FixtureCopy[] = [];
  afterAll(async () => {
    for (const c of copies) await cleanup(c);
  });

  /** A busybox project with the given install and test commands (no network, no toolchain). */
  async function project(yaml: string): Promise<FixtureCopy> {
    const copy = await copyFixture('node-fail');
    copies.push(copy);
    await writeFile(join(copy.dir, 'berth.yaml'), `image: ${IMAGES.busybox}\n${yaml}`);
    return copy;
  }

  it('an install that fails exits 4, failureKind install, the install phase keeps its own code, no step ran', async () => {
    const copy = await project('install:\n  - echo fetching; exit 7\ntest: echo SHOULD-NOT-RUN\n');
    const r = await berth(['test', `--source=${copy.dir}`, '--json']);
    expect(r.code, r.stderr).toBe(EXIT_INSTALL);
    const result = JSON.parse(r.stdout) as PipelineResult;
    expect(result).toMatchObject({ ok: false, outcome: 'failed', exitCode: 4, failureKind: 'install', failedPhase: 'install', error: null });
    expect(result.phases.map((p) => [p.name, p.outcome, p.exitCode])).toEqual([
      ['install', 'failed', 7],
      ['test', 'skipped', null],
    ]);
    expect(r.stderr).toContain('fetching');
    expect(r.stderr).not.toContain('SHOULD-NOT-RUN\n');
    expect(r.stderr).toMatch(/berth: test failed in .*: install failed \(exited 7; exit 4: install failure, no step ran\)/);
    expect(await pipelineContainers(copy.repo)).toEqual([]);
  });

  it('a failing test step exits with its own code; one that exits 4 is reported as 1, never as an install failure', async () => {
    const own = await project('install: []\ntest: exit 3\n');
    const r3 = await berth(['test', `--source=${own.dir}`, '--json']);
    expect(r3.code, r3.stderr).toBe(3);
    expect(JSON.parse(r3.stdout)).toMatchObject({ exitCode: 3, failureKind: 'test', failedPhase: 'test' });

    const clash = await project('install: []\ntest: exit 4\n');
    const r4 = await berth(['test', `--source=${clash.dir}`, '--json']);
    expect(r4.code, r4.stderr).toBe(1);
    const result = JSON.parse(r4.stdout) as PipelineResult;
    expect(result).toMatchObject({ exitCode: 1, failureKind: 'test', failedPhase: 'test' });
    expect(result.phases.find((p) => p.name === 'test')?.exitCode).toBe(4);
    expect(r4.stderr).toMatch(/berth: test failed in .*: test exited 4 \(exit 1\)/);
  });

  it('a berth.yaml berth cannot read is 125, failureKind infra, with the error', async () => {
    const copy = await project('install: [\n');
    const r = await berth(['test', `--source=${copy.dir}`, '--json']);
    expect(r.code, r.stderr).toBe(EXIT_INFRA);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, outcome: 'error', exitCode: 125, failureKind: 'infra', phases: [] });
  });
});

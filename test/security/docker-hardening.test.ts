/**
 * Attack class: a container with more power than berth means to give. A session container (made
 * by the Runner) and pipeline containers (made by the local executor, inspected while their step
 * runs) must carry the same hardening from docker/hardening.ts: capabilities dropped, no new
 * privileges, Docker's default seccomp, pids/memory/cpu limits with no swap, no json log, no
 * Docker socket, and a /dev/shm mounted nosuid,nodev,noexec (read from /proc/mounts inside).
 * Before the builder, pipeline containers had Docker's default capabilities and no swap limit.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROOT_SETUP_CAPS } from '../../docker/hardening.js';
import { ensureWorkspaceVolume, volumeTarStream } from '../../docker/volumes.js';
import { LABEL } from '../../docker/labels.js';
import { plan, runPlanLocal, type PipelineEvent } from '../../pipelines/index.js';
import type { ResolvedSpec } from '../../src/project/types.js';
import { Runner } from '../../runner/session/index.js';
import { describeDocker, docker, type Docker } from '../helpers/docker.js';
import { pipelineSpec } from '../pipelines/helpers.js';
import { busyboxSpec, makeFixture, type Fixture } from '../runner/helpers.js';

const RESOURCES = { cpus: 1, memoryMb: 256, pids: 256 };

function hardenedSpec(over: Partial<ResolvedSpec>): ResolvedSpec {
  return pipelineSpec({ resources: RESOURCES, stepTimeoutMs: 120_000, ...over });
}

/** The hardening fields of a HostConfig, normalised (Docker reports an empty list as null). */
function hardening(hc: Docker.ContainerInspectInfo['HostConfig'] & Record<string, unknown>) {
  return {
    CapDrop: hc.CapDrop,
    CapAdd: [...((hc.CapAdd as string[] | null) ?? [])].sort(),
    SecurityOpt: hc.SecurityOpt,
    Privileged: hc.Privileged,
    PidsLimit: hc.PidsLimit,
    Memory: hc.Memory,
    MemorySwap: hc.MemorySwap,
    NanoCpus: hc.NanoCpus,
    LogConfig: hc.LogConfig,
    Init: hc.Init,
    IpcMode: hc.IpcMode,
    ShmSize: hc.ShmSize,
    Tmpfs: hc.Tmpfs ?? null,
    Binds: hc.Binds ?? null,
    NetworkMode: hc.NetworkMode,
  };
}

function expectNoDockerSocket(info: Docker.ContainerInspectInfo): void {
  expect(JSON.stringify(info.Mounts)).not.toMatch(/docker\.sock/);
  expect(JSON.stringify(info.HostConfig)).not.toMatch(/docker\.sock|seccomp/);
}

const SHM_LINE = /^shm \/dev\/shm tmpfs (\S+)/m;

describeDocker('security: every container berth creates carries the same hardening', () => {
  let fx: Fixture;
  let source: string;
  let runner: Runner;
  const tag = `berth-hardening-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    fx = makeFixture('berth-hardening-');
    source = await mkdtemp(join(tmpdir(), 'berth-hardening-src-'));
    await writeFile(join(source, 'README'), 'x\n');
  });

  afterAll(async () => {
    await runner?.close().catch(() => undefined);
    await fx?.cleanup();
    for (const c of await docker().listContainers({ all: true, filters: { label: [`dev.berth.test=${tag}`] } })) {
      await docker()
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => undefined);
    }
    const { Volumes } = await docker().listVolumes({ filters: { label: [`dev.berth.test=${tag}`] } });
    for (const v of Volumes ?? [])
      await docker()
        .getVolume(v.Name)
        .remove({ force: true })
        .catch(() => undefined);
    await rm(source, { recursive: true, force: true });
  });

  /** Run `spec` with a step that prints /dev/shm's mount line and waits; inspect it then abort. */
  async function inspectPipeline(spec: ResolvedSpec): Promise<{ info: Docker.ContainerInspectInfo; shm: string }> {
    const ac = new AbortController();
    let out = '';
    let seen: Promise<Docker.ContainerInspectInfo> | undefined;
    const onOutput = (e: PipelineEvent) => {
      if (e.type !== 'output') return;
      out += e.text;
      if (!seen && out.includes('READY')) {
        seen = (async () => {
          const rows = await docker().listContainers({ all: true, filters: { label: [`dev.berth.test=${tag}`, `${LABEL.role}=pipeline`] } });
          // Not filtered on "running": output can arrive before Docker's list shows the start.
          const row = rows.find((r) => r.Labels[LABEL.pipelinePart] === 'main');
          if (!row) throw new Error(`no main pipeline container: ${JSON.stringify(rows.map((r) => [r.Names, r.State]))}`);
          return docker().getContainer(row.Id).inspect();
        })().finally(() => ac.abort());
        // Awaited after the run; this only keeps a failure from counting as unhandled meanwhile.
        seen.catch(() => undefined);
      }
    };
    const p = plan(spec, { run: 'grep " /dev/shm " /proc/mounts; echo READY; sleep 600' }, { repo: `hardening-${tag}` });
    const r = await runPlanLocal(p, { source, signal: ac.signal, onOutput, labels: { 'dev.berth.test': tag } });
    expect(seen, `the step never printed READY: ${JSON.stringify(r.phases)}`).toBeDefined();
    const info = await seen!;
    expect(r.outcome).toBe('aborted');
    return { info, shm: SHM_LINE.exec(out)?.[1] ?? `no /dev/shm line in: ${out}` };
  }

  it('session, pipeline and helper containers: same caps, no-new-privileges, limits, no swap, no log, no socket', async () => {
    runner = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, spec: busyboxSpec({ resources: RESOURCES }) });
    const s = await runner.open('alpha');
    const session = await docker().getContainer(s.containerId).inspect();
    const sessionShm = SHM_LINE.exec((await s.exec('cat /proc/mounts')).stdout)?.[1];

    // Staged path (root setup runs in it): the prepared container.
    const staged = await inspectPipeline(hardenedSpec({ setup: ['true'] }));
    const expected = {
      CapDrop: ['ALL'],
      CapAdd: [...ROOT_SETUP_CAPS].sort(),
      SecurityOpt: ['no-new-privileges:true'],
      Privileged: false,
      PidsLimit: RESOURCES.pids,
      Memory: RESOURCES.memoryMb * 1024 * 1024,
      MemorySwap: RESOURCES.memoryMb * 1024 * 1024,
      NanoCpus: RESOURCES.cpus * 1e9,
      LogConfig: { Type: 'none', Config: {} },
      Init: true,
      IpcMode: 'private',
      ShmSize: 64 * 1024 * 1024,
      Tmpfs: null,
      Binds: null,
      NetworkMode: 'none',
    };
    expect(hardening(session.HostConfig as never)).toEqual(expected);
    expect(hardening(staged.info.HostConfig as never)).toEqual(expected);
    for (const i of [session, staged.info]) expectNoDockerSocket(i);

    // Fast path (the whole plan as the main process, no root setup): the same, minus every cap.
    const direct = await inspectPipeline(hardenedSpec({}));
    expect(hardening(direct.info.HostConfig as never)).toEqual({ ...expected, CapAdd: [] });
    expectNoDockerSocket(direct.info);

    // The helper that carries a volume's bytes (created, never started): no caps, read-only rootfs,
    // its own small limits, nothing bound from the host.
    const repo = { path: fx.repo, id: `hardening-${tag}` };
    const volume = await ensureWorkspaceVolume(docker(), repo, 'alpha', 'data', { 'dev.berth.test': tag });
    const stream = await volumeTarStream(docker(), repo, volume, { 'dev.berth.test': tag });
    const [row] = await docker().listContainers({ all: true, filters: { label: [`dev.berth.test=${tag}`, `${LABEL.role}=helper`] } });
    const helper = await docker().getContainer(row!.Id).inspect();
    stream.destroy();
    const hh = hardening(helper.HostConfig as never);
    expect({ ...hh, PidsLimit: 0, Memory: 0, MemorySwap: 0, NanoCpus: 0 }).toEqual({
      ...expected,
      CapAdd: [],
      PidsLimit: 0,
      Memory: 0,
      MemorySwap: 0,
      NanoCpus: 0,
    });
    expect(hh.MemorySwap).toBe(hh.Memory);
    expect(helper.HostConfig.ReadonlyRootfs).toBe(true);
    expect(helper.Mounts.map((m) => m.Type)).toEqual(['volume']);

    // Docker mounts /dev/shm itself; the kernel's view inside each container is what counts.
    for (const opts of [sessionShm, staged.shm, direct.shm]) {
      expect(opts?.split(',')).toEqual(expect.arrayContaining(['nosuid', 'nodev', 'noexec']));
    }
  });
});

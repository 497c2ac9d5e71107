/**
 * What one bench run works in: a temp git repository (with a berth.yaml, so the `berth mcp` child
 * resolves the same busybox spec the library gets through overrides), a temp BERTH_DATA_DIR, a tiny
 * pipeline source, and a run label on every container this process creates. Cleanup removes
 * exactly this run's objects, found by that label or by the temp repository's own labels (the MCP
 * child and pipelines label theirs with the repo path / repo key), never anyone else's.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoKey } from '../pipelines/index.js';
import { docker, type Docker } from '../docker/index.js';
import { LABEL } from '../docker/index.js';
import { IMAGES } from '../src/images.js';
import type { SpecInput } from '../src/project/index.js';

/** Label on everything the bench creates itself; value = the run id. */
export const BENCH_LABEL = 'dev.berth.bench';

/** Small limits, like the runner suites: the bench measures berth, not a big container. */
export const BENCH_RESOURCES = { cpus: 1, memoryMb: 256, pids: 256 } as const;

/** The spec override every library Runner of the bench gets (the runner tests' mechanism). */
export function benchSpec(extra: SpecInput = {}): SpecInput {
  return { image: IMAGES.busybox, resources: { ...BENCH_RESOURCES }, ...extra };
}

export interface Fixture {
  readonly runId: string;
  readonly root: string;
  /** Real path of the temp repository (what berth writes into its labels). */
  readonly repo: string;
  readonly dataDir: string;
  /** Directory the pipeline group runs `berth test --source` on. */
  readonly pipelineSource: string;
  /** RunnerOptions.labels / pipeline labels for objects this run creates. */
  readonly labels: Readonly<Record<string, string>>;
  readonly docker: Docker;
  /** Aborted on Ctrl-C / SIGTERM: measurement loops stop at the next iteration. */
  readonly signal: AbortSignal;
  /** Environment for spawned berth processes: the temp data dir, no GIT_* from the caller. */
  childEnv(extra?: Record<string, string>): Record<string, string>;
  /**
   * A child process this run started: killed by pid on cleanup unless the returned untrack was
   * called (call it once the child has exited, so a recycled pid is never signalled).
   */
  track(pid: number): () => void;
  abort(reason: string): void;
  /**
   * Remove every container, volume, worktree and temp dir of this run. Idempotent. `settle`
   * (after an interrupt or a failure) sweeps a second time a moment later.
   */
  cleanup(opts?: { settle?: boolean }): Promise<void>;
}

const GIT_BASE = ['-c', 'user.name=Bench', '-c', 'user.email=bench@example.invalid', '-c', 'core.hooksPath=/dev/null', '-c', 'commit.gpgSign=false'];

function cleanEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('GIT_') && k !== 'BERTH_MCP_TOKEN') out[k] = v;
  return { ...out, LC_ALL: 'C' };
}

function berthYaml(test?: string): string {
  const r = BENCH_RESOURCES;
  return `image: ${IMAGES.busybox}\nresources:\n  cpus: ${r.cpus}\n  memoryMb: ${r.memoryMb}\n  pids: ${r.pids}\n${test ? `test: ${test}\n` : ''}`;
}

/** The pipeline's test step (also the command the `docker run --rm` baselines run). */
export const PIPELINE_TEST = 'test -f README.md && echo 1 test passed';

export function makeFixture(): Fixture {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'berth-bench-')));
  const repo = join(root, 'repo');
  const dataDir = join(root, 'data');
  const pipelineSource = join(root, 'pipeline-src');
  const runId = `bench-${randomBytes(6).toString('hex')}`;
  const children = new Set<number>();
  const controller = new AbortController();
  const write = (dir: string, rel: string, content: string) => {
    const p = join(dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  };
  const git = (...args: string[]) => execFileSync('git', [...GIT_BASE, ...args], { cwd: repo, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });

  mkdirSync(repo, { recursive: true });
  git('init', '-q', '-b', 'main');
  write(repo, 'README.md', '# bench fixture\n');
  write(repo, 'berth.yaml', berthYaml());
  git('add', '-A');
  git('commit', '-q', '--no-verify', '-m', 'bench fixture');

  write(pipelineSource, 'README.md', '# tiny pipeline fixture\n');
  write(pipelineSource, 'berth.yaml', berthYaml(JSON.stringify(PIPELINE_TEST)));

  const client = docker();
  let cleaned: Promise<void> | undefined;
  const cleanup = async (settle: boolean) => {
    for (const pid of children) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    children.clear();
    const labelSets = [
      [`${BENCH_LABEL}=${runId}`],
      [`${LABEL.managed}=1`, `${LABEL.repo}=${repo}`],
      [`${LABEL.managed}=1`, `${LABEL.pipelineRepo}=${repoKey(pipelineSource)}`],
    ];
    const sweep = async () => {
      for (const label of labelSets) {
        const cs = await client.listContainers({ all: true, filters: { label } }).catch(() => []);
        await Promise.all(
          cs.map((c) =>
            client
              .getContainer(c.Id)
              .remove({ force: true, v: true })
              .catch(() => undefined),
          ),
        );
      }
      for (const label of labelSets) {
        const vs = await client.listVolumes({ filters: { label } }).catch(() => ({ Volumes: [] }));
        await Promise.all(
          (vs.Volumes ?? []).map((v) =>
            client
              .getVolume(v.Name)
              .remove({ force: true })
              .catch(() => undefined),
          ),
        );
      }
    };
    await sweep();
    // After an interrupt or a failure, a create the engine had already accepted (from a killed
    // worker, or an open still in flight) can land after the first sweep: sweep again shortly.
    if (settle || controller.signal.aborted) {
      await new Promise((r) => setTimeout(r, 1500));
      await sweep();
    }
    // Worktrees live in the data dir and their branches in the temp repo: both go with the root.
    rmSync(root, { recursive: true, force: true });
  };

  return {
    runId,
    root,
    repo,
    dataDir,
    pipelineSource,
    labels: { [BENCH_LABEL]: runId },
    docker: client,
    signal: controller.signal,
    childEnv: (extra = {}) => ({ ...cleanEnv(), BERTH_DATA_DIR: dataDir, ...extra }),
    track: (pid) => {
      children.add(pid);
      return () => void children.delete(pid);
    },
    abort: (reason) => controller.abort(new Error(reason)),
    cleanup: (opts = {}) => (cleaned ??= cleanup(opts.settle ?? false)),
  };
}

/** Remove this run's containers that also carry `label=value` (a group's own, to free resources early). */
export async function removeTagged(fx: Fixture, label: string, value: string): Promise<void> {
  const cs = await fx.docker.listContainers({ all: true, filters: { label: [`${BENCH_LABEL}=${fx.runId}`, `${label}=${value}`] } });
  await Promise.all(
    cs.map((c) =>
      fx.docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => undefined),
    ),
  );
}

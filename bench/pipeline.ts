/**
 * Group 3: what `berth test --source=<tiny fixture>` costs over running the same command with
 * `docker run --rm`. berth is measured through its library path (resolveSpec + runPipeline,
 * exactly what the CLI command calls), not by spawning the CLI: a spawned
 * `bin/berth.js` would add Node + tsx start-up (around a second) that says nothing about the
 * pipeline, while the docker CLI's own start-up is a few ms. The baselines run the same image,
 * command, workdir, limits and network (none), with the source bind-mounted read-only (berth
 * copies it in instead, so the user's directory is never written).
 */
import { LocalSourceReader } from '../src/source-reader.js';
import { resolveSpec } from '../src/project/index.js';
import { plan, repoKey, runPipeline } from '../pipelines/index.js';
import { dockerodeRun, dockerRunArgs, runCli, type RunSpec } from './baselines.js';
import type { GroupContext } from './config.js';
import { PIPELINE_TEST } from './fixture.js';
import { unavailable, type Row } from './report.js';
import { summarize } from './stats.js';
import { measureInterleaved, type Method } from './timing.js';

const WANT = '1 test passed';

export async function pipelineGroup(ctx: GroupContext): Promise<Row[]> {
  const { fx, cfg } = ctx;
  const source = fx.pipelineSource;

  const berthTest = async () => {
    const resolved = await resolveSpec(new LocalSourceReader(source));
    const r = await runPipeline({ kind: 'local', dir: source }, resolved.spec, 'test', { labels: fx.labels, signal: fx.signal });
    const tail = r.phases.find((ph) => ph.name === 'test')?.tail ?? '';
    if (!r.ok || !tail.includes(WANT))
      throw new Error(
        `berth test: expected a pass printing ${JSON.stringify(WANT)}, got ${r.outcome} (exit ${r.exitCode}): ${JSON.stringify(tail.slice(-200))}`,
      );
  };

  // The baselines run exactly what the plan runs.
  const resolved = await resolveSpec(new LocalSourceReader(source));
  const p = plan(resolved.spec, 'test', { repo: repoKey(source) });
  const step = p.steps[0]?.commands[0];
  if (!step || step.display !== PIPELINE_TEST)
    throw new Error(`pipeline fixture: expected the test step ${JSON.stringify(PIPELINE_TEST)}, got ${JSON.stringify(step?.display)}`);
  const spec: RunSpec = {
    image: p.image,
    argv: step.argv,
    workdir: p.workdir,
    source,
    labels: fx.labels,
    cpus: p.resources.cpus,
    memoryMb: p.resources.memoryMb,
    pids: p.resources.pids,
  };
  const check = (what: string, r: { exitCode: number | null; stdout: string }) => {
    if (r.exitCode !== 0 || !r.stdout.includes(WANT))
      throw new Error(`${what}: expected exit 0 printing ${JSON.stringify(WANT)}, got exit ${r.exitCode}: ${JSON.stringify(r.stdout.slice(0, 200))}`);
  };
  const methods: Method[] = [
    { key: 'berth', run: berthTest },
    { key: 'dockerode', run: async () => check('dockerode run', await dockerodeRun(fx.docker, spec)) },
    ...(ctx.dockerCli ? [{ key: 'cli', run: async () => check('docker run --rm', await runCli(ctx.dockerCli as string, dockerRunArgs(spec))) }] : []),
  ];
  ctx.log(`pipeline: ${methods.map((m) => m.key).join(', ')} x ${cfg.pipelines} (after ${cfg.slowWarmup} warm-up) ...`);
  const samples = await measureInterleaved(methods, { warmup: cfg.slowWarmup, iterations: cfg.pipelines, block: 1, signal: fx.signal });
  const get = (k: string) => samples.get(k);
  const rows: Row[] = [
    {
      id: 'pipeline.berth',
      group: 'pipeline',
      label: 'berth test --source (library: resolveSpec+runPipeline)',
      ms: summarize(get('berth') as number[]),
      baseline: 'pipeline.dockerode',
    },
    {
      id: 'pipeline.dockerode',
      group: 'pipeline',
      label: 'docker run --rm via dockerode (create+attach+start+wait+remove)',
      ms: summarize(get('dockerode') as number[]),
    },
  ];
  const cli = get('cli');
  rows.push(
    cli
      ? { id: 'pipeline.cli', group: 'pipeline', label: 'docker run --rm --network none (CLI)', ms: summarize(cli), baseline: 'pipeline.dockerode' }
      : unavailable('pipeline.cli', 'pipeline', 'docker run --rm --network none (CLI)', 'no docker CLI on PATH', 'pipeline.dockerode'),
  );
  const c = cli ? summarize(cli).p50 : undefined;
  const b = rows[0]?.ms?.p50;
  if (c !== undefined && b !== undefined) rows[0] = { ...(rows[0] as Row), note: `${(b / c).toFixed(2)}x the docker CLI's p50` };
  return rows;
}

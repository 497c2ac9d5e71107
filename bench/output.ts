/**
 * Group 5: a large stdout through Session.exec (default options: the runner keeps 1 MiB of head
 * and tail and counts the rest) against the same command through a plain dockerode exec, with the
 * runner process's peak RSS for each. Each method runs in a child process of its own holding only
 * a Runner (bench/workers/output.ts): that process's RSS is what "the runner's RSS" means.
 */
import { runWorker } from './child.js';
import type { GroupContext } from './config.js';
import { benchSpec, removeTagged } from './fixture.js';
import type { Row } from './report.js';
import { summarize } from './stats.js';
import type { OutputInput, OutputResult, OutputRun } from './workers/output.js';

const GROUP_LABEL = 'dev.berth.bench-group';

export async function outputGroup(ctx: GroupContext): Promise<Row[]> {
  const { fx, cfg } = ctx;
  const mb = cfg.outputBytes / (1024 * 1024);
  ctx.log(`output: ${mb} MiB x ${cfg.outputRuns} runs per method, each method in a runner child process of its own ...`);
  const run = async (method: OutputInput['method']): Promise<OutputResult> => {
    const input: OutputInput = {
      repo: fx.repo,
      dataDir: fx.dataDir,
      labels: { ...fx.labels, [GROUP_LABEL]: 'output' },
      spec: benchSpec(),
      method,
      bytes: cfg.outputBytes,
      runs: cfg.outputRuns,
    };
    return runWorker<OutputResult>(fx, 'output', { ...input }, 5 * 60_000);
  };
  let berth: OutputResult;
  let raw: OutputResult;
  try {
    // The same workspace (and container) for both: the second worker resumes the first's session.
    berth = await run('berth');
    raw = await run('dockerode');
  } finally {
    await removeTagged(fx, GROUP_LABEL, 'output');
  }
  const res = { berth: berth.runs, dockerode: raw.runs, kernelPeak: berth.kernelPeak && raw.kernelPeak };
  const rate = (runs: readonly OutputRun[]) => {
    const best = summarize(runs.map((r) => r.ms)).p50;
    return (cfg.outputBytes / (1024 * 1024) / best) * 1000;
  };
  const how = res.kernelPeak ? 'kernel VmHWM' : 'sampled every 5 ms';
  const rssRow = (id: string, label: string, runs: readonly OutputRun[], baseline?: string): Row => {
    // Against the RSS before the FIRST run: freed memory the allocator keeps after a run raises
    // the next run's "before", so per-run growth would understate what streaming costs.
    const peak = Math.max(...runs.map((r) => r.peakRssMb));
    const before = (runs[0] as OutputRun).rssBeforeMb;
    return {
      id,
      group: 'output',
      label,
      value: {
        n: peak,
        unit: 'MiB',
        text: `peak ${peak.toFixed(0)} MiB RSS (+${(peak - before).toFixed(0)} over ${before.toFixed(0)} before streaming; ${how})`,
      },
      ...(baseline ? { baseline } : {}),
      extra: {
        peakRssMiB: peak,
        rssBeforeFirstRunMiB: before,
        growthMiB: peak - before,
        kernelPeak: res.kernelPeak,
        peaksMiB: runs.map((r) => r.peakRssMb.toFixed(1)).join(' '),
        beforesMiB: runs.map((r) => r.rssBeforeMb.toFixed(1)).join(' '),
      },
    };
  };
  return [
    {
      id: 'output.berth',
      group: 'output',
      label: `${mb} MiB stdout: Session.exec`,
      ms: summarize(res.berth.map((r) => r.ms)),
      value: { n: rate(res.berth), unit: 'MiB/s', text: `${rate(res.berth).toFixed(0)} MiB/s` },
      baseline: 'output.dockerode',
      extra: { bytes: cfg.outputBytes, throughputMiBs: rate(res.berth) },
    },
    {
      id: 'output.dockerode',
      group: 'output',
      label: `${mb} MiB stdout: dockerode exec (sh -c, same container)`,
      ms: summarize(res.dockerode.map((r) => r.ms)),
      value: { n: rate(res.dockerode), unit: 'MiB/s', text: `${rate(res.dockerode).toFixed(0)} MiB/s` },
      extra: { bytes: cfg.outputBytes, throughputMiBs: rate(res.dockerode) },
    },
    rssRow('output.rss.berth', `${mb} MiB stdout: runner peak RSS, Session.exec`, res.berth, 'output.rss.dockerode'),
    rssRow('output.rss.dockerode', `${mb} MiB stdout: runner peak RSS, dockerode exec`, res.dockerode),
  ];
}

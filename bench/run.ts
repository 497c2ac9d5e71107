/**
 * `npm run bench`: run the measurement groups against baselines taken in the same run, print one
 * table on stdout (progress goes to stderr) and write every number plus the machine to a JSON file.
 * Exit code: 0 when every group ran, 1 when one failed (its rows say why), 2 for bad flags,
 * 130 on Ctrl-C. Goals met or missed do not change the exit code: this measures, it does not test.
 */
import { isBerthError } from '../src/errors.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HELP, parseConfig, type BenchConfig, type GroupContext, type GroupName } from './config.js';
import { evaluateGoals, headerLines, renderTable, rowRatio, unavailable, type Environment, type Row } from './report.js';
import type { Fixture } from './fixture.js';
import { reasonOf } from './timing.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

// Loaded on first use: --help and flag errors answer without loading the runner and Docker code.
const RUNNERS: Record<GroupName, (ctx: GroupContext) => Promise<Row[]>> = {
  exec: async (ctx) => (await import('./exec.js')).execGroup(ctx),
  open: async (ctx) => (await import('./open.js')).openGroup(ctx),
  pipeline: async (ctx) => (await import('./pipeline.js')).pipelineGroup(ctx),
  deps: async (ctx) => (await import('./deps.js')).depsGroup(ctx),
  concurrency: async (ctx) => (await import('./concurrency.js')).concurrencyGroup(ctx),
  output: async (ctx) => (await import('./output.js')).outputGroup(ctx),
  idle: async (ctx) => (await import('./idle.js')).idleGroup(ctx),
};

/** Rows a group would have produced, for when it failed as a whole. */
const PLACEHOLDERS: Record<GroupName, [string, string][]> = {
  exec: ['true', 'echo'].flatMap((c) =>
    ['shell', 'mcp', 'mcp-pinned', 'fresh', 'dockerode', 'cli'].map((w): [string, string] => [`exec.${c}.${w}`, `exec ${c}: ${w}`]),
  ),
  open: [
    ['open.warm', 'open: warm pool'],
    ['open.cold', 'open: cold'],
    ['open.raw', 'open: raw create+start'],
    ['open.git', 'open: git workspace create'],
    ['open.git.prepared', 'open: git, claiming a prepared slot'],
  ],
  pipeline: [
    ['pipeline.berth', 'berth test'],
    ['pipeline.dockerode', 'docker run --rm (dockerode)'],
    ['pipeline.cli', 'docker run --rm (CLI)'],
  ],
  deps: [
    ['deps.test.cold', 'deps: berth test cold'],
    ['deps.test.warm', 'deps: berth test warm'],
    ['deps.docker', 'deps: docker run --rm + manual install'],
    ['deps.ws.cold', 'deps: ws create -> exec, first'],
    ['deps.ws.warm', 'deps: ws create -> exec, node_modules ready'],
  ],
  concurrency: [
    ['concurrency.latency', 'concurrency: latency'],
    ['concurrency.lost', 'concurrency: lost or misattributed outputs'],
  ],
  output: [
    ['output.berth', 'output: Session.exec'],
    ['output.dockerode', 'output: dockerode exec'],
    ['output.rss.berth', 'output: peak RSS, Session.exec'],
    ['output.rss.dockerode', 'output: peak RSS, dockerode'],
  ],
  idle: [
    ['idle.before', 'idle: RSS before'],
    ['idle.after', 'idle: RSS with idle sessions'],
  ],
};

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

async function main(): Promise<number> {
  let cfg: BenchConfig | undefined;
  try {
    cfg = parseConfig(process.argv.slice(2));
  } catch (err) {
    if (isBerthError(err, 'BAD_INPUT')) {
      process.stderr.write(`bench: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (!cfg) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }

  const { makeFixture } = await import('./fixture.js');
  const { environment, findDockerCli } = await import('./env.js');
  const { translateDockerError } = await import('../docker/client.js');
  // Assigned once below, after the signal handler that must see it is installed.
  // eslint-disable-next-line prefer-const
  let fx: Fixture | undefined;
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) {
      // A second Ctrl-C: clean up what we can right now and leave.
      void (fx?.cleanup() ?? Promise.resolve()).finally(() => process.exit(130));
      return;
    }
    interrupted = true;
    log(`${sig}: stopping after the current operation and removing this run's containers, worktrees and temp dir ...`);
    fx?.abort(`interrupted by ${sig}`);
  };
  // Installed before the fixture exists: a signal during its (synchronous) setup is handled once
  // setup returns, instead of killing the process with a temp dir left behind.
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  fx = makeFixture();
  if (interrupted) fx.abort('interrupted during setup');

  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const rows: Row[] = [];
  let failed = false;
  let env: Environment | undefined;
  try {
    const dockerCli = findDockerCli();
    env = await environment(fx.docker, dockerCli).catch((err: unknown) => {
      throw translateDockerError(err, 'bench: ask Docker for its version');
    });
    for (const line of headerLines(env, cfg.mode, startedAt)) log(line);
    const ctx: GroupContext = { fx, cfg, dockerCli, log };
    for (const g of cfg.groups) {
      if (fx.signal.aborted) break;
      const t0 = Date.now();
      try {
        rows.push(...(await RUNNERS[g](ctx)));
        log(`${g}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      } catch (err) {
        if (fx.signal.aborted) break;
        failed = true;
        log(`${g}: FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        for (const [id, label] of PLACEHOLDERS[g]) rows.push(unavailable(id, g, label, `group failed: ${reasonOf(err)}`));
      }
    }
  } finally {
    process.stderr.write('bench: cleaning up ...\n');
    await fx.cleanup({ settle: failed });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (interrupted) {
    log('interrupted; nothing written');
    return 130;
  }
  if (!env) throw new Error('no environment');
  const done: Environment = { ...env, loadAvgEnd: os.loadavg() };
  const durationMs = Date.now() - started;
  const goals = evaluateGoals(rows);
  process.stdout.write(`${headerLines(done, cfg.mode, startedAt, durationMs).join('\n')}\n\n${renderTable(rows, goals)}\n\ngoals:\n`);
  for (const g of goals) {
    const row = rows.find((r) => r.id === g.rowId);
    process.stdout.write(`  ${g.met === undefined ? 'n/a   ' : g.met ? 'MET   ' : 'MISSED'}  ${row?.label ?? g.rowId}: ${g.text} (measured ${g.actual})\n`);
  }

  const out = isAbsolute(cfg.out) ? cfg.out : resolve(ROOT, cfg.out);
  mkdirSync(dirname(out), { recursive: true });
  const json = {
    startedAt,
    durationMs,
    config: cfg,
    environment: done,
    rows: rows.map((r) => ({ ...r, ratio: rowRatio(r, rows) ?? null })),
    goals,
  };
  writeFileSync(out, `${JSON.stringify(json, null, 2)}\n`);
  log(`results written to ${isAbsolute(cfg.out) ? out : cfg.out}`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);

/**
 * Group 1: round trip of a trivial command, six ways, each as a ratio against a plain dockerode
 * exec in the same container:
 *   shell       Session.exec on the persistent shell (one socket write, no Docker API call)
 *   mcp         the `exec` tool of a `berth mcp` child over stdio in its DEFAULT mode (no
 *               --workspace: the agent names the workspace on every call), called by the SDK's own
 *               Client after tools/list, as an agent's host does; the issue's goal is judged here
 *   mcp-pinned  the same with `berth mcp --workspace X` (every tool acts on X)
 *   fresh       Session.exec with fresh: true (a one-shot docker exec with berth's wrapper)
 *   dockerode   create exec + start + demux + inspect, argv without a shell (the baseline)
 *   cli         `docker exec <id> <argv>`
 * Every result is checked (exit code 0, exact stdout); a wrong answer aborts the group. Each
 * command's rows start once the machine is idle (settleMachine): the first row used to overlap
 * the servers' warm-pool refill after their first workspace, and measured that, not the call.
 */
import { Runner } from '../runner/session/index.js';
import { dockerodeExec, runCli } from './baselines.js';
import type { GroupContext } from './config.js';
import { benchSpec } from './fixture.js';
import { mcpUnavailable, startMcp, type McpBench } from './mcp-client.js';
import { unavailable, type Row } from './report.js';
import { summarize } from './stats.js';
import { measureInterleaved, settleMachine, reasonOf, type Method } from './timing.js';

const COMMANDS = [
  { key: 'true', line: 'true', argv: ['true'], stdout: '' },
  { key: 'echo', line: 'echo hi', argv: ['echo', 'hi'], stdout: 'hi\n' },
] as const;

const LABELS = {
  shell: 'berth shell (Session.exec)',
  mcp: 'berth mcp exec tool, default mode (stdio, SDK client, workspace per call)',
  'mcp-pinned': 'berth mcp exec tool, pinned (--workspace)',
  fresh: 'berth fresh (Session.exec fresh: true)',
  dockerode: 'dockerode exec (create+start+demux+inspect)',
  cli: 'docker exec CLI',
} as const;
type Way = keyof typeof LABELS;

function check(what: string, got: { exitCode: number | null; stdout: string }, want: string): void {
  if (got.exitCode !== 0 || got.stdout !== want) {
    throw new Error(`${what}: expected exit 0 and stdout ${JSON.stringify(want)}, got exit ${got.exitCode} and ${JSON.stringify(got.stdout.slice(0, 200))}`);
  }
}

export async function execGroup(ctx: GroupContext): Promise<Row[]> {
  const { fx, cfg } = ctx;
  const runner = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, spec: benchSpec() });
  const mcps: McpBench[] = [];
  let mcpReason = mcpUnavailable();
  try {
    const session = await runner.open('bench-exec');
    const id = session.containerId;
    const user = session.user;
    // --quick measures the default mode only: a second server child costs seconds to start.
    const modes = cfg.mode === 'quick' ? (['default'] as const) : (['default', 'pinned'] as const);
    for (const mode of mcpReason ? [] : modes) {
      let mcp: McpBench | undefined;
      try {
        ctx.log(`exec: starting berth mcp (stdio, ${mode} mode) ...`);
        mcp = await startMcp(fx, `bench-mcp-${mode}`, { mode });
        // The first call opens the workspace's container (create + start): not measured.
        check(`berth mcp first exec (${mode} mode)`, await mcp.exec('echo hi'), 'hi\n');
        mcps.push(mcp);
      } catch (err) {
        mcpReason = `berth mcp (${mode} mode) failed: ${reasonOf(err)}`;
        await mcp?.close().catch(() => undefined);
      }
    }
    const cliReason = ctx.dockerCli ? undefined : 'no docker CLI on PATH';
    const slow = cfg.execSlowIterations;

    const rows: Row[] = [];
    for (const c of COMMANDS) {
      const methods: Method[] = [
        { key: 'shell', run: async () => check('Session.exec', await session.exec(c.line), c.stdout) },
        ...mcps.map((m) => ({
          key: m.mode === 'default' ? 'mcp' : 'mcp-pinned',
          run: async () => check(`berth mcp exec (${m.mode} mode)`, await m.exec(c.line), c.stdout),
        })),
        { key: 'fresh', iterations: slow, run: async () => check('Session.exec fresh', await session.exec(c.line, { fresh: true }), c.stdout) },
        { key: 'dockerode', iterations: slow, run: async () => check('dockerode exec', await dockerodeExec(fx.docker, id, c.argv, { user }), c.stdout) },
        ...(ctx.dockerCli
          ? [
              {
                key: 'cli',
                iterations: slow,
                run: async () => check('docker exec', await runCli(ctx.dockerCli as string, ['exec', '-u', user, id, ...c.argv]), c.stdout),
              },
            ]
          : []),
      ];
      // Steady state: the servers' and this runner's background work after their first workspace
      // (warm-pool refill) and Docker's cleanup must not be timed as per-call cost.
      const busy = await settleMachine({ signal: fx.signal, timeoutMs: cfg.mode === 'quick' ? 3000 : 15_000 });
      if (busy !== undefined && busy > 0.2) ctx.log(`exec: the machine is still ${(busy * 100).toFixed(0)}% busy; measuring anyway`);
      ctx.log(
        `exec \`${c.line}\`: ${methods.map((m) => `${m.key} x ${m.iterations ?? cfg.execIterations}`).join(', ')} (after ${cfg.execWarmup} warm-up each) ...`,
      );
      let lastPct = 0;
      const samples = await measureInterleaved(methods, {
        warmup: cfg.execWarmup,
        iterations: cfg.execIterations,
        signal: fx.signal,
        onRound: (done, total) => {
          const pct = Math.floor((done / total) * 4) * 25;
          if (pct > lastPct && pct < 100) ctx.log(`  ${pct}%`);
          lastPct = pct;
        },
      });
      for (const way of Object.keys(LABELS) as Way[]) {
        const rowId = `exec.${c.key}.${way}`;
        const label = `exec \`${c.line}\`: ${LABELS[way]}`;
        const baseline = way === 'dockerode' ? undefined : `exec.${c.key}.dockerode`;
        const s = samples.get(way);
        if (!s) {
          rows.push(
            unavailable(
              rowId,
              'exec',
              label,
              way === 'mcp-pinned' && cfg.mode === 'quick'
                ? 'full run only'
                : way.startsWith('mcp')
                  ? (mcpReason ?? 'not measured')
                  : (cliReason ?? 'not measured'),
              baseline,
            ),
          );
          continue;
        }
        rows.push({ id: rowId, group: 'exec', label, ms: summarize(s), ...(baseline ? { baseline } : {}) });
      }
    }
    return rows;
  } finally {
    await Promise.all(mcps.map((m) => m.close().catch(() => undefined)));
    await runner.close();
  }
}

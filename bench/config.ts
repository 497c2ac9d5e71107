/** Command-line flags of `npm run bench` and the iteration counts of the full and --quick runs. */
import { BerthError } from '../src/errors.js';
import { parseArgs } from 'node:util';
import type { Fixture } from './fixture.js';

export const GROUPS = ['exec', 'open', 'pipeline', 'deps', 'concurrency', 'output', 'idle'] as const;
export type GroupName = (typeof GROUPS)[number];

export const MAX_SESSIONS = 50;

export interface BenchConfig {
  readonly mode: 'full' | 'quick';
  /** Timed exec round trips per berth shell / MCP method and command (after warm-up). */
  readonly execIterations: number;
  /** The same for the methods that create a Docker exec each time (fresh, dockerode, CLI). */
  readonly execSlowIterations: number;
  readonly execWarmup: number;
  /** Timed opens per method (cold, raw create+start, warm). */
  readonly opens: number;
  /** Untimed runs per method before the open and pipeline groups measure, and untimed concurrency rounds (0 in --quick). */
  readonly slowWarmup: number;
  /** Timed pipeline runs per method. */
  readonly pipelines: number;
  readonly sessions: number;
  readonly commands: number;
  /** Concurrency rounds (N sessions x M commands each, the same sessions); p99 is over all of them. */
  readonly rounds: number;
  readonly outputBytes: number;
  readonly outputRuns: number;
  readonly idleSessions: number;
  readonly groups: readonly GroupName[];
  /** Where the JSON results go (relative to the berth checkout unless absolute). */
  readonly out: string;
}

/** What every group gets. */
export interface GroupContext {
  readonly fx: Fixture;
  readonly cfg: BenchConfig;
  /** The docker CLI's path when it is on PATH. */
  readonly dockerCli: string | null;
  /** Progress to stderr (stdout carries only the table). */
  log(line: string): void;
}

export const HELP = `Usage: npm run bench -- [options]

Measures berth against baselines taken in the same run, prints one table on stdout and writes
the numbers (plus the machine) to a JSON file. Timing goals are judged here, never in tests.

Groups:
  exec         round trip of \`true\` and \`echo hi\`: berth shell, berth mcp (stdio; default mode,
               where the agent names the workspace on each call, and pinned --workspace), berth fresh,
               dockerode exec (the baseline), docker exec CLI
  open         session open of a new workspace: warm pool, cold, raw dockerode create+start
  pipeline     berth test on a tiny source (library path) vs docker run --rm (dockerode and CLI)
  deps         ready dependencies on the corpus's colors (real npm dependencies, BERTH_CORPUS_DIR):
               berth test cold vs warm, ws create -> first exec with node_modules ready, vs
               docker run --rm with a manual npm ci (skipped in --quick)
  concurrency  N sessions x M commands in one runner child process (compiled, as \`berth\` runs),
               each echoing a unique token that is checked; R rounds of it on the same sessions
               after one untimed round (none in --quick), latency percentiles over all of them
               (one round's p99 swings by 2x run to run on 2 cores: a single stall sets it)
  output       a large stdout through Session.exec vs dockerode, with the runner's peak RSS
  idle         runner RSS with K idle sessions open

Options:
  --quick               small counts, under a minute: 100 shell/MCP execs (10 for the methods that
                        create a Docker exec each time), 2 opens and 2 pipelines per method, 5x10
                        concurrency, 5 MiB x 2 output runs, 5 idle sessions; every row still prints
  --iterations <n>      timed exec round trips per method and command (full: 500)
  --opens <n>           timed opens per method (full: 15)
  --pipelines <n>       timed pipeline runs per method (full: 15)
  --sessions <n>        concurrency: sessions, at most ${MAX_SESSIONS} (full: ${MAX_SESSIONS})
  --commands <n>        concurrency: commands per session (full: 100)
  --rounds <n>          concurrency: rounds of sessions x commands (full: 3; --quick: 1)
  --output-mb <n>       output: MiB written to stdout per run (full: 50)
  --output-runs <n>     output: runs per method (full: 3)
  --idle <n>            idle: sessions to open, at most ${MAX_SESSIONS} (full: 50)
  --only <groups>       comma-separated subset of: ${GROUPS.join(', ')}
  --out <file>          JSON results (default bench/results/latest.json; quick.json with --quick)
  -h, --help            this help

Examples:
  npm run bench                          the full run (under 10 minutes on 2 cores)
  npm run bench -- --quick               a smoke run of every row
  npm run bench -- --only exec,open --iterations 1000
  npm run bench -- --sessions 50 --commands 200 --only concurrency

Everything runs in a temp git repository and a temp BERTH_DATA_DIR with the busybox image; every
container, volume, worktree and temp dir is removed at the end, on failure and on Ctrl-C.`;

/** A bad bench flag (BAD_INPUT); run.ts prints it and exits 2. */
export function usageError(message: string): BerthError {
  return new BerthError('BAD_INPUT', message);
}

function int(name: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) throw usageError(`--${name} ${JSON.stringify(raw)} is not a whole number: pass e.g. --${name} ${min}`);
  const n = Number(raw);
  if (n < min || n > max) throw usageError(`--${name} ${n} is out of range: use ${min}..${max}`);
  return n;
}

/** Parse argv; returns undefined when --help was asked for. Throws UsageError on bad flags. */
export function parseConfig(argv: readonly string[]): BenchConfig | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: false,
      options: {
        quick: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        iterations: { type: 'string' },
        opens: { type: 'string' },
        pipelines: { type: 'string' },
        sessions: { type: 'string' },
        commands: { type: 'string' },
        rounds: { type: 'string' },
        'output-mb': { type: 'string' },
        'output-runs': { type: 'string' },
        idle: { type: 'string' },
        only: { type: 'string' },
        out: { type: 'string' },
      },
    });
  } catch (err) {
    throw usageError(`${(err as Error).message} (see --help)`);
  }
  const v = parsed.values;
  if (v.help) return undefined;
  const quick = Boolean(v.quick);
  let groups: GroupName[] = [...GROUPS];
  if (v.only !== undefined) {
    const want = v.only
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = want.filter((g) => !(GROUPS as readonly string[]).includes(g));
    if (bad.length || want.length === 0)
      throw usageError(`--only ${JSON.stringify(v.only)}: unknown group ${JSON.stringify(bad[0] ?? '')}; use ${GROUPS.join(', ')}`);
    groups = GROUPS.filter((g) => want.includes(g));
  }
  const mb = int('output-mb', v['output-mb'], 1, 1024);
  const iterations = int('iterations', v.iterations, 1, 100_000);
  return {
    mode: quick ? 'quick' : 'full',
    // --quick: a smoke run of every row in under a minute on 2 quiet cores (~60% of it is spent
    // creating containers and Docker execs, so those counts are the ones cut hardest).
    execIterations: iterations ?? (quick ? 100 : 500),
    execSlowIterations: iterations ?? (quick ? 10 : 500),
    execWarmup: quick ? 3 : 30,
    opens: int('opens', v.opens, 1, 200) ?? (quick ? 2 : 15),
    slowWarmup: quick ? 0 : 1,
    pipelines: int('pipelines', v.pipelines, 1, 200) ?? (quick ? 2 : 15),
    sessions: int('sessions', v.sessions, 1, MAX_SESSIONS) ?? (quick ? 5 : MAX_SESSIONS),
    commands: int('commands', v.commands, 1, 10_000) ?? (quick ? 10 : 100),
    rounds: int('rounds', v.rounds, 1, 20) ?? (quick ? 1 : 3),
    outputBytes: (mb ?? (quick ? 5 : 50)) * 1024 * 1024,
    outputRuns: int('output-runs', v['output-runs'], 1, 50) ?? (quick ? 2 : 3),
    idleSessions: int('idle', v.idle, 1, MAX_SESSIONS) ?? (quick ? 5 : 50),
    groups,
    out: v.out ?? (quick ? 'bench/results/quick.json' : 'bench/results/latest.json'),
  };
}

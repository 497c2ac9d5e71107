/**
 * `npx tsx bench/explain.ts`: where the time of the bench's missed goals goes. Not part of
 * `npm run bench` (it measures pieces, not the product); run it when working on one of them.
 *
 *   shell     the persistent shell's round trip, piece by piece: the Docker attach stream alone,
 *             a plain `sh -s` echo over it, then each piece of work berth's shell protocol does
 *             per command, run alone in that plain shell, then Session.exec itself
 *   open      a warm-pool open of a new workspace, call by call (workspace and Docker calls, each
 *             git process, each request to the batch reader)
 *   pipeline  `berth test` on the tiny fixture, Docker call by Docker call
 *
 * Same temp repository, busybox spec and cleanup as the bench.
 */
import { performance } from 'node:perf_hooks';
import { Writable, type Duplex } from 'node:stream';
import { docker as sharedDocker, type Docker } from '../docker/index.js';
import { Runner } from '../runner/session/index.js';
import { GitRepo } from '../src/git/index.js';
import { LocalSourceReader } from '../src/source-reader.js';
import { resolveSpec } from '../src/project/index.js';
import { plan, repoKey, runPlanLocal } from '../pipelines/index.js';
import { benchSpec, makeFixture, type Fixture } from './fixture.js';
import { summarize } from './stats.js';

const HELP = `Usage: npx tsx bench/explain.ts [shell|open|pipeline ...]

Breaks the bench's slow paths into their parts (default: all three). See the header of this file.`;

interface Call {
  readonly at: number;
  readonly ms: number;
  readonly what: string;
}

/**
 * A dockerode client whose every promise-returning method records its duration, and whose
 * returned dockerode objects (containers, execs, images) are wrapped the same way.
 */
function timedDocker(client: Docker, calls: Call[], t0: () => number): Docker {
  const wrap = <T extends object>(obj: T, tag: string): T =>
    new Proxy(obj, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function' || prop === 'constructor' || typeof prop === 'symbol') return v;
        return (...args: unknown[]) => {
          const start = performance.now();
          const out = (v as (...a: unknown[]) => unknown).apply(target, args);
          const name = `${tag}.${prop}`;
          if (out instanceof Promise) {
            return out.then((res: unknown) => {
              calls.push({ at: start - t0(), ms: performance.now() - start, what: name });
              return isEntity(res) ? wrap(res, entityTag(res)) : res;
            });
          }
          return isEntity(out) ? wrap(out, entityTag(out)) : out;
        };
      },
    });
  return wrap(client, 'docker');
}

function isEntity(x: unknown): x is object {
  return typeof x === 'object' && x !== null && 'modem' in x;
}

function entityTag(x: object): string {
  return x.constructor?.name.toLowerCase() || 'object';
}

/** Calls in start order, with the time spent outside any recorded call shown as gaps. */
function printCalls(title: string, calls: readonly Call[], total: number): void {
  process.stdout.write(`\n${title}: ${total.toFixed(1)} ms\n`);
  let end = 0;
  const line = (at: number, ms: number, what: string) =>
    process.stdout.write(`  at ${at.toFixed(0).padStart(5)} ms  ${ms.toFixed(1).padStart(7)} ms  ${what}\n`);
  for (const c of [...calls].sort((a, b) => a.at - b.at)) {
    if (c.at - end > 5) line(end, c.at - end, '(between calls: an exec running and streaming its output, or local work)');
    line(c.at, c.ms, c.what);
    end = Math.max(end, c.at + c.ms);
  }
  if (total - end > 5) line(end, total - end, '(after the last call)');
}

/** A hijacked exec whose stdout is watched for an expected string after each write. */
async function attach(client: Docker, id: string, user: string, cmd: string[]): Promise<{ rt(line: string, want: string): Promise<void>; close(): void }> {
  const exec = await client.getContainer(id).exec({ Cmd: cmd, AttachStdin: true, AttachStdout: true, AttachStderr: true, User: user });
  const stream = (await exec.start({ hijack: true, stdin: true })) as Duplex;
  let buf = '';
  let want = '';
  let wake: (() => void) | undefined;
  const out = new Writable({
    write(chunk: Buffer, _e, cb) {
      buf += chunk.toString('utf8');
      if (wake && buf.includes(want)) {
        const w = wake;
        wake = undefined;
        w();
      }
      cb();
    },
  });
  client.modem.demuxStream(stream, out, new Writable({ write: (_c, _e, cb) => cb() }));
  return {
    rt(line, w) {
      buf = '';
      want = w;
      const p = new Promise<void>((r) => (wake = r));
      stream.write(line);
      return p;
    },
    close: () => stream.end(),
  };
}

async function p50Of(n: number, fn: () => Promise<unknown>): Promise<string> {
  for (let i = 0; i < 30; i++) await fn();
  const ts: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    ts.push(performance.now() - t);
  }
  const s = summarize(ts);
  return `p50 ${s.p50.toFixed(3).padStart(7)} ms   p90 ${s.p90.toFixed(3).padStart(7)} ms`;
}

async function explainShell(fx: Fixture): Promise<void> {
  const runner = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, spec: benchSpec() });
  try {
    const s = await runner.open('explain-shell');
    await s.exec('true');
    const client = sharedDocker();
    const cat = await attach(client, s.containerId, s.user, ['cat']);
    const sh = await attach(client, s.containerId, s.user, ['/bin/sh', '-s']);
    // The same FIFO + `cat` relay the protocol uses for a command's stdout.
    await sh.rt('d=$(mktemp -d); mkfifo "$d/f"; exec 9<>"$d/f"; exec 5<"$d/f" 6>"$d/f"; exec 9>&-; cat <&5 & echo ready\n', 'ready\n');
    const pieces: [string, string][] = [
      ['plain sh: echo (the floor for any shell protocol)', 'echo m\n'],
      ['+ scan /proc/*/fd for FIFO holders (__b_busy)', 'for f in /proc/[0-9]*/fd/*; do [ "$f" -ef /proc/$$/fd/6 ] && break; done; echo m\n'],
      ['+ read /proc/uptime (start tick)', 'read -r a b </proc/uptime; echo m\n'],
      ['+ export -p > state file (__b_save)', 'export -p >"${TMPDIR:-/tmp}/berth-explain-env"; echo m\n'],
      ['+ eval with redirections (the command itself)', "for i in 1; do command eval 'true' </dev/null >&6 2>&1 5<&- 6>&-; done; echo m\n"],
      ['+ output through the FIFO and cat relay', 'echo m >&6\n'],
    ];
    const n = 300;
    process.stdout.write(`\nshell round trip pieces (${n} runs each, after 30 warm-up; each piece alone, on top of the plain echo):\n`);
    process.stdout.write(`  ${'docker attach stream: cat echo'.padEnd(52)} ${await p50Of(n, () => cat.rt('x\n', 'x\n'))}\n`);
    for (const [label, line] of pieces) process.stdout.write(`  ${label.padEnd(52)} ${await p50Of(n, () => sh.rt(line, 'm\n'))}\n`);
    process.stdout.write(`  ${'berth Session.exec `true` (all of it)'.padEnd(52)} ${await p50Of(n, () => s.exec('true'))}\n`);
    cat.close();
    sh.close();
  } finally {
    await runner.close();
  }
}

async function explainOpen(fx: Fixture): Promise<void> {
  const calls: Call[] = [];
  let t0 = 0;
  const client = timedDocker(sharedDocker(), calls, () => t0);
  const runner = await Runner.create({
    repo: fx.repo,
    dataDir: fx.dataDir,
    labels: fx.labels,
    spec: benchSpec(),
    pool: { size: 1, autoRefill: false },
    docker: client,
  });
  const run = GitRepo.prototype.run;
  const runDirect = GitRepo.prototype.runDirect;
  const batch = GitRepo.prototype.batch;
  try {
    const ws = runner.workspaces;
    // Every host git process (the hardened base's one entry point), inside find/create.
    const label = (args: readonly string[], how: string) =>
      `  git ${args
        .filter((a) => !a.includes('\n'))
        .slice(0, 3)
        .join(' ')
        .slice(0, 60)}${how}`;
    GitRepo.prototype.run = function (this: GitRepo, args, opts) {
      const start = performance.now();
      return run.call(this, args, opts).finally(() => calls.push({ at: start - t0, ms: performance.now() - start, what: label(args, '') }));
    };
    // The claim's writes spawn git without simple-git (run.ts gitDirect).
    GitRepo.prototype.runDirect = function (this: GitRepo, args, opts) {
      const start = performance.now();
      return runDirect.call(this, args, opts).finally(() => calls.push({ at: start - t0, ms: performance.now() - start, what: label(args, '  (direct)') }));
    };
    // Reads served by the long-lived cat-file (src/git/batch.ts): a pipe round trip, no process.
    GitRepo.prototype.batch = function (this: GitRepo, names, signal) {
      const start = performance.now();
      const what = `  git cat-file --batch request (${names.length} name${names.length === 1 ? '' : 's'}, no new process)`;
      return batch.call(this, names, signal).finally(() => calls.push({ at: start - t0, ms: performance.now() - start, what }));
    };
    for (const m of ['find', 'create'] as const) {
      const orig = ws[m].bind(ws) as (...a: unknown[]) => Promise<unknown>;
      (ws as unknown as Record<string, unknown>)[m] = async (...a: unknown[]) => {
        const start = performance.now();
        try {
          return await orig(...a);
        } finally {
          calls.push({ at: start - t0, ms: performance.now() - start, what: `workspaces.${m} (git)` });
        }
      };
    }
    for (let i = 0; i < 3; i++) {
      await runner.warmPool({ size: 1 });
      calls.length = 0;
      t0 = performance.now();
      const s = await runner.open(`explain-open-${i}`);
      const total = performance.now() - t0;
      if (i > 0) printCalls(`warm open ${i} (fromPool=${s.created.fromPool})`, calls, total);
      await runner.delete(`explain-open-${i}`);
    }
  } finally {
    GitRepo.prototype.run = run;
    GitRepo.prototype.runDirect = runDirect;
    GitRepo.prototype.batch = batch;
    await runner.close();
  }
}

async function explainPipeline(fx: Fixture): Promise<void> {
  const calls: Call[] = [];
  let t0 = 0;
  const client = timedDocker(sharedDocker(), calls, () => t0);
  const source = fx.pipelineSource;
  for (let i = 0; i < 3; i++) {
    calls.length = 0;
    t0 = performance.now();
    const resolved = await resolveSpec(new LocalSourceReader(source));
    const p = plan(resolved.spec, 'test', { repo: repoKey(source), defaultUser: `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}` });
    const r = await runPlanLocal(p, { source, labels: fx.labels, docker: client });
    const total = performance.now() - t0;
    if (!r.ok) throw new Error(`berth test failed: ${r.outcome}`);
    if (i > 0) printCalls(`berth test ${i}`, calls, total);
  }
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.includes('-h') || args.includes('--help')) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const parts = { shell: explainShell, open: explainOpen, pipeline: explainPipeline } as const;
  const bad = args.filter((a) => !(a in parts));
  if (bad.length) {
    process.stderr.write(`explain: unknown part ${JSON.stringify(bad[0])}; use ${Object.keys(parts).join(', ')}\n`);
    return 2;
  }
  const fx = makeFixture();
  const onSignal = () => fx.abort('interrupted');
  process.once('SIGINT', onSignal);
  try {
    for (const k of (args.length ? args : Object.keys(parts)) as (keyof typeof parts)[]) {
      if (fx.signal.aborted) break;
      await parts[k](fx);
    }
  } finally {
    await fx.cleanup();
  }
  return fx.signal.aborted ? 130 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`explain: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);

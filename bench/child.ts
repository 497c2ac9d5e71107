/**
 * Memory is measured in a child process that holds only a Runner (bench/workers/*.ts), not in the
 * bench process: by then the bench has run thousands of execs, an MCP client and a table's worth
 * of samples, and its heap says nothing about what a runner needs. The worker gets its settings as
 * one JSON argument and answers with one JSON line on stdout; its progress goes to stderr.
 * Workers run compiled from dist/ with bin/berth.js's node flags, as the `berth` command runs the
 * runner (dist/ is built first when stale); 'source' mode (tsx) remains for debugging a worker.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Fixture } from './fixture.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface WorkerInput {
  readonly repo: string;
  readonly dataDir: string;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * How the worker runs: `source` through tsx (like the bench itself), or `compiled` from dist/
 * (scripts/build.mjs), the way bin/berth.js runs the runner for users: a memory figure must not
 * include tsx's TypeScript transform and source maps, which `berth` does not carry.
 */
export type WorkerMode = 'source' | 'compiled';

let compiled: Promise<void> | undefined;

/** Build dist/ when it does not match the sources (a no-op check otherwise), once per bench run. */
export function ensureCompiled(log: (line: string) => void): Promise<void> {
  compiled ??= buildIfStale(log);
  return compiled;
}

async function buildIfStale(log: (line: string) => void): Promise<void> {
  const script = fileURLToPath(new URL('../scripts/build.mjs', import.meta.url));
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [script, '--if-stale'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => {
      for (const line of err.trim().split('\n').filter(Boolean)) log(line);
      if (code === 0) resolve();
      else reject(new Error(`npm run build failed (exit ${code}): the compiled worker cannot run; see the tsc errors above`));
    });
  });
}

/**
 * The node flags `berth` starts with: line 2 of bin/berth.js (`exec node <flags> "$0" "$@"`), read
 * here so a compiled worker runs under the same V8 settings as the command users run.
 */
export function runnerNodeFlags(): string[] {
  const bin = readFileSync(fileURLToPath(new URL('../bin/berth.js', import.meta.url)), 'utf8');
  const m = /^":" \/\/; exec node (.*) "\$0" "\$@"$/m.exec(bin);
  if (!m?.[1]) throw new Error('bin/berth.js: line 2 is not `":" //; exec node <flags> "$0" "$@"`: update runnerNodeFlags() with it');
  return m[1].split(' ').filter(Boolean);
}

export async function runWorker<T>(
  fx: Fixture,
  name: 'output' | 'idle' | 'concurrency',
  input: WorkerInput & Record<string, unknown>,
  timeoutMs: number,
  mode: WorkerMode = 'compiled',
): Promise<T> {
  if (mode === 'compiled') await ensureCompiled((line) => process.stderr.write(`bench: ${line}\n`));
  const script = fileURLToPath(new URL(mode === 'compiled' ? `../dist/bench/workers/${name}.js` : `./workers/${name}.ts`, import.meta.url));
  // cwd = the berth checkout, so `--import tsx` resolves berth's own tsx.
  const args = mode === 'compiled' ? [...runnerNodeFlags(), '--expose-gc', script] : ['--expose-gc', '--import', 'tsx', script];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...args, JSON.stringify(input)], {
      cwd: ROOT,
      env: fx.childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const untrack = child.pid === undefined ? () => undefined : fx.track(child.pid);
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (err = (err + b.toString('utf8')).slice(-8000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const onAbort = () => child.kill('SIGKILL');
    fx.signal.addEventListener('abort', onAbort, { once: true });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      untrack();
      fx.signal.removeEventListener('abort', onAbort);
      const last = out.trim().split('\n').pop() ?? '';
      if (code === 0 && last.startsWith('{')) {
        try {
          return resolve(JSON.parse(last) as T);
        } catch {
          // fall through to the error below
        }
      }
      const why = err.trim().split('\n').slice(-3).join(' / ') || `exit ${code ?? signal}`;
      reject(new Error(`${name} worker failed (exit ${code ?? signal}): ${why}`));
    });
  });
}

/** Worker side: the settings passed by runWorker. */
export function workerInput<T extends WorkerInput>(): T {
  const raw = process.argv[2];
  if (!raw) throw new Error('usage: run by bench/run.ts (missing JSON settings argument)');
  return JSON.parse(raw) as T;
}

/** Worker side: answer with one JSON line and exit. */
export function workerDone(result: unknown): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** Worker side: run `main`, exit 0 when it resolves, or print the error and exit 1. */
export function runWorkerMain(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}

const MB = 1024 * 1024;

export function rssMb(): number {
  return process.memoryUsage().rss / MB;
}

/** Reset the kernel's peak-RSS mark (VmHWM) of this process; false where /proc can't do it. */
export function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** The kernel's peak RSS of this process since the last reset (Linux), in MiB. */
export function peakRssMb(): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Collect garbage until the heap settles, so RSS readings compare like with like. */
export async function settle(ms = 200): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, ms / 3));
  }
}

/**
 * Pre-forked git launchers: a few tiny `/bin/sh` processes per repository, started ahead of time,
 * each waiting on stdin for ONE command line, which it `exec`s as git (same pid, same pipes), so
 * git's exit code, stdout and stderr are the launcher's.
 *
 * Why: `child_process.spawn` forks this process, and the fork blocks the event loop for as long
 * as copying its page tables takes, which grows with its memory (measured on the bench machine:
 * 4.8 ms at 47 MB RSS, 10 ms at 150 MB, 25 ms at 370 MB, per spawn). A warm claim runs three git
 * commands back to back (root commit, then branch and note), so in a long-lived runner most of
 * its time was forks. Launchers are forked when a pool slot is prepared (background work, see
 * src/workspace/prepared.ts), never on a command's path: a command finding none spawns git itself.
 * The sh a launcher runs is small, so its exec of git costs little.
 *
 * Hardening: the launcher runs with the environment of run.ts's `hardenedEnv` (minus the
 * variables a shell itself reads: ENV, BASH_ENV, ...), in the directory the command asks for
 * (a stock is per directory and global config file), and the command line it reads is the one
 * `spawnGit` would use (`--no-pager`, every `-c` of SAFE_CONFIG, then the arguments), each word
 * single-quoted (a `'` inside spelled `'\''`), so `eval` sees exactly those words. A word with a
 * newline or NUL cannot travel on the one line: such commands spawn git directly instead.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

/** Launchers kept ready per (directory, global config); a claim takes three. */
const STOCK = 3;
/**
 * Unused launchers end after this long. Long, because a pool slot is prepared well before an
 * agent asks for a workspace; three idle dash processes cost under 2 MB each, and end with this
 * process anyway (their stdin closes).
 */
const IDLE_MS = 30 * 60_000;

/** Reads one line, then becomes git with those words (see the header). */
const SCRIPT = 'IFS= read -r line || exit 125; eval "exec git $line"';
/** Variables a shell reads at start-up or that change how it parses: never passed to the launcher. */
const SHELL_ENV = ['ENV', 'BASH_ENV', 'IFS', 'CDPATH', 'PS4', 'SHELLOPTS', 'BASHOPTS', 'POSIXLY_CORRECT'];

interface Stock {
  readonly cwd: string;
  readonly env: Record<string, string>;
  readonly ready: ChildProcessWithoutNullStreams[];
  idle: NodeJS.Timeout | undefined;
}

const stocks = new Map<string, Stock>();

function unrefAll(p: ChildProcessWithoutNullStreams): void {
  p.unref();
  for (const s of [p.stdin, p.stdout, p.stderr]) (s as unknown as { unref?: () => void }).unref?.();
}

/** Makes a taken launcher keep Node running until it exits, as a spawned process would. */
function refAll(p: ChildProcessWithoutNullStreams): void {
  p.ref();
  for (const s of [p.stdin, p.stdout, p.stderr]) (s as unknown as { ref?: () => void }).ref?.();
}

function quote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

function spawnLauncher(s: Stock): void {
  const p = spawn('/bin/sh', ['-c', SCRIPT], { cwd: s.cwd, env: s.env, stdio: ['pipe', 'pipe', 'pipe'] });
  unrefAll(p);
  const drop = () => {
    const i = s.ready.indexOf(p);
    if (i >= 0) s.ready.splice(i, 1);
  };
  p.on('error', drop);
  p.on('exit', drop);
  p.stdin.on('error', () => undefined);
  s.ready.push(p);
}

function fill(s: Stock): void {
  while (s.ready.length < STOCK) spawnLauncher(s);
  if (s.idle) clearTimeout(s.idle);
  s.idle = setTimeout(() => closeLaunchers(s.cwd), IDLE_MS);
  s.idle.unref();
}

function keyOf(cwd: string, env: Readonly<Record<string, string>>): string {
  return `${cwd}\0${env.GIT_CONFIG_GLOBAL ?? ''}\0${env.HOME ?? ''}`;
}

function stockFor(cwd: string, env: Readonly<Record<string, string>>): Stock {
  const key = keyOf(cwd, env);
  let s = stocks.get(key);
  if (!s) {
    const clean = { ...env };
    for (const k of SHELL_ENV) delete clean[k];
    s = { cwd, env: clean, ready: [], idle: undefined };
    stocks.set(key, s);
  }
  return s;
}

/**
 * Start launchers for git commands in `cwd` now: for callers doing background work that a later
 * command benefits from (a pool slot's preparation). `env` is the hardened environment (run.ts
 * hardenedEnv).
 */
export function primeLaunchers(cwd: string, env: Readonly<Record<string, string>>): void {
  fill(stockFor(cwd, env));
}

/**
 * A running git with `argv` (the full argument list after `git`) in `cwd`, from a launcher
 * started earlier, or undefined when none is ready (or argv cannot travel on one line): the
 * caller then spawns git itself.
 */
export function launchGit(argv: readonly string[], cwd: string, env: Readonly<Record<string, string>>): ChildProcessWithoutNullStreams | undefined {
  const s = stocks.get(keyOf(cwd, env));
  if (!s) return undefined;
  if (argv.some((a) => /[\n\0]/.test(a))) return undefined;
  for (;;) {
    const p = s.ready.shift();
    if (!p) return undefined;
    if (p.exitCode !== null || p.signalCode !== null || !p.stdin.writable) continue;
    refAll(p);
    p.stdin.write(`${argv.map(quote).join(' ')}\n`);
    return p;
  }
}

/** Ends the launchers of `cwd` (all global configs). */
export function closeLaunchers(cwd: string): void {
  for (const [key, s] of stocks) {
    if (s.cwd !== cwd) continue;
    stocks.delete(key);
    if (s.idle) clearTimeout(s.idle);
    for (const p of s.ready.splice(0)) p.kill('SIGKILL');
  }
}

/** Launchers ready in `cwd` (tests and diagnostics). */
export function readyLaunchers(cwd: string): number {
  let n = 0;
  for (const s of stocks.values()) if (s.cwd === cwd) n += s.ready.length;
  return n;
}

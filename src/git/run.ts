/**
 * THE hardened base for every host git invocation. Nothing in berth spawns git except `runGit()`
 * below (through simple-git), `spawnGit()` (the long-lived `cat-file --batch` of batch.ts) and
 * `gitDirect()` (a warm claim's short writes, spawned directly or exec'd by a launcher forked
 * ahead of time, launch.ts), all with the same settings and environment; scripts/check-imports.mjs
 * keeps git spawns in src/git/.
 *
 * Why: a worktree is agent-written content, and an agent can plant configuration or attributes
 * that make git run commands (hooks, fsmonitor, filters, textconv, external diff, ssh, credential
 * helpers, pagers) or a nested repository whose own config does. So every call runs with:
 *
 *  - no hooks (`core.hooksPath=/dev/null`), no fsmonitor, no untracked cache;
 *  - no external diff or textconv: `diff.external=` (empty) here, and callers of diff/log/show pass
 *    `--no-ext-diff --no-textconv`;
 *  - submodules ignored: `diff.ignoreSubmodules=all`, `status.submoduleSummary=false`,
 *    `submodule.recurse=false`, `fetch.recurseSubmodules=false`; status/diff callers also pass
 *    `--ignore-submodules=all`, so git never runs a command inside a nested repository;
 *  - no global attributes (`core.attributesFile=/dev/null`, `GIT_ATTR_NOSYSTEM=1`). Filter drivers
 *    cannot be enumerated for `-c`, so the real protection is that host git never reads agent files
 *    for content it stores or prints: worktree content reaches git only through snapshot.ts, which
 *    reads each file fd-relative (src/fs/tree.ts) and writes blobs with `hash-object --no-filters`;
 *  - `protocol.allow=never` (a caller that fetches a bundle passes `allowFileProtocol`);
 *  - no pager (`--no-pager`, `GIT_PAGER=cat`, `core.pager=cat`), `core.sshCommand=false`,
 *    `credential.helper=` (empty), `core.askPass=` (empty), no editors, no signing;
 *  - `GIT_CONFIG_NOSYSTEM=1`, `GIT_CONFIG_GLOBAL` = a berth-owned file and `HOME`/`XDG_CONFIG_HOME`
 *    = a berth-owned private dir (see user-config.ts). That file carries only the user's
 *    identity (user.name/user.email, read once from the user's real global config with a hardened
 *    call; berth's fallback identity when none is set) and core.excludesFile, so the repository's
 *    own config still wins for identity, as it does in git.
 * Every value is passed as `-c` on the command line, which beats the repository's own config.
 *
 * Error translation: git's exit code and stderr become BerthErrors here (`failure`) or in the
 * operation that knows their meaning; timeouts and aborts become TIMEOUT / ABORTED.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { simpleGit, type SimpleGitOptions } from 'simple-git';
import { BerthError } from '../errors.js';
import { launchGit, primeLaunchers } from './launch.js';
import { berthGitHome, parseSettings, resolveExcludesFile, settingsKey, userGlobalConfigFiles, writeBerthGlobalConfig } from './user-config.js';

export const SAFE_CONFIG: readonly string[] = [
  'core.hooksPath=/dev/null',
  'core.fsmonitor=false',
  'core.untrackedCache=false',
  'core.attributesFile=/dev/null',
  'core.pager=cat',
  'core.sshCommand=false',
  'core.askPass=',
  'core.editor=false',
  'sequence.editor=false',
  'credential.helper=',
  'diff.external=',
  'diff.ignoreSubmodules=all',
  'status.submoduleSummary=false',
  'submodule.recurse=false',
  'fetch.recurseSubmodules=false',
  'protocol.allow=never',
  'commit.gpgSign=false',
  'tag.gpgSign=false',
  'log.showSignature=false',
  'gc.auto=0',
  'advice.detachedHead=false',
  'color.ui=false',
  'core.quotePath=false',
];

/** Env keys git (or simple-git's guard) treats as configuration; never inherited from our caller. */
const DROPPED_ENV = new Set(['EDITOR', 'VISUAL', 'PAGER', 'PREFIX', 'SSH_ASKPASS', 'HOME', 'XDG_CONFIG_HOME', 'GIT_ASKPASS']);
const PASSED_GIT_ENV = [
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_INDEX_FILE',
  'GIT_TERMINAL_PROMPT',
  'GIT_CONFIG_NOSYSTEM',
  'GIT_CONFIG_GLOBAL',
  'GIT_ATTR_NOSYSTEM',
  'GIT_PAGER',
] as const;
type PassedGitEnv = 'GIT_DIR' | 'GIT_WORK_TREE' | 'GIT_INDEX_FILE';

export interface RunOptions {
  readonly cwd: string;
  readonly input?: string | Buffer;
  readonly env?: Partial<Record<PassedGitEnv, string>>;
  /** Exit codes that are results rather than failures (default: only 0). */
  readonly ok?: readonly number[];
  readonly signal?: AbortSignal | undefined;
  readonly timeoutMs?: number | undefined;
  /** Read-only commands pass this so they never take index.lock (`git --no-optional-locks`). */
  readonly noOptionalLocks?: boolean;
  /** Bundles and local paths: lifts `protocol.allow=never` for the file protocol only. */
  readonly allowFileProtocol?: boolean;
}

export interface RunResult {
  readonly stdout: Buffer;
  readonly stderr: string;
  readonly exitCode: number;
}

/** The controlled environment: our caller's GIT_* and config-ish variables never reach git. */
export function hardenedEnv(globalConfig: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    // GIT_DIR, GIT_INDEX_FILE ... inherited from e.g. a git hook that runs berth would silently
    // redirect every command to another repository.
    if (v === undefined || k.startsWith('GIT_') || DROPPED_ENV.has(k)) continue;
    env[k] = v;
  }
  const home = berthGitHome();
  // English messages: error translation matches git's stderr text.
  Object.assign(env, { LC_ALL: 'C', LANGUAGE: 'C', GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_ATTR_NOSYSTEM: '1', GIT_PAGER: 'cat' });
  Object.assign(env, { GIT_CONFIG_GLOBAL: globalConfig, HOME: home, XDG_CONFIG_HOME: home });
  return env;
}

export function lastLines(text: string, n = 4): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-n)
    .join(' | ');
}

/** Translation shared by all operations; specific ones are handled where the meaning is known. */
export function failure(args: readonly string[], res: RunResult, cwd: string): BerthError {
  const stderr = res.stderr;
  const details = { args: [...args], exitCode: res.exitCode, stderr };
  if (/not a git repository/i.test(stderr)) {
    return new BerthError('NOT_A_REPO', `${JSON.stringify(cwd)} is not inside a git repository: run berth from a git checkout or pass --repo`, { details });
  }
  if (/detected dubious ownership/i.test(stderr)) {
    return new BerthError(
      'GIT_ERROR',
      `git refuses the repository at ${JSON.stringify(cwd)} because another user owns it: run berth as the owner, or mark it safe with \`git config --global --add safe.directory <path>\``,
      { details },
    );
  }
  const lock = /Unable to create '([^']+\.lock)': File exists/.exec(stderr);
  if (lock) {
    return new BerthError(
      'GIT_ERROR',
      `git could not lock ${JSON.stringify(lock[1])}: another git process is running in this repository; retry when it finishes (remove the file only if no git process is running)`,
      { details },
    );
  }
  return new BerthError('GIT_ERROR', `git ${args[0] ?? ''} failed (exit ${res.exitCode}): ${lastLines(stderr) || 'no error output'}`, { details });
}

function abortError(signal: AbortSignal, what: string, timedOut: boolean, timeoutMs: number | undefined): BerthError {
  if (timedOut) {
    return new BerthError('TIMEOUT', `git ${what} did not finish within ${timeoutMs} ms: retry, or raise the timeout if the repository is very large`);
  }
  return new BerthError('ABORTED', `git ${what} was cancelled`, { cause: signal.reason });
}

/** simple-git vets `-c` values; we set these keys only to switch the feature off. */
const UNSAFE_ALLOWED = {
  allowUnsafeHooksPath: true,
  allowUnsafeFsMonitor: true,
  allowUnsafeSshCommand: true,
  allowUnsafeAskPass: true,
  allowUnsafeEditor: true,
  allowUnsafeCredentialHelper: true,
  allowUnsafeDiffExternal: true,
  allowUnsafePager: true,
  allowUnsafeProtocolOverride: true,
  allowUnsafeConfigPaths: true,
  allowUnsafeSubmodule: true,
} as const;

export interface ExecContext {
  readonly timeoutMs: number;
  /** The berth-owned GIT_CONFIG_GLOBAL file (user-config.ts). */
  readonly globalConfig: string;
  readonly extraConfig?: readonly string[];
}

/** Runs `git <args>` with the hardened base. Non-`ok` exit codes become BerthErrors. */
export async function runGit(args: readonly string[], opts: RunOptions, ctx: ExecContext): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? ctx.timeoutMs;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  if (opts.signal?.aborted) throw abortError(opts.signal, args[0] ?? '', false, timeoutMs);
  let result: RunResult | undefined;
  const input = opts.input;
  const config = [...SAFE_CONFIG, ...(opts.allowFileProtocol ? ['protocol.file.allow=always'] : []), ...(ctx.extraConfig ?? [])];
  const options: Partial<SimpleGitOptions> = {
    baseDir: opts.cwd,
    config,
    trimmed: false,
    abort: signal,
    unsafe: UNSAFE_ALLOWED as SimpleGitOptions['unsafe'],
    allowEnvironment: [...PASSED_GIT_ENV],
    errors: (error, r) => {
      // simple-git reports a process that could not be spawned (git missing, cwd gone) with a
      // negative exit code; any real exit code is judged below against `ok`.
      if (r.exitCode < 0) return error instanceof Error ? error : new Error(Buffer.concat(r.stdErr).toString('utf8') || 'git could not be started');
      result = { stdout: Buffer.concat(r.stdOut), stderr: Buffer.concat(r.stdErr).toString('utf8'), exitCode: r.exitCode };
      return undefined;
    },
    ...(input !== undefined ? { input: () => input } : {}),
  };
  const argv = ['--no-pager', ...(opts.noOptionalLocks ? ['--no-optional-locks'] : []), ...args];
  try {
    const sg = simpleGit(options);
    sg.env({ ...hardenedEnv(ctx.globalConfig), ...opts.env });
    // simple-git waits 50 ms more after exit when a command printed nothing (its completion
    // plugin: `deferClose` until a 'data' event, steveukx/git-js#684), so every silent call
    // (notes add, update-ref, a clean status...) cost ~55 ms instead of ~5. An empty chunk at
    // the end of stdout tells it the output is complete; the collected output is unchanged.
    sg.outputHandler((_cmd, stdout) => stdout.once('end', () => stdout.emit('data', Buffer.alloc(0))));
    await sg.raw(argv);
  } catch (err) {
    if (signal.aborted) throw abortError(opts.signal?.aborted ? opts.signal : signal, args[0] ?? '', timeout.aborted && !opts.signal?.aborted, timeoutMs);
    throw startError(err, args, opts.cwd);
  }
  if (!result) throw new BerthError('GIT_ERROR', `git ${args[0] ?? ''} produced no result`);
  if (!(opts.ok ?? [0]).includes(result.exitCode)) throw failure(args, result, opts.cwd);
  return result;
}

const globalConfigs = new Map<string, Promise<string>>();

/**
 * The berth-owned GIT_CONFIG_GLOBAL for the current HOME/GIT_CONFIG_GLOBAL: the user's identity
 * and excludes file, read once with the hardened base (itself run against /dev/null as global).
 */
export function berthGlobalConfig(timeoutMs: number): Promise<string> {
  const key = settingsKey();
  let p = globalConfigs.get(key);
  if (!p) {
    p = (async () => {
      const settings: { name?: string; email?: string; excludesFile?: string } = {};
      for (const file of userGlobalConfigFiles()) {
        const args = ['config', '--file', file, '--includes', '-z', '--get-regexp', '^(user\\.(name|email)|core\\.excludesfile)$'];
        const res = await runGit(args, { cwd: berthGitHome(), ok: [0, 1, 3] }, { timeoutMs, globalConfig: '/dev/null' });
        if (res.exitCode === 0) parseSettings(res.stdout.toString('utf8'), settings);
      }
      return writeBerthGlobalConfig(key, { ...settings, excludesFile: resolveExcludesFile(settings.excludesFile) });
    })();
    p.catch(() => globalConfigs.delete(key));
    globalConfigs.set(key, p);
  }
  return p;
}

/** runGit with the berth-owned global config: what GitRepo.run and every caller use. */
export async function git(args: readonly string[], opts: RunOptions, timeoutMs: number): Promise<RunResult> {
  return runGit(args, opts, { timeoutMs, globalConfig: await berthGlobalConfig(timeoutMs) });
}

/** git's argv behind the hardened base's global options, for the spawns outside simple-git. */
function hardenedArgv(args: readonly string[], noOptionalLocks: boolean): string[] {
  return ['--no-pager', ...SAFE_CONFIG.flatMap((c) => ['-c', c]), ...(noOptionalLocks ? ['--no-optional-locks'] : []), ...args];
}

/** A git that could not be started (not installed, cwd gone) or run, as runGit and gitDirect report it. */
function startError(err: unknown, args: readonly string[], cwd: string): BerthError {
  const message = err instanceof Error ? err.message : String(err);
  if (/ENOENT/.test(message) && /spawn/.test(message)) {
    return new BerthError(
      'GIT_ERROR',
      `could not start git in ${JSON.stringify(cwd)}: is git installed and on PATH (e.g. apt-get install git), and does the directory exist?`,
      { cause: err },
    );
  }
  return new BerthError('GIT_ERROR', `could not run git ${args[0] ?? ''} in ${JSON.stringify(cwd)}: ${message}`, { cause: err });
}

/**
 * A long-running git process with the same hardened base as `git()` (the same `-c` settings,
 * environment and `--no-pager`), for protocols that talk over stdin/stdout (batch.ts). Not
 * through simple-git, which runs a command to completion with its input given up front. Callers
 * pass fixed arguments only: nothing a caller or an agent writes reaches argv.
 */
export async function spawnGit(args: readonly string[], opts: { cwd: string; timeoutMs: number }): Promise<ChildProcessWithoutNullStreams> {
  const env = hardenedEnv(await berthGlobalConfig(opts.timeoutMs));
  return spawn('git', hardenedArgv(args, false), { cwd: opts.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Fork launchers (launch.ts) for gitDirect in `cwd` now, for a caller off any waiting path. */
export async function primeGitDirect(cwd: string, timeoutMs: number): Promise<void> {
  primeLaunchers(cwd, hardenedEnv(await berthGlobalConfig(timeoutMs)));
}

/**
 * `git()` without simple-git, for the few short commands on a warm claim's path (the root
 * commit, the branch, the note): simple-git's per-call set-up costs ~3 ms of this process's time
 * per command (measured: rev-parse 10.6 ms through simple-git, 7.6 ms spawned directly), and a
 * claim waits for two of them in a row. Same hardening as spawnGit (the `-c` settings, the
 * environment, `--no-pager`); simple-git's argument vetting is not applied, so callers pass only
 * arguments they built themselves (shas, validated ref names, fixed options), never a caller's or
 * an agent's string.
 */
export async function gitDirect(args: readonly string[], opts: Omit<RunOptions, 'env' | 'allowFileProtocol'>, timeoutMs: number): Promise<RunResult> {
  const limitMs = opts.timeoutMs ?? timeoutMs;
  if (opts.signal?.aborted) throw abortError(opts.signal, args[0] ?? '', false, limitMs);
  const env = hardenedEnv(await berthGlobalConfig(limitMs));
  const argv = hardenedArgv(args, opts.noOptionalLocks ?? false);
  // A launcher forked ahead of time when there is one (launch.ts): no fork of this process here.
  const proc = launchGit(argv, opts.cwd, env) ?? spawn('git', argv, { cwd: opts.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let stderr = '';
  let stopped: 'timeout' | 'abort' | undefined;
  const stop = (why: 'timeout' | 'abort') => {
    stopped ??= why;
    proc.kill('SIGKILL');
  };
  const timer = setTimeout(() => stop('timeout'), limitMs);
  const onAbort = () => stop('abort');
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  proc.stdout.on('data', (d: Buffer) => out.push(d));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  // git may exit before reading its input (e.g. a bad argument): EPIPE is then not the error.
  proc.stdin.on('error', () => undefined);
  proc.stdin.end(opts.input ?? '');
  try {
    const exitCode = await new Promise<number>((resolve, reject) => {
      proc.on('error', reject);
      proc.on('close', (code) => resolve(code ?? -1));
    });
    if (stopped) throw abortError(opts.signal ?? AbortSignal.abort(), args[0] ?? '', stopped === 'timeout', limitMs);
    const result = { stdout: Buffer.concat(out), stderr, exitCode };
    // A launcher's sh reports a git it cannot find this way (spawn reports ENOENT, below).
    if (exitCode === 127 && /git: not found/.test(stderr)) throw new Error(`spawn git ENOENT: ${stderr.trim()}`);
    if (!(opts.ok ?? [0]).includes(exitCode)) throw failure(args, result, opts.cwd);
    return result;
  } catch (err) {
    throw err instanceof BerthError ? err : startError(err, args, opts.cwd);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

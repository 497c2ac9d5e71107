/**
 * The one module that runs git for the workspace library. Every invocation goes through `run()`,
 * which (a) neutralises configuration that would run user or agent code or block on a prompt,
 * (b) passes a curated environment, and (c) lets each operation below translate git's exit code
 * and stderr into a BerthError with a remedy. Nothing outside this file builds git arguments.
 *
 * Argument safety: workspace names are validated before they reach here (names.ts), refs coming
 * from callers are passed after `--end-of-options` (git >= 2.24), paths are absolute, and commit
 * messages and note contents travel on stdin, so no caller string can be parsed as an option.
 * simple-git's own argument vetting (it refuses --upload-pack, -c core.sshCommand, ...) stays on.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, readFile, readdir, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { simpleGit, type SimpleGitOptions } from 'simple-git';
import { BerthError } from '../errors.js';

export const NOTES_REF = 'refs/notes/berth';
export const BRANCH_REF_PREFIX = 'refs/heads/berth/';

/**
 * Passed as `-c` to every invocation. Hooks (core.hooksPath pointed at a non-directory, the usual
 * idiom), fsmonitor and signing programs would run code the user configured for interactive use,
 * in a worktree an agent controls; background auto-gc would outlive the call.
 */
const SAFE_CONFIG: readonly string[] = [
  'core.hooksPath=/dev/null',
  'core.fsmonitor=false',
  'commit.gpgSign=false',
  'tag.gpgSign=false',
  'log.showSignature=false',
  'gc.auto=0',
  'submodule.recurse=false',
  'advice.detachedHead=false',
  'color.ui=false',
  'core.quotePath=false',
];

const FALLBACK_NAME = 'berth';
const FALLBACK_EMAIL = 'berth@localhost';

/** Env keys git (or simple-git's guard) treats as configuration; never inherited from our caller. */
const DROPPED_ENV = new Set(['EDITOR', 'VISUAL', 'PAGER', 'PREFIX', 'SSH_ASKPASS']);
const PASSED_GIT_ENV = ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_TERMINAL_PROMPT'] as const;
type PassedGitEnv = (typeof PASSED_GIT_ENV)[number];

function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    // GIT_DIR, GIT_INDEX_FILE ... inherited from e.g. a git hook that runs berth would silently
    // redirect every command to another repository.
    if (v === undefined || k.startsWith('GIT_') || DROPPED_ENV.has(k)) continue;
    env[k] = v;
  }
  // English messages: error translation below matches git's stderr text.
  env.LC_ALL = 'C';
  env.LANGUAGE = 'C';
  env.GIT_TERMINAL_PROMPT = '0';
  return env;
}

export interface RunOptions {
  readonly cwd: string;
  readonly input?: string | Buffer;
  readonly env?: Partial<Record<PassedGitEnv, string>>;
  /** Exit codes that are results rather than failures (default: only 0). */
  readonly ok?: readonly number[];
  readonly signal?: AbortSignal | undefined;
  readonly timeoutMs?: number;
  /** Read-only commands pass this so they never take index.lock (`git --no-optional-locks`). */
  readonly noOptionalLocks?: boolean;
}

export interface RunResult {
  readonly stdout: Buffer;
  readonly stderr: string;
  readonly exitCode: number;
}

/** A linked worktree, addressed by its admin dir so the worktree's own `.git` file is never trusted. */
export interface WorktreeHandle {
  readonly path: string;
  readonly gitDir: string;
}

export interface WorktreeEntry {
  readonly path: string;
  readonly head: string | undefined;
  /** Full ref, e.g. refs/heads/berth/demo; undefined when detached. */
  readonly branch: string | undefined;
  readonly bare: boolean;
}

export interface BranchTip {
  readonly sha: string;
  /** Committer date of the tip, ms since the epoch. */
  readonly committedAt: number;
}

export interface NoteEntry {
  readonly blob: string;
  readonly object: string;
}

export interface StatusCounts {
  readonly staged: number;
  readonly unstaged: number;
  readonly untracked: number;
  readonly conflicted: number;
  readonly total: number;
}

export interface LogEntry {
  readonly sha: string;
  readonly subject: string;
  readonly author: string;
  readonly date: string;
}

/** git's complaints when it cannot build a committer/author identity (ident.c). */
const IDENTITY_MISSING_RE = /Please tell me who you are|unable to auto-detect email|empty ident name|no (?:email|name) was given|consists only of disallowed characters/i;

/** A single non-blank line without trailing whitespace plus one newline (see writeNote). */
const STRIPSPACE_STABLE_RE = /^[^\n]*[^\s]\n$/;

const SHA_RE = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

export function isSha(s: string): boolean {
  return SHA_RE.test(s);
}

function lastLines(text: string, n = 4): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-n)
    .join(' | ');
}

/** Translation shared by all operations; specific ones are handled where the meaning is known. */
function failure(args: readonly string[], res: RunResult, cwd: string): BerthError {
  const stderr = res.stderr;
  const details = { args: [...args], exitCode: res.exitCode, stderr };
  if (/not a git repository/i.test(stderr)) {
    return new BerthError('NOT_A_REPO', `${JSON.stringify(cwd)} is not inside a git repository: run berth from a git checkout or pass --repo`, {
      details,
    });
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
  return new BerthError('GIT_ERROR', `git ${args[0] ?? ''} failed (exit ${res.exitCode}): ${lastLines(stderr) || 'no error output'}`, {
    details,
  });
}

function abortError(signal: AbortSignal, what: string, timedOut: boolean, timeoutMs: number | undefined): BerthError {
  if (timedOut) {
    return new BerthError('TIMEOUT', `git ${what} did not finish within ${timeoutMs} ms: retry, or raise the timeout if the repository is very large`);
  }
  return new BerthError('ABORTED', `git ${what} was cancelled`, { cause: signal.reason });
}

function parseNulRecords(buf: Buffer): string[] {
  const text = buf.toString('utf8');
  const parts = text.split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** Counts entries of `git status --porcelain=v1 -z` (renames/copies carry a second path). */
function parseStatus(buf: Buffer): StatusCounts {
  const parts = parseNulRecords(buf);
  let staged = 0;
  let unstaged = 0;
  let untracked = 0;
  let conflicted = 0;
  for (let i = 0; i < parts.length; i++) {
    const entry = parts[i] ?? '';
    const x = entry[0] ?? ' ';
    const y = entry[1] ?? ' ';
    if (x === 'R' || x === 'C') i++;
    if (x === '?' && y === '?') untracked++;
    else if (x === '!' && y === '!') continue;
    else if (x === 'U' || y === 'U' || (x === 'A' && y === 'A') || (x === 'D' && y === 'D')) conflicted++;
    else {
      if (x !== ' ') staged++;
      if (y !== ' ') unstaged++;
    }
  }
  const total = parts.length === 0 ? 0 : staged + unstaged + untracked + conflicted;
  return { staged, unstaged, untracked, conflicted, total };
}

export interface GitRepoOptions {
  /** Upper bound for any single git invocation (default 120 s). */
  readonly timeoutMs?: number;
}

/**
 * A repository as berth sees it: the main worktree (the user's checkout) and git's common dir.
 * Methods are the git operations the workspace library needs, each with its own error mapping.
 */
export class GitRepo {
  /** Absolute path of the main worktree (the user's checkout). */
  readonly root: string;
  /** Absolute, symlink-free path of git's common dir (shared by all worktrees). */
  readonly commonDir: string;
  readonly #timeoutMs: number;
  #identity: Promise<readonly string[]> | undefined;

  private constructor(root: string, commonDir: string, timeoutMs: number) {
    this.root = root;
    this.commonDir = commonDir;
    this.#timeoutMs = timeoutMs;
  }

  /** Finds the repository containing `path`: NOT_A_REPO for a missing path, non-repo or bare repo. */
  static async discover(path: string, opts: GitRepoOptions & { signal?: AbortSignal | undefined } = {}): Promise<GitRepo> {
    const abs = resolve(path);
    let isDir = false;
    try {
      isDir = (await stat(abs)).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) {
      throw new BerthError('NOT_A_REPO', `${JSON.stringify(abs)} does not exist or is not a directory: pass the path of a git checkout (--repo)`);
    }
    const timeoutMs = opts.timeoutMs ?? 120_000;
    const probe = new GitRepo(abs, abs, timeoutMs);
    const res = await probe.run(['rev-parse', '--path-format=absolute', '--git-common-dir'], { cwd: abs, signal: opts.signal, ok: [0, 128] });
    if (res.exitCode !== 0) {
      if (/not a git repository/i.test(res.stderr)) {
        throw new BerthError('NOT_A_REPO', `${JSON.stringify(abs)} is not inside a git repository: run \`git init\` there, or pass the path of a git checkout (--repo)`, {
          details: { stderr: res.stderr },
        });
      }
      throw failure(['rev-parse'], res, abs);
    }
    const commonDir = await realpathOf(res.stdout.toString('utf8').trim());
    const list = await probe.listWorktreesAt(abs, opts.signal);
    const main = list[0];
    if (!main || main.bare) {
      throw new BerthError('NOT_A_REPO', `${JSON.stringify(abs)} is a bare repository: berth needs a checkout to branch from and merge into; clone it and run berth in the clone`);
    }
    return new GitRepo(main.path, commonDir, timeoutMs);
  }

  /** Runs git with berth's safety flags. Non-`ok` exit codes become BerthErrors. */
  async run(args: readonly string[], opts: RunOptions): Promise<RunResult> {
    const cmd = args[0];
    const notesSub = cmd === 'notes' ? args.slice(1).find((a) => !a.startsWith('-')) : undefined;
    if (cmd === 'notes' && (notesSub === 'list' || notesSub === 'show')) return this.#exec(args, opts, []);
    if (cmd === 'commit-tree' || cmd === 'notes') {
      if (this.#identity) return this.#exec(args, opts, await this.#identity);
      // Try without an identity first: these commands check the (strict) identity before they
      // write a ref, so a failure leaves nothing behind, and the common case then costs no
      // `git var` probes. Only when git says it has no identity do we fall back as below.
      const ok = opts.ok ?? [0];
      const res = await this.#exec(args, { ...opts, ok: [...ok, 128] }, []);
      if (ok.includes(res.exitCode)) {
        // Only these two always build a commit, so their success proves git has an identity
        // (`notes remove` of a missing note, say, commits nothing).
        if (res.exitCode === 0 && (cmd === 'commit-tree' || notesSub === 'add')) this.#identity ??= Promise.resolve([]);
        return res;
      }
      if (!IDENTITY_MISSING_RE.test(res.stderr)) throw failure(args, res, opts.cwd);
      return this.#exec(args, opts, await this.identityConfig(opts.signal));
    }
    const identity = cmd === 'commit' || cmd === 'merge' ? await this.identityConfig(opts.signal) : [];
    return this.#exec(args, opts, identity);
  }

  async #exec(args: readonly string[], opts: RunOptions, extraConfig: readonly string[]): Promise<RunResult> {
    const timeoutMs = opts.timeoutMs ?? this.#timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    if (opts.signal?.aborted) throw abortError(opts.signal, args[0] ?? '', false, timeoutMs);
    let result: RunResult | undefined;
    const input = opts.input;
    const options: Partial<SimpleGitOptions> = {
      baseDir: opts.cwd,
      config: [...SAFE_CONFIG, ...extraConfig],
      trimmed: false,
      abort: signal,
      // We pass hooksPath/fsmonitor only to switch them off; simple-git flags any use of them.
      unsafe: { allowUnsafeHooksPath: true, allowUnsafeFsMonitor: true },
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
    const argv = opts.noOptionalLocks ? ['--no-optional-locks', ...args] : [...args];
    try {
      const sg = simpleGit(options);
      sg.env({ ...baseEnv(), ...opts.env });
      await sg.raw(argv);
    } catch (err) {
      if (signal.aborted) throw abortError(opts.signal?.aborted ? opts.signal : signal, args[0] ?? '', timeout.aborted && !opts.signal?.aborted, timeoutMs);
      const message = err instanceof Error ? err.message : String(err);
      if (/ENOENT/.test(message) && /spawn/.test(message)) {
        throw new BerthError('GIT_ERROR', 'git is not installed or not on PATH: install git (e.g. apt-get install git)', { cause: err });
      }
      throw new BerthError('GIT_ERROR', `could not run git ${args[0] ?? ''} in ${JSON.stringify(opts.cwd)}: ${message}`, { cause: err });
    }
    if (!result) throw new BerthError('GIT_ERROR', `git ${args[0] ?? ''} produced no result`);
    const ok = opts.ok ?? [0];
    if (!ok.includes(result.exitCode)) throw failure(args, result, opts.cwd);
    return result;
  }

  /**
   * `-c user.name/-c user.email` only when git has no usable identity (a fresh container or CI):
   * the user's own identity wins whenever it is configured.
   */
  identityConfig(signal?: AbortSignal): Promise<readonly string[]> {
    this.#identity ??= (async () => {
      const probe = async (v: string) => (await this.#exec(['var', v], { cwd: this.root, signal, ok: [0, 128] }, [])).exitCode === 0;
      if ((await probe('GIT_COMMITTER_IDENT')) && (await probe('GIT_AUTHOR_IDENT'))) return [];
      const get = async (key: string) => (await this.#exec(['config', '--get', key], { cwd: this.root, signal, ok: [0, 1] }, [])).stdout.toString('utf8').trim();
      const out: string[] = [];
      if (!(await get('user.name'))) out.push(`user.name=${FALLBACK_NAME}`);
      if (!(await get('user.email'))) out.push(`user.email=${FALLBACK_EMAIL}`);
      return out;
    })();
    this.#identity.catch(() => {
      this.#identity = undefined;
    });
    return this.#identity;
  }

  #wt(wt: WorktreeHandle): Pick<RunOptions, 'cwd' | 'env'> {
    return { cwd: wt.path, env: { GIT_DIR: wt.gitDir, GIT_WORK_TREE: wt.path } };
  }

  // ---- refs and objects -------------------------------------------------------------------

  /** True when the repository has at least one ref pointing at a commit. */
  async hasCommits(signal?: AbortSignal): Promise<boolean> {
    const res = await this.run(['for-each-ref', '--count=1', '--format=%(objectname)'], { cwd: this.root, signal });
    return res.stdout.toString('utf8').trim() !== '';
  }

  /** Resolves `ref` to a commit sha: EMPTY_REPO when there are no commits at all, else UNKNOWN_REF. */
  async resolveCommit(ref: string, signal?: AbortSignal): Promise<string> {
    checkRefArg(ref);
    const res = await this.run(['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`], { cwd: this.root, signal, ok: [0, 1, 128] });
    const sha = res.stdout.toString('utf8').trim();
    if (res.exitCode === 0 && isSha(sha)) return sha;
    if (!(await this.hasCommits(signal))) {
      throw new BerthError('EMPTY_REPO', `repository ${JSON.stringify(this.root)} has no commits yet: make a first commit (e.g. \`git commit --allow-empty -m init\`) and retry`);
    }
    throw new BerthError('UNKNOWN_REF', `base ref ${JSON.stringify(ref)} does not name a commit in ${JSON.stringify(this.root)}: pass a branch, tag or commit sha (see \`git branch -a\`)`, {
      details: { ref, stderr: res.stderr },
    });
  }

  /**
   * The checks `create` needs before it writes anything, in one `git cat-file --batch-check`:
   * the base commit, whether its tree has `path` (any kind of entry), and whether each of
   * `refs` exists. The names travel on stdin, one per line, so none can be parsed as an option.
   * Base errors are those of resolveCommit (EMPTY_REPO, UNKNOWN_REF).
   */
  async probeBase(
    ref: string,
    path: string,
    refs: readonly string[],
    signal?: AbortSignal,
  ): Promise<{ sha: string; hasPath: boolean; existingRefs: Set<string> }> {
    checkRefArg(ref);
    for (const r of [path, ...refs]) {
      if (r.length === 0 || /[\0\n]/.test(r)) throw new BerthError('BAD_INPUT', `${JSON.stringify(r)} cannot be looked up`);
    }
    const lines = [`${ref}^{commit}`, `${ref}^{commit}:${path}`, ...refs];
    const res = await this.run(['cat-file', '--batch-check'], { cwd: this.root, signal, input: `${lines.join('\n')}\n` });
    const out = res.stdout.toString('utf8').split('\n');
    // Found objects print "<oid> <type> <size>"; anything else ("<name> missing", "ambiguous")
    // means not found.
    const found = (i: number): string | undefined => {
      const m = /^([0-9a-f]{40}(?:[0-9a-f]{24})?) (\S+) \d+$/.exec(out[i] ?? '');
      return m ? `${m[1]} ${m[2]}` : undefined;
    };
    const base = found(0);
    const sha = base?.endsWith(' commit') ? base.split(' ')[0] ?? '' : '';
    if (!isSha(sha)) {
      if (!(await this.hasCommits(signal))) {
        throw new BerthError('EMPTY_REPO', `repository ${JSON.stringify(this.root)} has no commits yet: make a first commit (e.g. \`git commit --allow-empty -m init\`) and retry`);
      }
      throw new BerthError('UNKNOWN_REF', `base ref ${JSON.stringify(ref)} does not name a commit in ${JSON.stringify(this.root)}: pass a branch, tag or commit sha (see \`git branch -a\`)`, {
        details: { ref, output: out[0] ?? '' },
      });
    }
    const existingRefs = new Set<string>();
    refs.forEach((r, i) => {
      if (found(i + 2)) existingRefs.add(r);
    });
    return { sha, hasPath: found(1) !== undefined, existingRefs };
  }

  /** A commit with `parent`'s tree and `parent` as its only parent (an "empty" commit). */
  async commitEmptyOnto(parent: string, message: string, signal?: AbortSignal): Promise<string> {
    const res = await this.run(['commit-tree', '-p', parent, '-F', '-', `${parent}^{tree}`], { cwd: this.root, signal, input: message });
    const sha = res.stdout.toString('utf8').trim();
    if (!isSha(sha)) throw new BerthError('GIT_ERROR', `git commit-tree printed ${JSON.stringify(sha)} instead of a commit id`);
    return sha;
  }

  /** Tips of all refs/heads/berth/* branches, keyed by the part after `berth/`. */
  async berthBranches(signal?: AbortSignal): Promise<Map<string, BranchTip>> {
    const res = await this.run(['for-each-ref', '--format=%(objectname) %(committerdate:unix) %(refname)', BRANCH_REF_PREFIX], {
      cwd: this.root,
      signal,
    });
    const out = new Map<string, BranchTip>();
    for (const line of res.stdout.toString('utf8').split('\n')) {
      const m = /^([0-9a-f]{40,64}) (\d*) (.+)$/.exec(line);
      if (!m || !m[3]?.startsWith(BRANCH_REF_PREFIX)) continue;
      out.set(m[3].slice(BRANCH_REF_PREFIX.length), { sha: m[1] ?? '', committedAt: Number(m[2] || 0) * 1000 });
    }
    return out;
  }

  /** Deletes refs/heads/<branch>; missing branches are fine (delete is idempotent). */
  async deleteBranch(branch: string, signal?: AbortSignal): Promise<void> {
    const res = await this.run(['branch', '-D', '--end-of-options', branch], { cwd: this.root, signal, ok: [0, 1] });
    if (res.exitCode === 0 || /not found/.test(res.stderr)) return;
    const where = /checked out at '([^']+)'/.exec(res.stderr);
    if (where) {
      throw new BerthError('GIT_ERROR', `branch ${JSON.stringify(branch)} is checked out at ${JSON.stringify(where[1])}: switch that checkout to another branch and retry`, {
        details: { stderr: res.stderr },
      });
    }
    throw failure(['branch', '-D', branch], res, this.root);
  }

  // ---- notes ------------------------------------------------------------------------------

  async listNotes(signal?: AbortSignal): Promise<NoteEntry[]> {
    const res = await this.run(['notes', `--ref=${NOTES_REF}`, 'list'], { cwd: this.root, signal });
    const out: NoteEntry[] = [];
    for (const line of res.stdout.toString('utf8').split('\n')) {
      const [blob, object] = line.trim().split(' ');
      if (blob && object && isSha(blob) && isSha(object)) out.push({ blob, object });
    }
    return out;
  }

  /** Contents of blobs by sha, read in one `git cat-file --batch`; missing ones are absent. */
  async readBlobs(shas: readonly string[], signal?: AbortSignal): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    const wanted = [...new Set(shas)].filter(isSha);
    if (wanted.length === 0) return out;
    const res = await this.run(['cat-file', '--batch'], { cwd: this.root, signal, input: `${wanted.join('\n')}\n` });
    const buf = res.stdout;
    let pos = 0;
    while (pos < buf.length) {
      const nl = buf.indexOf(0x0a, pos);
      if (nl < 0) break;
      const header = buf.subarray(pos, nl).toString('utf8');
      pos = nl + 1;
      const m = /^([0-9a-f]{40,64}) (\S+) (\d+)$/.exec(header);
      if (!m) continue; // "<sha> missing"
      const size = Number(m[3]);
      if (m[2] === 'blob') out.set(m[1] ?? '', buf.subarray(pos, pos + size));
      pos += size + 1;
    }
    return out;
  }

  /** Replaces the note on `object` with `content`, byte for byte (no message clean-up). */
  async writeNote(object: string, content: string, signal?: AbortSignal): Promise<void> {
    if (STRIPSPACE_STABLE_RE.test(content)) {
      // `-F` runs git's stripspace over the message (git < 2.42 has no --no-stripspace); one line
      // without trailing blanks, ending in one newline, is a fixed point of it, so the note is
      // still byte for byte `content`, in one process instead of hash-object + notes.
      await this.run(['notes', `--ref=${NOTES_REF}`, 'add', '--force', '-F', '-', '--end-of-options', object], { cwd: this.root, signal, input: content });
      return;
    }
    const blob = (await this.run(['hash-object', '-w', '--stdin'], { cwd: this.root, signal, input: content })).stdout.toString('utf8').trim();
    if (!isSha(blob)) throw new BerthError('GIT_ERROR', `git hash-object printed ${JSON.stringify(blob)} instead of an object id`);
    await this.run(['notes', `--ref=${NOTES_REF}`, 'add', '--force', '-C', blob, '--end-of-options', object], { cwd: this.root, signal });
  }

  async removeNote(object: string, signal?: AbortSignal): Promise<void> {
    await this.run(['notes', `--ref=${NOTES_REF}`, 'remove', '--ignore-missing', '--end-of-options', object], { cwd: this.root, signal });
  }

  // ---- worktrees --------------------------------------------------------------------------

  async listWorktrees(signal?: AbortSignal): Promise<WorktreeEntry[]> {
    return this.listWorktreesAt(this.root, signal);
  }

  private async listWorktreesAt(cwd: string, signal?: AbortSignal): Promise<WorktreeEntry[]> {
    const res = await this.run(['worktree', 'list', '--porcelain', '-z'], { cwd, signal });
    const out: WorktreeEntry[] = [];
    let cur: { path?: string; head?: string; branch?: string; bare: boolean } = { bare: false };
    const flush = () => {
      if (cur.path) out.push({ path: cur.path, head: cur.head, branch: cur.branch, bare: cur.bare });
      cur = { bare: false };
    };
    // Records are NUL-terminated lines; an empty line ends a worktree.
    for (const field of res.stdout.toString('utf8').split('\0')) {
      if (field === '') flush();
      else if (field.startsWith('worktree ')) cur.path = field.slice('worktree '.length);
      else if (field.startsWith('HEAD ')) cur.head = field.slice('HEAD '.length);
      else if (field.startsWith('branch ')) cur.branch = field.slice('branch '.length);
      else if (field === 'bare') cur.bare = true;
    }
    flush();
    return out;
  }

  /**
   * The admin dir ($GIT_COMMON_DIR/worktrees/<id>, see gitrepository-layout(5)) whose `gitdir`
   * file points at `<path>/.git`. We address worktrees through it rather than through the
   * worktree's own `.git` file, which lives in the agent-writable tree and could point git at a
   * repository whose config runs arbitrary commands on the host.
   */
  async worktreeGitDir(path: string): Promise<string | undefined> {
    return (await this.worktreeGitDirs()).get(resolve(path));
  }

  /** Worktree path -> admin dir, for every linked worktree (one directory scan). */
  async worktreeGitDirs(): Promise<Map<string, string>> {
    const admin = join(this.commonDir, 'worktrees');
    const out = new Map<string, string>();
    let ids: string[];
    try {
      ids = await readdir(admin);
    } catch {
      return out;
    }
    for (const id of ids) {
      try {
        const target = resolve((await readFile(join(admin, id, 'gitdir'), 'utf8')).trim());
        if (basename(target) === '.git') out.set(dirname(target), join(admin, id));
      } catch {
        continue;
      }
    }
    return out;
  }

  /** `git worktree add -b <branch> <path> <start>`: the branch and the checkout in one step. */
  async addWorktree(path: string, branch: string, start: string, signal?: AbortSignal): Promise<WorktreeHandle> {
    const res = await this.run(['worktree', 'add', '--quiet', '-b', branch, path, start], { cwd: this.root, signal, ok: [0, 128, 255] });
    if (res.exitCode !== 0) {
      if (/already exists/.test(res.stderr) && /branch/i.test(res.stderr)) {
        throw new BerthError('WORKSPACE_EXISTS', `branch ${JSON.stringify(branch)} already exists: pick another name or delete the branch`, { details: { stderr: res.stderr } });
      }
      if (/already exists/.test(res.stderr)) {
        throw new BerthError('BAD_INPUT', `worktree directory ${JSON.stringify(path)} already exists and is not empty: pass an empty directory or remove it`, {
          details: { stderr: res.stderr },
        });
      }
      throw failure(['worktree', 'add'], res, this.root);
    }
    const gitDir = await this.worktreeGitDir(path);
    if (!gitDir) throw new BerthError('GIT_ERROR', `git worktree add did not register ${JSON.stringify(path)}`);
    return { path, gitDir };
  }

  /** Removes a registered worktree and its directory, even with untracked or modified files. */
  async removeWorktree(path: string, signal?: AbortSignal): Promise<void> {
    // Twice --force: also removes a worktree someone locked (`git worktree lock`).
    const res = await this.run(['worktree', 'remove', '--force', '--force', path], { cwd: this.root, signal, ok: [0, 128] });
    if (res.exitCode === 0) return;
    if (/is not a working tree/.test(res.stderr)) return;
    throw new BerthError('GIT_ERROR', `could not remove worktree ${JSON.stringify(path)}: ${lastLines(res.stderr)}; fix the permissions (files created by a container as another user?) and retry`, {
      details: { stderr: res.stderr },
    });
  }

  /**
   * Unregisters a worktree whose directory must stay (a caller-provided, possibly bind-mounted
   * directory): empties the directory, then removes only this worktree's admin dir — what
   * `git worktree prune` would do for it, without touching the user's other stale worktrees.
   */
  async detachWorktreeKeepingDir(wt: WorktreeHandle): Promise<void> {
    const admin = resolve(this.commonDir, 'worktrees');
    const gitDir = resolve(wt.gitDir);
    if (dirname(gitDir) !== admin || basename(gitDir).length === 0) {
      throw new BerthError('GIT_ERROR', `refusing to remove ${JSON.stringify(gitDir)}: not a worktree admin dir under ${JSON.stringify(admin)}`);
    }
    for (const entry of await readdir(wt.path)) await rm(join(wt.path, entry), { recursive: true, force: true });
    await rm(gitDir, { recursive: true, force: true });
  }

  // ---- inside a workspace worktree --------------------------------------------------------

  async worktreeStatus(wt: WorktreeHandle, signal?: AbortSignal): Promise<StatusCounts> {
    const res = await this.run(['status', '--porcelain=v1', '-z', '--untracked-files=all', '--ignore-submodules=none'], {
      ...this.#wt(wt),
      signal,
      noOptionalLocks: true,
    });
    return parseStatus(res.stdout);
  }

  /** The branch checked out in `wt` (full ref) or undefined when detached. */
  async worktreeBranch(wt: WorktreeHandle, signal?: AbortSignal): Promise<string | undefined> {
    const res = await this.run(['symbolic-ref', '--quiet', 'HEAD'], { ...this.#wt(wt), signal, ok: [0, 1] });
    return res.exitCode === 0 ? res.stdout.toString('utf8').trim() : undefined;
  }

  /**
   * `git add -A` then commit: everything incl. untracked files, minus .gitignore'd ones.
   * Returns undefined when nothing changed.
   */
  async commitAll(wt: WorktreeHandle, message: string, signal?: AbortSignal): Promise<{ sha: string; filesChanged: number } | undefined> {
    await this.run(['add', '--all'], { ...this.#wt(wt), signal });
    const names = await this.run(['diff', '--cached', '--name-only', '-z', '--no-renames'], { ...this.#wt(wt), signal });
    const filesChanged = parseNulRecords(names.stdout).length;
    if (filesChanged === 0) return undefined;
    await this.run(['commit', '--quiet', '--no-verify', '--no-edit', '-F', '-'], { ...this.#wt(wt), signal, input: message });
    const sha = (await this.run(['rev-parse', '--verify', 'HEAD'], { ...this.#wt(wt), signal })).stdout.toString('utf8').trim();
    return { sha, filesChanged };
  }

  /**
   * Diff of `base` against the worktree as it is on disk, untracked (not ignored) files included.
   * Built in a throw-away index seeded from the worktree's, so the worktree's own index (what the
   * agent may have staged) is never touched.
   */
  async diffWorktree(wt: WorktreeHandle, base: string, opts: { stat?: boolean; signal?: AbortSignal | undefined }): Promise<string> {
    const tmp = await mkdtemp(join(tmpdir(), 'berth-diff-'));
    const index = join(tmp, 'index');
    try {
      try {
        await copyFile(join(wt.gitDir, 'index'), index);
      } catch {
        // No index yet: `git add` builds one from scratch.
      }
      const env = { GIT_DIR: wt.gitDir, GIT_WORK_TREE: wt.path, GIT_INDEX_FILE: index };
      await this.run(['add', '--all'], { cwd: wt.path, env, signal: opts.signal });
      const args = ['diff', '--cached', '--no-color', '--no-ext-diff', '--no-textconv', '--src-prefix=a/', '--dst-prefix=b/'];
      if (opts.stat) args.push('--stat=200');
      const res = await this.run([...args, base, '--'], { cwd: wt.path, env, signal: opts.signal });
      return res.stdout.toString('utf8');
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /** Diff between two commits (used when a workspace's worktree directory is gone). */
  async diffCommits(base: string, tip: string, opts: { stat?: boolean; signal?: AbortSignal | undefined }): Promise<string> {
    const args = ['diff', '--no-color', '--no-ext-diff', '--no-textconv', '--src-prefix=a/', '--dst-prefix=b/'];
    if (opts.stat) args.push('--stat=200');
    const res = await this.run([...args, '--end-of-options', base, tip, '--'], { cwd: this.root, signal: opts.signal });
    return res.stdout.toString('utf8');
  }

  /** Commits reachable from `tip` but not from `exclude`, newest first. */
  async log(exclude: string, tip: string, opts: { limit?: number | undefined; signal?: AbortSignal | undefined }): Promise<LogEntry[]> {
    const args = ['log', '--no-color', '-z', '--format=%H%x1f%an <%ae>%x1f%aI%x1f%s'];
    if (opts.limit !== undefined) args.push(`--max-count=${Math.max(0, Math.floor(opts.limit))}`);
    const res = await this.run([...args, '--end-of-options', tip, `^${exclude}`, '--'], { cwd: this.root, signal: opts.signal });
    return parseNulRecords(res.stdout).map((rec) => {
      const [sha = '', author = '', date = '', ...subject] = rec.replace(/^\n/, '').split('\x1f');
      return { sha, author, date, subject: subject.join('\x1f') };
    });
  }

  // ---- the user's checkout ----------------------------------------------------------------

  async checkoutStatus(signal?: AbortSignal): Promise<StatusCounts> {
    const res = await this.run(['status', '--porcelain=v1', '-z', '--untracked-files=normal'], { cwd: this.root, signal, noOptionalLocks: true });
    return parseStatus(res.stdout);
  }

  /** Name of an operation (merge, rebase, cherry-pick, revert) in progress in the checkout, if any. */
  async operationInProgress(signal?: AbortSignal): Promise<string | undefined> {
    const probes: [string, string][] = [
      ['MERGE_HEAD', 'a merge'],
      ['CHERRY_PICK_HEAD', 'a cherry-pick'],
      ['REVERT_HEAD', 'a revert'],
      ['rebase-merge', 'a rebase'],
      ['rebase-apply', 'a rebase or am'],
    ];
    const res = await this.run(['rev-parse', '--path-format=absolute', ...probes.flatMap(([p]) => ['--git-path', p])], { cwd: this.root, signal });
    const paths = res.stdout.toString('utf8').split('\n').filter(Boolean);
    for (let i = 0; i < probes.length; i++) {
      const p = paths[i];
      if (p && (await exists(p))) return probes[i]?.[1];
    }
    return undefined;
  }

  /** The checkout's current branch (full ref), or undefined when HEAD is detached. */
  async checkoutBranch(signal?: AbortSignal): Promise<string | undefined> {
    const res = await this.run(['symbolic-ref', '--quiet', 'HEAD'], { cwd: this.root, signal, ok: [0, 1] });
    return res.exitCode === 0 ? res.stdout.toString('utf8').trim() : undefined;
  }

  async checkoutHead(signal?: AbortSignal): Promise<string | undefined> {
    const res = await this.run(['rev-parse', '--verify', '--quiet', 'HEAD'], { cwd: this.root, signal, ok: [0, 1] });
    return res.exitCode === 0 ? res.stdout.toString('utf8').trim() : undefined;
  }

  /**
   * Merges `ref` into the checkout's current branch. On conflict the merge is undone (the
   * checkout is left as it was) and MERGE_CONFLICT lists the conflicting paths. Returns the new
   * HEAD, or undefined when there was nothing to merge.
   */
  async mergeIntoCheckout(ref: string, opts: { squash: boolean; message: string; signal?: AbortSignal | undefined }): Promise<string | undefined> {
    const { signal } = opts;
    const before = await this.checkoutHead(signal);
    const common = ['--no-autostash', '--no-verify-signatures', '--no-stat', '--quiet'];
    const args = opts.squash ? ['merge', '--squash', ...common] : ['merge', '--no-ff', '--no-edit', ...common, '-m', opts.message];
    const res = await this.run([...args, '--end-of-options', ref], { cwd: this.root, signal, ok: [0, 1, 2, 128] });
    if (res.exitCode !== 0) {
      const text = `${res.stderr}\n${res.stdout.toString('utf8')}`;
      if (/CONFLICT|Automatic merge failed|fix conflicts/i.test(text)) {
        const conflicted = await this.run(['diff', '--name-only', '--diff-filter=U', '-z'], { cwd: this.root, signal });
        const files = parseNulRecords(conflicted.stdout);
        await this.undoMerge(opts.squash);
        throw new BerthError(
          'MERGE_CONFLICT',
          `merging ${JSON.stringify(ref)} conflicts in ${files.length} file(s) (${files.slice(0, 10).join(', ')}${files.length > 10 ? ', ...' : ''}); the merge was aborted and your checkout is unchanged. Resolve it by hand (\`git merge ${ref}\`) or rebase the workspace`,
          { details: { files, stderr: res.stderr } },
        );
      }
      if (/would be overwritten|local changes|untracked working tree files/i.test(text)) {
        await this.undoMerge(opts.squash).catch(() => undefined);
        throw new BerthError('DIRTY_CHECKOUT', `your checkout ${JSON.stringify(this.root)} has files the merge would overwrite (${lastLines(text, 6)}): commit, stash or move them and retry`, {
          details: { stderr: res.stderr },
        });
      }
      throw failure(['merge', ref], res, this.root);
    }
    if (opts.squash) {
      const staged = await this.run(['diff', '--cached', '--quiet'], { cwd: this.root, signal, ok: [0, 1] });
      if (staged.exitCode === 0) {
        await this.undoMerge(true);
        return undefined;
      }
      await this.run(['commit', '--quiet', '--no-verify', '--no-edit', '-F', '-'], { cwd: this.root, signal, input: opts.message });
    }
    const after = await this.checkoutHead(signal);
    return after === before ? undefined : after;
  }

  /**
   * A squash merge leaves no MERGE_HEAD, so `git merge --abort` cannot undo it; `reset --merge`
   * undoes both kinds while keeping untouched local files (see git-reset(1), "--merge").
   */
  private async undoMerge(squash: boolean): Promise<void> {
    if (!squash) {
      const res = await this.run(['merge', '--abort'], { cwd: this.root, ok: [0, 128] });
      if (res.exitCode === 0) return;
    }
    await this.run(['reset', '--merge', '--quiet'], { cwd: this.root });
  }
}

function checkRefArg(ref: string): void {
  // No branch, tag or sha starts with '-' (git-check-ref-format(1)); such a "ref" is an option.
  if (ref.length === 0 || ref.length > 1024 || /[\0\n]/.test(ref) || ref.startsWith('-')) {
    throw new BerthError('UNKNOWN_REF', `base ref ${JSON.stringify(ref.slice(0, 100))} is not a valid git ref: pass a branch, tag or commit (e.g. HEAD, main)`);
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function realpathOf(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch {
    return resolve(p);
  }
}

/** A short unique token for the root commit's trailer. */
export function uniqueToken(): string {
  return `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
}

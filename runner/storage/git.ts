/**
 * The git side of export/import, kept behind a few functions so transfer.ts reads as a recipe.
 * Every command runs through the workspace library's GitRepo.run (src/git/run.ts): its hardened
 * base (no hooks, no fsmonitor, no filters, no pager, no submodules), curated environment and git-error translation
 * (BerthError GIT_ERROR ...) apply here too. Worktrees are always addressed through their admin
 * dir (GIT_DIR=<common>/worktrees/<id>), never through the worktree's own, agent-writable `.git`.
 */
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BRANCH_REF_PREFIX,
  MAX_CHECKPOINT_FILE_BYTES,
  NOTES_REF,
  indexTree,
  isSha,
  snapshotWorktree,
  type GitRepo,
  type WorktreeHandle,
} from '../../src/git/index.js';
import { parseState } from '../../src/workspace/index.js';
import { isBerthError } from '../../src/errors.js';
import { BerthError } from '../../src/errors.js';

/** Long git operations (bundling or fetching a whole history) get more time than GitRepo's default. */
export const DEFAULT_GIT_TIMEOUT_MS = 15 * 60_000;

export interface GitCall {
  readonly signal?: AbortSignal | undefined;
  readonly timeoutMs?: number | undefined;
}

function wtEnv(wt: WorktreeHandle) {
  return { cwd: wt.path, env: { GIT_DIR: wt.gitDir, GIT_WORK_TREE: wt.path } };
}

function line(buf: Buffer): string {
  return buf.toString('utf8').trim();
}

/** Tip of refs/heads/berth/<name>, or undefined when the branch does not exist. */
export async function branchTip(repo: GitRepo, name: string, call: GitCall = {}): Promise<string | undefined> {
  const res = await repo.run(['rev-parse', '--verify', '--quiet', '--end-of-options', `${BRANCH_REF_PREFIX}${name}^{commit}`], {
    cwd: repo.root,
    signal: call.signal,
    ok: [0, 1, 128],
  });
  const sha = line(res.stdout);
  return res.exitCode === 0 && isSha(sha) ? sha : undefined;
}

/** Raw bytes of the berth note on `object` in `notesRef`, or undefined when there is none. */
export async function readNote(repo: GitRepo, object: string, notesRef: string = NOTES_REF, call: GitCall = {}): Promise<Buffer | undefined> {
  const res = await repo.run(['notes', `--ref=${notesRef}`, 'list', '--end-of-options', object], { cwd: repo.root, signal: call.signal, ok: [0, 1] });
  const blob = line(res.stdout);
  if (res.exitCode !== 0 || !isSha(blob)) return undefined;
  return (await repo.readBlobs([blob], call.signal)).get(blob);
}

/**
 * Write a bundle holding exactly refs/heads/berth/<name> (full history) and a refs/notes/berth
 * with only this workspace's note. The bundle is built in a throw-away bare repository that
 * borrows the user's objects through objects/info/alternates (gitrepository-layout(5)), so the
 * user's repository gets no temporary refs and the export does not carry the notes of the
 * repository's other workspaces.
 */
export async function writeBundle(
  repo: GitRepo,
  args: { name: string; head: string; rootSha: string; note: Buffer; tmpDir: string; out: string },
  call: GitCall = {},
): Promise<void> {
  const bare = join(args.tmpDir, 'bundle.git');
  const run = (argv: string[], input?: string | Buffer) =>
    repo.run(argv, {
      cwd: args.tmpDir,
      env: { GIT_DIR: bare },
      signal: call.signal,
      timeoutMs: call.timeoutMs ?? DEFAULT_GIT_TIMEOUT_MS,
      ...(input !== undefined ? { input } : {}),
    });
  await mkdir(bare);
  // The scratch repository must use the same hash function as the one whose objects it borrows.
  const format = line((await repo.run(['rev-parse', '--show-object-format'], { cwd: repo.root, signal: call.signal })).stdout) || 'sha1';
  await repo.run(['init', '--quiet', '--bare', `--object-format=${format}`, bare], { cwd: args.tmpDir, signal: call.signal });
  await writeFile(join(bare, 'objects', 'info', 'alternates'), `${join(repo.commonDir, 'objects')}\n`);
  const blob = line((await run(['hash-object', '-w', '--stdin'], args.note)).stdout);
  const tree = line((await run(['mktree'], `100644 blob ${blob}\t${args.rootSha}\n`)).stdout);
  const commit = line((await run(['commit-tree', '-F', '-', tree], `berth export of workspace ${args.name}\n`)).stdout);
  if (!isSha(blob) || !isSha(tree) || !isSha(commit)) {
    throw new BerthError('STORAGE_ERROR', `could not build the notes commit for workspace ${JSON.stringify(args.name)} (git printed unexpected ids)`, {
      details: { reason: 'git' },
    });
  }
  await run(['update-ref', `${BRANCH_REF_PREFIX}${args.name}`, args.head]);
  await run(['update-ref', NOTES_REF, commit]);
  await run(['bundle', 'create', '--quiet', args.out, `${BRANCH_REF_PREFIX}${args.name}`, NOTES_REF]);
}

export interface UntrackedList {
  readonly files: string[];
  /** Untracked directories git reports as a whole (nested repositories), not exported. */
  readonly skipped: string[];
}

/** `git ls-files --others --exclude-standard -z`: untracked, non-ignored paths of the worktree. */
export async function listUntracked(repo: GitRepo, wt: WorktreeHandle, call: GitCall = {}): Promise<UntrackedList> {
  const res = await repo.run(['ls-files', '--others', '--exclude-standard', '-z'], {
    ...wtEnv(wt),
    signal: call.signal,
    noOptionalLocks: true,
    timeoutMs: call.timeoutMs,
  });
  const files: string[] = [];
  const skipped: string[] = [];
  for (const p of res.stdout.toString('utf8').split('\0')) {
    if (p === '') continue;
    if (p.endsWith('/')) skipped.push(p);
    else files.push(p);
  }
  return { files, skipped };
}

const DIFF_ARGS = [
  'diff',
  '--binary',
  '--full-index',
  '--no-color',
  '--no-ext-diff',
  '--no-textconv',
  '--no-renames',
  '--ignore-submodules=all',
  '--src-prefix=a/',
  '--dst-prefix=b/',
];

/**
 * Two patches that together restore tracked changes exactly: index vs HEAD (what is staged) and
 * worktree vs index (what is not). Written straight to files with --output so a large binary
 * change never sits in memory. Returns the byte sizes (0 = nothing to restore).
 * Both compare objects only: the worktree side is a snapshot of the tracked files (src/git/
 * snapshot.ts, read fd-relative), so git never reads agent files through the worktree path.
 */
export async function writeTrackedChanges(
  repo: GitRepo,
  wt: WorktreeHandle,
  out: { staged: string; unstaged: string },
  call: GitCall = {},
): Promise<{ staged: number; unstaged: number }> {
  const o = { ...wtEnv(wt), signal: call.signal, timeoutMs: call.timeoutMs, noOptionalLocks: true };
  await repo.run([...DIFF_ARGS, '--cached', `--output=${out.staged}`, 'HEAD', '--'], o);
  const [fromIndex, snap] = await Promise.all([
    indexTree(repo, wt, call.signal),
    snapshotWorktree(repo, wt, { untracked: false, maxFileBytes: MAX_CHECKPOINT_FILE_BYTES, oversize: 'refuse', signal: call.signal }),
  ]);
  try {
    await repo.run([...DIFF_ARGS, `--output=${out.unstaged}`, '--end-of-options', fromIndex, snap.tree, '--'], {
      cwd: repo.root,
      signal: call.signal,
      timeoutMs: call.timeoutMs,
    });
  } finally {
    await rm(snap.index, { force: true });
  }
  return { staged: (await stat(out.staged)).size, unstaged: (await stat(out.unstaged)).size };
}

/** The commit checked out in the worktree and the branch it is on (full ref, undefined when detached). */
export async function worktreeHead(repo: GitRepo, wt: WorktreeHandle, call: GitCall = {}): Promise<{ sha: string; branch: string | undefined }> {
  const sha = line((await repo.run(['rev-parse', '--verify', 'HEAD'], { ...wtEnv(wt), signal: call.signal })).stdout);
  return { sha, branch: await repo.worktreeBranch(wt, call.signal) };
}

export interface BundleRef {
  readonly sha: string;
  readonly ref: string;
}

/** The refs a bundle file advertises (`git bundle list-heads`). */
export async function bundleHeads(repo: GitRepo, file: string, call: GitCall = {}): Promise<BundleRef[]> {
  const res = await repo.run(['bundle', 'list-heads', file], { cwd: repo.root, signal: call.signal, timeoutMs: call.timeoutMs, allowFileProtocol: true });
  const out: BundleRef[] = [];
  for (const l of res.stdout.toString('utf8').split('\n')) {
    const m = /^([0-9a-f]{40,64}) (refs\/\S+)$/.exec(l.trim());
    if (m) out.push({ sha: m[1] as string, ref: m[2] as string });
  }
  return out;
}

/**
 * Fetch the bundle's branch and notes into temporary refs of the user's repository. Nothing but
 * the given refspecs is fetched, FETCH_HEAD is not written, tags are not followed.
 */
export async function fetchBundle(repo: GitRepo, file: string, refspecs: readonly string[], call: GitCall = {}): Promise<void> {
  await repo.run(['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--no-recurse-submodules', file, ...refspecs], {
    cwd: repo.root,
    signal: call.signal,
    timeoutMs: call.timeoutMs ?? DEFAULT_GIT_TIMEOUT_MS,
    // A bundle file is fetched over the file protocol, which the hardened base otherwise forbids.
    allowFileProtocol: true,
  });
}

export async function deleteRefs(repo: GitRepo, refs: readonly string[]): Promise<void> {
  if (refs.length === 0) return;
  await repo.run(['update-ref', '--stdin'], { cwd: repo.root, input: refs.map((r) => `delete ${r}\n`).join('') });
}

/** Whether `ancestor` is reachable from `tip`. */
export async function isAncestor(repo: GitRepo, ancestor: string, tip: string, call: GitCall = {}): Promise<boolean> {
  const res = await repo.run(['merge-base', '--is-ancestor', ancestor, tip], { cwd: repo.root, signal: call.signal, ok: [0, 1] });
  return res.exitCode === 0;
}

/**
 * Re-apply exported tracked changes: the staged patch to index and worktree, then the unstaged
 * patch to the worktree only. `--whitespace=nowarn` keeps a user's apply.whitespace=fix from
 * altering the content. git apply refuses paths outside the worktree and paths behind symlinks.
 */
export async function applyTrackedChanges(
  repo: GitRepo,
  wt: WorktreeHandle,
  patches: { staged?: string; unstaged?: string },
  call: GitCall = {},
): Promise<void> {
  const o = { ...wtEnv(wt), signal: call.signal, timeoutMs: call.timeoutMs };
  const apply = async (file: string, index: boolean) => {
    if ((await stat(file)).size === 0) return;
    try {
      await repo.run(['apply', '--whitespace=nowarn', ...(index ? ['--index'] : []), file], o);
    } catch (err) {
      if (!isBerthError(err, 'GIT_ERROR')) throw err;
      // Both patches were made against this very commit, so a refusal means a damaged or forged export.
      throw new BerthError(
        'BAD_INPUT',
        `the export's ${index ? 'staged' : 'unstaged'} changes do not apply to its own branch (${err.message}): the export is damaged or was tampered with; re-export the workspace`,
        {
          cause: err,
          details: { reason: 'patch' },
        },
      );
    }
  };
  if (patches.staged) await apply(patches.staged, true);
  if (patches.unstaged) await apply(patches.unstaged, false);
}

/**
 * Remove berth notes that name `name` but hang on another root commit (left by a crashed create
 * or a branch deleted by hand): the library picks the newest note per name, and an imported
 * workspace must not be shadowed by such a leftover. Mirrors Workspaces.create.
 */
export async function dropStaleNotes(repo: GitRepo, name: string, keep: string, call: GitCall = {}): Promise<void> {
  const notes = await repo.listNotes(call.signal);
  const blobs = await repo.readBlobs(
    notes.map((n) => n.blob),
    call.signal,
  );
  for (const n of notes) {
    if (n.object === keep) continue;
    const state = parseState(blobs.get(n.blob)?.toString('utf8') ?? '');
    if (state?.name === name) await repo.removeNote(n.object, call.signal);
  }
}

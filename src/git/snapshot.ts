/**
 * THE way agent-written worktree content becomes git objects: `snapshotWorktree(wt) -> tree`.
 * Checkpoint (commitAll) and diff (diffWorktree) both use it; host git never runs `git add` in
 * a worktree, so it never opens an agent file by path for content it then stores or prints.
 *
 *  1. Names: `git status --porcelain -z --untracked-files=all --ignore-submodules=all` lists the
 *     changed and untracked paths (git may compare contents, but stores and prints only names).
 *  2. Content: each listed path is read only through `walkTree` (src/fs/tree.ts): fd-relative,
 *     O_NOFOLLOW, fstat-checked. A directory swapped for a symlink mid-walk is never followed.
 *     Regular files keep only the executable bit (100755/100644); symlinks are stored as their
 *     target text (120000); FIFOs, sockets and devices are skipped with a warning.
 *  3. Blobs: one `git hash-object -w --no-filters --stdin-paths` per batch, given
 *     /proc/<our pid>/fd/<n> of the handles we opened, so git reads exactly the file we verified
 *     (the magic link names the open file, not a path) and no attribute or filter applies.
 *  4. Tree: a private index (a copy of the worktree's, in its admin dir) updated with
 *     `update-index -z --index-info`, then `write-tree`.
 *
 * Content is stored byte for byte: no clean filter, no end-of-line conversion (core.autocrlf) and
 * no LFS pointer is applied, since those run configured programs on agent-written data.
 *
 * Nested repositories (a `.git` directory or file anywhere below the root): never recorded as a
 * gitlink. Their files are snapshotted as plain files (ignore rules applied with `check-ignore`)
 * and every `.git` entry is skipped, so the second checkpoint sees them as ordinary tracked files.
 * Gitlinks already in the index or base are never entered (`--ignore-submodules=all`).
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, open, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BerthError } from '../errors.js';
import { walkTree, type TreeEntry } from '../fs/index.js';
import { isSha, parseNulRecords, type WorktreeHandle } from './types.js';
import type { GitRunner } from './worktree.js';

/** Checkpoints refuse files over this size (git hosts refuse them too, e.g. GitHub at 100 MiB). */
export const MAX_CHECKPOINT_FILE_BYTES = 100 * 1024 * 1024;
/** A diff shows a placeholder for files over this size instead of reading them. */
export const MAX_DIFF_FILE_BYTES = 4 * 1024 * 1024;
/** Open handles passed to one hash-object (stays well under the fd limit). */
const BATCH = 128;
const ZERO = '0000000000000000000000000000000000000000';

export interface SnapshotOptions {
  /** Files over this size: `refuse` (FILE_TOO_LARGE) or `placeholder` (a short note blob). */
  readonly maxFileBytes: number;
  readonly oversize: 'refuse' | 'placeholder';
  /** Include untracked (not ignored) files; false snapshots tracked files only (default true). */
  readonly untracked?: boolean;
  /** Write the tree object (default true); a diff reads the private index instead. */
  readonly writeTree?: boolean;
  /**
   * Let the status step write refreshed stat data back to the worktree's index (git's optional
   * lock). Entries a checkpoint installed carry no stat data, so without this every later status
   * would re-read those files; a refresh compares content, it never stores it.
   */
  readonly refresh?: boolean;
  readonly signal?: AbortSignal | undefined;
}

export interface Snapshot {
  /** The tree ('' with writeTree: false). */
  readonly tree: string;
  /** The private index the tree was written from (caller removes it, or installs it). */
  readonly index: string;
  readonly warnings: string[];
  /** Files replaced by a placeholder (oversize: placeholder). */
  readonly placeholders: string[];
}

interface Pending {
  readonly rel: string;
  readonly mode: string;
  readonly handle?: FileHandle;
  /** A host-owned file with the content (symlink target text, placeholder). */
  readonly tmpFile?: string;
}

function isGitComponent(rel: string): boolean {
  return rel.split('/').some((c) => c.toLowerCase() === '.git');
}

/** Paths git status lists (any X/Y), and untracked directories it reports whole (nested repos). */
async function changedNames(repo: GitRunner, env: Record<string, string>, wt: WorktreeHandle, untracked: boolean, refresh: boolean, signal?: AbortSignal) {
  const res = await repo.run(['status', '--porcelain=v1', '-z', `--untracked-files=${untracked ? 'all' : 'no'}`, '--ignore-submodules=all', '--no-renames'], {
    cwd: wt.path,
    env,
    signal,
    noOptionalLocks: !refresh,
  });
  const files = new Set<string>();
  const nested: string[] = [];
  for (const rec of parseNulRecords(res.stdout)) {
    const p = rec.slice(3);
    if (p.endsWith('/')) nested.push(p.slice(0, -1));
    else if (p) files.add(p);
  }
  return { files, nested };
}

function ancestorsOf(paths: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const p of paths) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) out.add(parts.slice(0, i).join('/'));
  }
  return out;
}

async function hashBatch(repo: GitRunner, batch: Pending[], signal?: AbortSignal): Promise<string[]> {
  const paths = batch.map((p) => p.tmpFile ?? `/proc/${process.pid}/fd/${p.handle?.fd ?? -1}`);
  const res = await repo.run(['hash-object', '-w', '--no-filters', '--stdin-paths'], { cwd: repo.root, signal, input: `${paths.join('\n')}\n` });
  const shas = res.stdout.toString('utf8').split('\n').filter(Boolean);
  if (shas.length !== batch.length || !shas.every(isSha))
    throw new BerthError('GIT_ERROR', `git hash-object returned ${shas.length} ids for ${batch.length} files`);
  return shas;
}

/** Files and symlinks below nested repositories (their `.git` skipped), minus ignored ones. */
async function nestedFiles(repo: GitRunner, wt: WorktreeHandle, nested: readonly string[], signal?: AbortSignal): Promise<Set<string>> {
  if (nested.length === 0) return new Set();
  const inNested = (rel: string) => nested.some((n) => rel === n || rel.startsWith(`${n}/`));
  const ancestors = ancestorsOf(nested);
  const include = (rel: string, kind: string) => !isGitComponent(rel) && (inNested(rel) || (kind === 'dir' && ancestors.has(rel)));
  const found: string[] = [];
  for await (const e of walkTree(wt.path, { include, ...(signal ? { signal } : {}) })) if (e.kind !== 'dir' && inNested(e.rel)) found.push(e.rel);
  return notIgnored(repo, wt, found, signal);
}

/** Index lines (`-z --index-info`) for every listed path: added, changed or removed. */
async function collectEntries(repo: GitRunner, wt: WorktreeHandle, names: { files: Set<string>; nested: string[] }, opts: SnapshotOptions, tmp: string) {
  const warnings: string[] = [];
  const placeholders: string[] = [];
  const lines: string[] = [];
  const seen = new Set<string>();
  const wanted = new Set([...names.files, ...(await nestedFiles(repo, wt, names.nested, opts.signal))]);
  const ancestors = ancestorsOf(wanted);
  let batch: Pending[] = [];
  const flush = async () => {
    const cur = batch;
    batch = [];
    if (cur.length === 0) return;
    try {
      const shas = await hashBatch(repo, cur, opts.signal);
      cur.forEach((p, i) => lines.push(`${p.mode} ${shas[i]}\t${p.rel}`));
    } finally {
      await Promise.all(cur.map((p) => p.handle?.close()));
    }
  };
  const include = (rel: string, kind: string) => !isGitComponent(rel) && (wanted.has(rel) || (kind === 'dir' && ancestors.has(rel)));
  const onSpecial = (rel: string) => {
    if (wanted.has(rel)) warnings.push(`${rel} is not a regular file, directory or symlink (a FIFO, socket or device): skipped`);
  };
  let n = 0;
  try {
    for await (const e of walkTree(wt.path, { include, onSpecial, ...(opts.signal ? { signal: opts.signal } : {}) })) {
      if (e.kind === 'dir' || !wanted.has(e.rel)) continue;
      const p = await pendingFor(e, opts, tmp, n++, placeholders);
      if (!p) continue;
      seen.add(e.rel);
      batch.push(p);
      if (batch.length >= BATCH) await flush();
    }
    await flush();
  } finally {
    await Promise.all(batch.map((p) => p.handle?.close().catch(() => undefined)));
  }
  const removed = [...names.files].filter((f) => !seen.has(f)).map((f) => `0 ${ZERO}\t${f}`);
  return { lines: [...removed, ...lines], warnings, placeholders };
}

async function pendingFor(e: TreeEntry, opts: SnapshotOptions, tmp: string, n: number, placeholders: string[]): Promise<Pending | undefined> {
  if (e.kind === 'symlink') {
    const tmpFile = join(tmp, `l${n}`);
    await writeFile(tmpFile, e.linkTarget ?? '');
    return { rel: e.rel, mode: '120000', tmpFile };
  }
  const handle = await e.open();
  if (!handle) return undefined;
  const mode = (e.mode & 0o100) !== 0 ? '100755' : '100644';
  const size = (await handle.stat()).size;
  if (size <= opts.maxFileBytes) return { rel: e.rel, mode, handle };
  await handle.close();
  if (opts.oversize === 'refuse') {
    throw new BerthError(
      'FILE_TOO_LARGE',
      `${JSON.stringify(e.rel)} is ${size} bytes, over berth's ${opts.maxFileBytes}-byte limit for one checkpointed file: delete it, move it out of the worktree, or add it to .gitignore, then retry`,
      {
        details: { path: e.rel, size, limit: opts.maxFileBytes },
      },
    );
  }
  placeholders.push(e.rel);
  const tmpFile = join(tmp, `p${n}`);
  await writeFile(tmpFile, `[berth: ${e.rel} is ${size} bytes, over the ${opts.maxFileBytes}-byte diff limit; content not shown]\n`);
  return { rel: e.rel, mode, tmpFile };
}

/** Files inside nested repositories that the worktree's ignore rules do not exclude. */
async function notIgnored(repo: GitRunner, wt: WorktreeHandle, found: readonly string[], signal?: AbortSignal): Promise<Set<string>> {
  const all = new Set(found);
  if (all.size === 0) return all;
  const res = await repo.run(['check-ignore', '-z', '--stdin', '--no-index'], {
    cwd: wt.path,
    env: { GIT_DIR: wt.gitDir, GIT_WORK_TREE: wt.path },
    signal,
    ok: [0, 1],
    input: `${[...all].join('\0')}\0`,
  });
  for (const p of parseNulRecords(res.stdout)) all.delete(p);
  return all;
}

/** A private copy of the worktree's index; without one (removed by hand), HEAD's tree. */
async function copyIndex(repo: GitRunner, wt: WorktreeHandle, to: string, signal?: AbortSignal): Promise<void> {
  const from = join(wt.gitDir, 'index');
  try {
    await copyFile(from, to);
    const st = await stat(from);
    await utimes(to, st.atime, st.mtime);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await repo.run(['read-tree', 'HEAD'], { cwd: wt.path, env: { GIT_DIR: wt.gitDir, GIT_WORK_TREE: wt.path, GIT_INDEX_FILE: to }, signal });
  }
}

/** Snapshot the worktree into a tree object; see the module comment. */
export async function snapshotWorktree(repo: GitRunner, wt: WorktreeHandle, opts: SnapshotOptions): Promise<Snapshot> {
  const index = join(wt.gitDir, `berth-snapshot-${randomBytes(6).toString('hex')}.index`);
  const tmp = await mkdtemp(join(tmpdir(), 'berth-snap-'));
  try {
    // Names first, against the worktree's own index (read-only): its mtime is what tells git
    // which entries are "racily clean" and must be compared by content, so a copy would hide
    // same-second edits. The copy keeps that mtime for the same reason (see racy-git.txt).
    const names = await changedNames(repo, { GIT_DIR: wt.gitDir, GIT_WORK_TREE: wt.path }, wt, opts.untracked ?? true, opts.refresh ?? false, opts.signal);
    await copyIndex(repo, wt, index, opts.signal);
    const env = { GIT_DIR: wt.gitDir, GIT_WORK_TREE: wt.path, GIT_INDEX_FILE: index };
    const { lines, warnings, placeholders } = await collectEntries(repo, wt, names, opts, tmp);
    if (lines.length > 0) {
      await repo.run(['update-index', '-z', '--index-info'], { cwd: wt.path, env, signal: opts.signal, input: `${lines.join('\0')}\0` });
    }
    if (opts.writeTree === false) return { tree: '', index, warnings, placeholders };
    const tree = (await repo.run(['write-tree'], { cwd: wt.path, env, signal: opts.signal })).stdout.toString('utf8').trim();
    if (!isSha(tree)) throw new BerthError('GIT_ERROR', `git write-tree printed ${JSON.stringify(tree)} instead of a tree id`);
    return { tree, index, warnings, placeholders };
  } catch (err) {
    await rm(index, { force: true });
    throw err;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Snapshot, then commit on the worktree's branch (commit-tree + a compare-and-swap update-ref) and
 * install the snapshot's index as the worktree's. Returns undefined when nothing changed.
 */
export async function commitAll(
  repo: GitRunner,
  wt: WorktreeHandle,
  branch: { readonly ref: string; readonly head: string },
  message: string,
  signal?: AbortSignal,
): Promise<{ sha: string; filesChanged: number; warnings: string[] } | undefined> {
  const snap = await snapshotWorktree(repo, wt, { maxFileBytes: MAX_CHECKPOINT_FILE_BYTES, oversize: 'refuse', refresh: true, signal });
  try {
    const { head } = branch;
    const names = await repo.run(['diff-tree', '-r', '-z', '--name-only', '--no-renames', '--ignore-submodules=all', head, snap.tree], {
      cwd: repo.root,
      signal,
    });
    const filesChanged = parseNulRecords(names.stdout).length;
    if (filesChanged === 0) return undefined;
    const sha = (await repo.run(['commit-tree', '-p', head, '-F', '-', snap.tree], { cwd: repo.root, signal, input: message })).stdout.toString('utf8').trim();
    if (!isSha(sha)) throw new BerthError('GIT_ERROR', `git commit-tree printed ${JSON.stringify(sha)} instead of a commit id`);
    // Compare-and-swap: a branch moved since `head` was read fails here instead of losing work.
    await repo.run(['update-ref', '-m', 'berth: checkpoint', branch.ref, sha, head], { cwd: repo.root, signal });
    await rename(snap.index, join(wt.gitDir, 'index'));
    return { sha, filesChanged, warnings: snap.warnings };
  } finally {
    await rm(snap.index, { force: true });
  }
}

/** The tree of the worktree's index as it is (written from a copy, so the index is not touched). */
export async function indexTree(repo: GitRunner, wt: WorktreeHandle, signal?: AbortSignal): Promise<string> {
  const index = join(wt.gitDir, `berth-snapshot-${randomBytes(6).toString('hex')}.index`);
  try {
    await copyIndex(repo, wt, index, signal);
    const tree = (await repo.run(['write-tree'], { cwd: wt.path, env: { GIT_DIR: wt.gitDir, GIT_WORK_TREE: wt.path, GIT_INDEX_FILE: index }, signal })).stdout
      .toString('utf8')
      .trim();
    if (!isSha(tree)) throw new BerthError('GIT_ERROR', `git write-tree printed ${JSON.stringify(tree)} instead of a tree id`);
    return tree;
  } finally {
    await rm(index, { force: true });
  }
}

export interface DiffText {
  readonly text: string;
  /** True when the diff was longer than maxBytes, or files were replaced by placeholders. */
  readonly truncated: boolean;
  /** Size of the whole diff in bytes. */
  readonly bytes: number;
  readonly placeholders: readonly string[];
}

const DIFF_ARGS = ['diff', '--no-color', '--no-ext-diff', '--no-textconv', '--ignore-submodules=all', '--src-prefix=a/', '--dst-prefix=b/'];

interface DiffOpts {
  readonly stat?: boolean | undefined;
  readonly maxBytes: number;
  readonly signal?: AbortSignal | undefined;
}

/**
 * `git diff a b` over objects only — or, with `index`, `git diff --cached a` against that private
 * index (its entries are objects too) — written to a file by git and read back up to `maxBytes`.
 */
export async function diffObjects(
  repo: GitRunner,
  a: string,
  b: string | { readonly index: string; readonly wt: WorktreeHandle },
  opts: DiffOpts,
): Promise<DiffText> {
  const tmp = await mkdtemp(join(tmpdir(), 'berth-diff-'));
  try {
    const out = join(tmp, 'diff');
    const revs = typeof b === 'string' ? ['--end-of-options', a, b] : ['--cached', '--end-of-options', a];
    const args = [...DIFF_ARGS, ...(opts.stat ? ['--stat=200'] : []), `--output=${out}`, ...revs, '--'];
    const env = typeof b === 'string' ? {} : { env: { GIT_DIR: b.wt.gitDir, GIT_WORK_TREE: b.wt.path, GIT_INDEX_FILE: b.index } };
    await repo.run(args, { cwd: repo.root, signal: opts.signal, ...env });
    const bytes = (await stat(out)).size;
    const fh = await open(out, 'r');
    try {
      const buf = Buffer.alloc(Math.min(bytes, opts.maxBytes));
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      return { text: buf.subarray(0, bytesRead).toString('utf8'), truncated: bytes > opts.maxBytes, bytes, placeholders: [] };
    } finally {
      await fh.close();
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Diff of `base` against the worktree as it is on disk (untracked files included), capped. */
export async function diffWorktree(repo: GitRunner, wt: WorktreeHandle, base: string, opts: DiffOpts): Promise<DiffText> {
  const snap = await snapshotWorktree(repo, wt, { maxFileBytes: MAX_DIFF_FILE_BYTES, oversize: 'placeholder', writeTree: false, signal: opts.signal });
  try {
    const d = await diffObjects(repo, base, { index: snap.index, wt }, opts);
    return { ...d, truncated: d.truncated || snap.placeholders.length > 0, placeholders: snap.placeholders };
  } finally {
    await rm(snap.index, { force: true });
  }
}

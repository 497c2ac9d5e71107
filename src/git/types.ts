/** Shapes and pure parsers shared by the git modules (no side effects here). */

export const NOTES_REF = 'refs/notes/berth';
export const BRANCH_REF_PREFIX = 'refs/heads/berth/';

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

const SHA_RE = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

export function isSha(s: string): boolean {
  return SHA_RE.test(s);
}

export function parseNulRecords(buf: Buffer): string[] {
  const text = buf.toString('utf8');
  const parts = text.split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** Counts entries of `git status --porcelain=v1 -z` (renames/copies carry a second path). */
export function parseStatus(buf: Buffer): StatusCounts {
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

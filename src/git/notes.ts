/**
 * Writing berth's state notes (refs/notes/berth) and quarantining unreadable ones, split out of
 * repo.ts. Reads go through the batch reader (repo.ts listNotes, batch.ts notesInTree).
 */
import { BerthError } from '../errors.js';
import { NOTES_REF, isSha } from './types.js';
import type { GitRunner } from './worktree.js';

/** A single non-blank line without trailing whitespace plus one newline (see writeNote). */
const STRIPSPACE_STABLE_RE = /^[^\n]*[^\s]\n$/;

/** Keeps an unreadable note's blob reachable under `ref` (refs/berth/quarantine/...). */
export async function quarantineNote(repo: GitRunner, ref: string, blob: string, signal?: AbortSignal): Promise<string> {
  await repo.run(['update-ref', '-m', 'berth: quarantine an unreadable state note', ref, blob], { cwd: repo.root, signal });
  return ref;
}

/** Replaces the note on `object` with `content`, byte for byte (no message clean-up). */
export async function writeNote(repo: GitRunner, object: string, content: string, signal?: AbortSignal): Promise<void> {
  if (!isSha(object)) throw new BerthError('BAD_INPUT', `${JSON.stringify(object)} is not an object id`);
  if (STRIPSPACE_STABLE_RE.test(content)) {
    // `-F` runs git's stripspace over the message (git < 2.42 has no --no-stripspace); one line
    // without trailing blanks, ending in one newline, is a fixed point of it, so the note is
    // still byte for byte `content`, in one process instead of hash-object + notes. On a warm
    // claim's path, so spawned directly (run.ts gitDirect): every argument is built here.
    await repo.runDirect(['notes', `--ref=${NOTES_REF}`, 'add', '--force', '-F', '-', '--end-of-options', object], { cwd: repo.root, signal, input: content });
    return;
  }
  const blob = (await repo.run(['hash-object', '-w', '--stdin'], { cwd: repo.root, signal, input: content })).stdout.toString('utf8').trim();
  if (!isSha(blob)) throw new BerthError('GIT_ERROR', `git hash-object printed ${JSON.stringify(blob)} instead of an object id`);
  await repo.run(['notes', `--ref=${NOTES_REF}`, 'add', '--force', '-C', blob, '--end-of-options', object], { cwd: repo.root, signal });
}

export async function removeNote(repo: GitRunner, object: string, signal?: AbortSignal): Promise<void> {
  await repo.run(['notes', `--ref=${NOTES_REF}`, 'remove', '--ignore-missing', '--end-of-options', object], { cwd: repo.root, signal });
}

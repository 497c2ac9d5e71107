/**
 * The contents of the one file a confined path resolved to (files-walk.ts): opening it as a
 * regular file, reading it by lines, and replacing it atomically. Policies:
 *  - Writes are atomic (temp file in the same directory + rename). Besides crash/reader safety, the
 *    rename replaces the directory entry instead of writing into the inode, so a hard link the agent
 *    planted inside the worktree can never turn a write into a write elsewhere.
 *  - When berth runs as root on the host, replaced files keep their owner and new files/dirs take
 *    their parent's owner (adoptParentOwner), so the (usually unprivileged) container user can
 *    still modify them.
 *  - FIFOs, sockets and devices are never opened for reading or writing (O_NONBLOCK on open and a
 *    regular-file check), so a planted FIFO cannot hang the runner.
 */
import { randomBytes } from 'node:crypto';
import { constants as C, type Stats } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import type { z } from 'zod';
import { BerthError } from '../../src/errors.js';
import { adoptParentOwner, at, quote } from './files-resolve.js';
import type { ReadOptionsSchema, ReadResult } from './files-types.js';
import { checkAbort, LineCollector, readResult, tooLarge, typeOf } from './files-util.js';
import type { Resolved } from './files-walk.js';

const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * Read the open file `fh`: whole (refused past `maxFileBytes`) or the inclusive 1-based line range
 * `o` names, of a file of any size. A file with a NUL byte is reported as binary, without content.
 */
export async function readLines(
  fh: FileHandle,
  p: string,
  o: z.output<typeof ReadOptionsSchema>,
  maxFileBytes: number,
  signal: AbortSignal | undefined,
): Promise<ReadResult> {
  const ranged = o.startLine !== undefined || o.endLine !== undefined;
  const start = o.startLine ?? 1;
  const st = await fh.stat();
  if (!ranged && st.size > maxFileBytes) {
    throw tooLarge(p, st.size, maxFileBytes, 'Read it in parts with startLine/endLine.');
  }
  const lines = new LineCollector(start, o.endLine ?? Number.MAX_SAFE_INTEGER, maxFileBytes);
  const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, Math.max(st.size, 1) + 1));
  for (;;) {
    checkAbort(signal, `read ${quote(p)}`);
    const { bytesRead } = await fh.read(buf, 0, buf.length, null);
    if (bytesRead === 0) break;
    lines.feed(buf.subarray(0, bytesRead));
    // Binary: nothing more to learn. Whole-file read past the cap: the file grew after fstat.
    if (lines.sawNul || (!ranged && lines.full)) break;
  }
  return readResult(lines, p, { start, ranged }, maxFileBytes);
}

/** Open the resolved leaf as a regular file: O_NOFOLLOW (a swapped-in symlink fails), O_NONBLOCK (FIFOs). */
export async function openLeaf(r: Resolved, p: string, what: string, flags: number): Promise<FileHandle> {
  if (!r.stat) throw new BerthError('FILE_NOT_FOUND', `${what} ${quote(p)}: the file does not exist. Check the path with list.`);
  if (r.stat.isDirectory()) throw new BerthError('BAD_INPUT', `${what} ${quote(p)}: it is a directory. Use list to see its entries.`);
  if (!r.stat.isFile()) throw new BerthError('BAD_INPUT', `${what} ${quote(p)}: it is not a regular file (${typeOf(r.stat)}).`);
  const fh = await fs.open(at(r.dir, r.name), flags | C.O_NOFOLLOW | C.O_NONBLOCK);
  const st = await fh.stat().catch(async (err: unknown) => {
    await fh.close();
    throw err;
  });
  if (!st.isFile()) {
    await fh.close();
    throw new BerthError('BAD_INPUT', `${what} ${quote(p)}: it is not a regular file (${typeOf(st)}).`);
  }
  return fh;
}

/** Write `data` to a temp file beside the target and rename it over the target. */
export async function replaceAtomically(r: Resolved, data: Buffer, existing: Stats | null, p: string): Promise<void> {
  const tmp = `.berth-${randomBytes(8).toString('hex')}.tmp`;
  const tmpPath = at(r.dir, tmp);
  const fh = await fs.open(tmpPath, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o666);
  let renamed = false;
  try {
    try {
      if (existing) {
        // chown before chmod: chown clears set-id bits.
        if (existing.uid !== process.getuid?.() || existing.gid !== process.getgid?.()) {
          await fh.chown(existing.uid, existing.gid).catch(() => undefined);
        }
        await fh.chmod(existing.mode & 0o7777);
      } else {
        await adoptParentOwner(r.dir, fh);
      }
      await fh.writeFile(data);
    } finally {
      await fh.close();
    }
    await fs.rename(tmpPath, at(r.dir, r.name));
    renamed = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EISDIR') {
      throw new BerthError('BAD_INPUT', `write ${quote(p)}: it became a directory. Write to a file path inside it.`, { cause: err });
    }
    throw err;
  } finally {
    if (!renamed) await fs.unlink(tmpPath).catch(() => undefined);
  }
}

/**
 * Workspace file operations exposed to agents (runner API and MCP tools). The worktree is a host
 * directory bind-mounted into the container, so these run on the host, directly on the worktree:
 * fast (no docker exec round trip) but only safe because every path is confined by the walk in
 * files-resolve.ts. Read that file's header for the threat model and the remaining TOCTOU window.
 * A resolved file's contents are read and atomically replaced by files-content.ts, whose header
 * says how writes stay atomic, keep their owner and never open a FIFO.
 *
 * One more policy beyond confinement: the worktree's `.git` (a file pointing at the main
 * repository's gitdir, see https://git-scm.com/docs/git-worktree#_details) cannot be written,
 * edited or deleted, so an agent can't repoint its worktree at another gitdir; a `.git` directory
 * (plain checkout) can't be entered for writing either, so no hooks or config can be planted for
 * the host's git.
 */
import { constants as C, type Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { BerthError } from '../../src/errors.js';
import { openLeaf, readLines, replaceAtomically } from './files-content.js';
import { editBytes } from './files-edit.js';
import {
  ReadOptionsSchema,
  WriteOptionsSchema,
  EditRequestSchema,
  ListOptionsSchema,
  DeleteOptionsSchema,
  WorkspaceFilesOptionsSchema,
  type ReadOptions,
  type WriteOptions,
  type EditRequest,
  type ListOptions,
  type DeleteOptions,
  type WorkspaceFilesOptions,
  type ReadResult,
  type WriteResult,
  type EditResult,
  type ListEntry,
  type ListResult,
  type DeleteResult,
  type StatResult,
} from './files-types.js';
import { entryOf, listDir, removeTree, type ListQueueItem } from './files-tree.js';
import { checkAbort, displayOf, parse, tooLarge, typeOf, writeBytes } from './files-util.js';
import { at, closeDir, fsError, openDirAt, openStrict, quote, toRelParts, useFdMode, type RootInfo } from './files-resolve.js';
import { walk, type Resolved, type WalkOptions } from './files-walk.js';

export type { EditMatch } from './files-edit.js';
export type { ResolveMode } from './files-resolve.js';
export {
  DEFAULT_MAX_FILE_BYTES,
  ReadOptionsSchema,
  WriteOptionsSchema,
  EditRequestSchema,
  ListOptionsSchema,
  DeleteOptionsSchema,
  WorkspaceFilesOptionsSchema,
} from './files-types.js';
export type {
  ReadOptions,
  WriteOptions,
  EditRequest,
  ListOptions,
  DeleteOptions,
  WorkspaceFilesOptions,
  FileType,
  ReadResult,
  WriteResult,
  EditResult,
  ListEntry,
  ListResult,
  DeleteResult,
  StatResult,
} from './files-types.js';

export class WorkspaceFiles {
  readonly root: string;
  readonly maxFileBytes: number;
  readonly containerWorkdir: string | undefined;
  private readonly fdMode: boolean;
  private rootInfo: Promise<RootInfo> | undefined;

  constructor(root: string, options: WorkspaceFilesOptions = {}) {
    if (typeof root !== 'string' || !path.isAbsolute(root)) {
      throw new BerthError('BAD_INPUT', `workspace root ${quote(String(root))} must be an absolute host path.`);
    }
    const o = parse(WorkspaceFilesOptionsSchema, options, 'WorkspaceFiles options');
    this.root = path.resolve(root);
    this.maxFileBytes = o.maxFileBytes;
    this.containerWorkdir = o.containerWorkdir;
    this.fdMode = useFdMode(o.resolveMode);
  }

  /** Read a whole text file, or an inclusive 1-based line range of a file of any size. */
  async read(p: string, options: ReadOptions = {}): Promise<ReadResult> {
    const { signal, ...rest } = options;
    const o = parse(ReadOptionsSchema, rest, 'read options');
    const r = await this.resolve(p, { followLeaf: true, what: 'read' });
    try {
      const fh = await openLeaf(r, p, 'read', C.O_RDONLY);
      try {
        return await readLines(fh, p, o, this.maxFileBytes, signal);
      } finally {
        await fh.close();
      }
    } catch (err) {
      throw fsError(err, 'read', p);
    } finally {
      await closeDir(r.dir);
    }
  }

  /** Atomically create or replace a file (temp file + rename), keeping an existing file's mode. */
  async write(p: string, content: string | Uint8Array, options: WriteOptions = {}): Promise<WriteResult> {
    const o = parse(WriteOptionsSchema, options, 'write options');
    const data = writeBytes(p, content, this.maxFileBytes);
    const r = await this.resolve(p, { followLeaf: true, createDirs: o.createDirs, mutating: true, what: 'write' });
    try {
      if (r.name === '.' || r.stat?.isDirectory()) {
        throw new BerthError('BAD_INPUT', `write ${quote(p)}: it is a directory. Write to a file path inside it.`);
      }
      if (r.stat && !r.stat.isFile()) {
        throw new BerthError('BAD_INPUT', `write ${quote(p)}: it is not a regular file (${typeOf(r.stat)}). Delete it first or choose another path.`);
      }
      await replaceAtomically(r, data, r.stat, p);
      return { path: displayOf(this.partsOf(p, await this.info())), bytes: data.length, created: r.stat === null };
    } catch (err) {
      throw fsError(err, 'write', p);
    } finally {
      await closeDir(r.dir);
    }
  }

  /**
   * Replace the unique exact occurrence of `search` (or the one `matchId` names). Atomic like write.
   * Note: a change made by the container between our read and our rename is overwritten (last
   * writer wins), as with any editor.
   */
  async edit(p: string, request: EditRequest): Promise<EditResult> {
    const o = parse(EditRequestSchema, request, 'edit request');
    const r = await this.resolve(p, { followLeaf: true, mutating: true, what: 'edit' });
    try {
      let st: Stats;
      let buf: Buffer;
      const fh = await openLeaf(r, p, 'edit', C.O_RDONLY);
      try {
        st = await fh.stat();
        if (st.size > this.maxFileBytes) throw tooLarge(p, st.size, this.maxFileBytes, 'Edit smaller files, or replace the file with write.');
        buf = await fh.readFile();
      } finally {
        await fh.close();
      }
      if (buf.length > this.maxFileBytes) throw tooLarge(p, buf.length, this.maxFileBytes, 'Edit smaller files, or replace the file with write.');
      const { out, ...plan } = editBytes(buf, o, p, this.maxFileBytes);
      await replaceAtomically(r, out, st, p);
      return { path: displayOf(this.partsOf(p, await this.info())), replaced: 1, line: plan.line, matchId: plan.matchId };
    } catch (err) {
      throw fsError(err, 'edit', p);
    } finally {
      await closeDir(r.dir);
    }
  }

  /**
   * List a directory (breadth-first when recursive, names sorted per directory). Symlinks are
   * reported, never followed; `.git` is skipped unless includeGit.
   */
  async list(p = '.', options: ListOptions = {}): Promise<ListResult> {
    const { signal, ...rest } = options;
    const o = parse(ListOptionsSchema, rest, 'list options');
    const root = await this.info();
    const base = displayOf(this.partsOf(p, root));
    const r = await this.resolve(p, { followLeaf: true, what: 'list' });
    const entries: ListEntry[] = [];
    let truncated = false;
    // Pending directories: an open handle while within budget, else real components to re-walk.
    const queue: ListQueueItem[] = [];
    try {
      if (!r.stat) throw new BerthError('FILE_NOT_FOUND', `list ${quote(p)}: it does not exist. Check the parent directory with list.`);
      if (!r.stat.isDirectory()) {
        return { entries: [await entryOf(r.dir, r.name, base, r.stat)], truncated: false };
      }
      const first = r.name === '.' ? await openStrict(root, []) : await openDirAt(r.dir, r.name, root);
      queue.push({ display: base === '.' ? '' : base, dir: first, rel: first.rel });
      const budget = { open: 1 };
      while (queue.length > 0) {
        checkAbort(signal, `list ${quote(p)}`);
        const item = queue.shift() as ListQueueItem;
        let dir = item.dir;
        if (dir) budget.open--;
        else {
          try {
            dir = await openStrict(root, item.rel);
          } catch {
            continue; // removed or swapped for a symlink since we saw it: skip, never follow
          }
        }
        try {
          if (await listDir(dir, item.display, o, root, { entries, queue, budget })) truncated = true;
        } finally {
          await closeDir(dir);
        }
        if (entries.length >= o.maxEntries) {
          if (queue.length > 0) truncated = true;
          break;
        }
      }
      return { entries, truncated };
    } catch (err) {
      throw fsError(err, 'list', p);
    } finally {
      for (const q of queue) await closeDir(q.dir);
      await closeDir(r.dir);
    }
  }

  /**
   * Delete a file, symlink (the link itself, never its target) or directory (non-empty needs
   * recursive). The root and `.git` are refused.
   */
  async delete(p: string, options: DeleteOptions = {}): Promise<DeleteResult> {
    const { signal, ...rest } = options;
    const o = parse(DeleteOptionsSchema, rest, 'delete options');
    const r = await this.resolve(p, { followLeaf: false, mutating: true, what: 'delete' });
    try {
      if (r.name === '.') {
        throw new BerthError(
          'PATH_PROTECTED',
          `delete ${quote(p)}: that is the workspace root, which cannot be deleted. Delete the entries inside it instead.`,
        );
      }
      if (!r.stat) throw new BerthError('FILE_NOT_FOUND', `delete ${quote(p)}: it does not exist. Check the path with list.`);
      const display = displayOf(this.partsOf(p, await this.info()));
      const type = typeOf(r.stat);
      if (type !== 'dir') {
        await fs.unlink(at(r.dir, r.name));
        return { path: display, type, removed: 1 };
      }
      if (!o.recursive) {
        try {
          await fs.rmdir(at(r.dir, r.name));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (err as NodeJS.ErrnoException).code === 'EEXIST') {
            throw new BerthError('BAD_INPUT', `delete ${quote(p)}: the directory is not empty. Pass recursive: true to delete it and everything in it.`, {
              cause: err,
            });
          }
          throw err;
        }
        return { path: display, type, removed: 1 };
      }
      const removed = await removeTree(r.dir, r.name, await this.info(), signal);
      return { path: display, type, removed };
    } catch (err) {
      throw fsError(err, 'delete', p);
    } finally {
      await closeDir(r.dir);
    }
  }

  /** lstat semantics: a symlink is reported as such, with its raw target. */
  async stat(p: string): Promise<StatResult> {
    const r = await this.resolve(p, { followLeaf: false, what: 'stat' });
    try {
      if (!r.stat) throw new BerthError('FILE_NOT_FOUND', `stat ${quote(p)}: it does not exist. Check the path with list.`);
      const type = typeOf(r.stat);
      const target = type === 'symlink' ? await fs.readlink(at(r.dir, r.name)) : undefined;
      return {
        path: displayOf(this.partsOf(p, await this.info())),
        type,
        size: r.stat.size,
        mode: r.stat.mode & 0o7777,
        mtimeMs: r.stat.mtimeMs,
        ...(target === undefined ? {} : { symlinkTarget: target }),
      };
    } catch (err) {
      throw fsError(err, 'stat', p);
    } finally {
      await closeDir(r.dir);
    }
  }

  // -------------------------------------------------------------------------------------------

  private info(): Promise<RootInfo> {
    this.rootInfo ??= fs.realpath(this.root).then(
      (real) => ({ real, given: this.root, containerWorkdir: this.containerWorkdir, fdMode: this.fdMode }),
      (err: unknown) => {
        this.rootInfo = undefined; // let a later call retry once the worktree exists
        throw new BerthError(
          'FILE_NOT_FOUND',
          `workspace root ${quote(this.root)} is not accessible (${(err as NodeJS.ErrnoException).code ?? 'error'}). Is the workspace still open?`,
          { cause: err },
        );
      },
    );
    return this.rootInfo;
  }

  private partsOf(p: string, root: RootInfo): string[] {
    // Re-parsing is cheap and keeps display paths identical to what validation accepted.
    return toRelParts(p, root);
  }

  private async resolve(p: string, opts: WalkOptions): Promise<Resolved> {
    return walk(await this.info(), p, opts);
  }
}

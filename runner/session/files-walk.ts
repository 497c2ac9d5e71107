/**
 * The confined walk itself: an agent path resolved one component at a time from the root, each
 * directory opened with O_NOFOLLOW, symlinks spliced and checked against the root. Read
 * files-resolve.ts's header for the threat model and the one remaining TOCTOU window.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Stats } from 'node:fs';
import { BerthError } from '../../src/errors.js';
import {
  MAX_SYMLINK_HOPS,
  at,
  closeDir,
  errnoOf,
  fsError,
  isGitPath,
  lstatOrNull,
  mapAbsolute,
  mkdirOwned,
  openDirAt,
  openRootDir,
  openStrict,
  quote,
  relString,
  toRelParts,
  type DirRef,
  type RootInfo,
} from './files-resolve.js';

export interface Resolved {
  /** The real parent directory. The caller owns it and must closeDir() it. */
  readonly dir: DirRef;
  /** Leaf name inside `dir`; '.' when the target is the root itself. */
  readonly name: string;
  /** Real components of the target under the root ([] for the root). */
  readonly realParts: readonly string[];
  /** lstat of the leaf at resolution time, null when it does not exist. */
  readonly stat: Stats | null;
}

export interface WalkOptions {
  /** Resolve a symlink in the last component (read/write/edit/list) or act on the link (stat/delete). */
  readonly followLeaf: boolean;
  /** Create missing intermediate directories (write with createDirs). */
  readonly createDirs?: boolean;
  /** A mutation: refuse to enter, create or target the worktree's `.git`. */
  readonly mutating?: boolean;
  /** Verb for messages, e.g. "read". */
  readonly what: string;
}

function protectedError(what: string, display: string): BerthError {
  return new BerthError(
    'PATH_PROTECTED',
    `cannot ${what} ${quote(display)}: the worktree's .git links it to the repository and is off limits to file operations. Use berth's git commands instead.`,
  );
}

/** Resolve an agent path to (real parent dir, leaf name) inside the root. See the file comment. */
export async function walk(root: RootInfo, input: string, opts: WalkOptions): Promise<Resolved> {
  // Validate before opening the root: a refused path must leave no handle behind.
  const parts = toRelParts(input, root);
  const w = new Walker(root, input, opts, parts, await openRootDir(root));
  try {
    return await w.run();
  } catch (err) {
    await closeDir(w.dir);
    throw fsError(err, opts.what, input);
  }
}

/** The state of one walk: the directory reached so far and the components still to resolve. */
class Walker {
  readonly #root: RootInfo;
  readonly #display: string;
  readonly #opts: WalkOptions;
  readonly #queue: string[];
  dir: DirRef;
  #hops = 0;
  #via: string | undefined;
  #viaTarget = '';

  constructor(root: RootInfo, input: string, opts: WalkOptions, parts: string[], dir: DirRef) {
    this.#root = root;
    this.#display = input;
    this.#opts = opts;
    this.#queue = parts;
    this.dir = dir;
  }

  async run(): Promise<Resolved> {
    for (;;) {
      const name = this.#queue.shift();
      if (name === undefined) {
        // The walk ended on a directory (root, or a link to a directory / `..` as last component).
        if (this.dir.rel.length === 0) return { dir: this.dir, name: '.', realParts: [], stat: await fs.lstat(at(this.dir, '.')) };
        const leaf = this.dir.rel[this.dir.rel.length - 1] as string;
        await this.#moveTo(this.dir.rel.slice(0, -1));
        this.#queue.push(leaf);
        continue;
      }
      if (name === '..') {
        if (this.dir.rel.length === 0) throw this.#outside();
        await this.#moveTo(this.dir.rel.slice(0, -1));
        continue;
      }
      if (this.#opts.mutating && this.dir.rel.length === 0 && isGitPath([name])) throw protectedError(this.#opts.what, this.#display);
      if (this.#queue.length === 0) {
        const st = await lstatOrNull(at(this.dir, name));
        if (st?.isSymbolicLink() && this.#opts.followLeaf) {
          await this.#splice(name);
          continue;
        }
        return { dir: this.dir, name, realParts: [...this.dir.rel, name], stat: st };
      }
      const next = await this.#descend(name);
      if (!next) continue;
      await closeDir(this.dir);
      this.dir = next;
    }
  }

  /** Replace the current directory by the one at real components `rel` (opened strictly). */
  async #moveTo(rel: readonly string[]): Promise<void> {
    const parent = await openStrict(this.#root, rel);
    await closeDir(this.dir);
    this.dir = parent;
  }

  /** Open subdirectory `name`; undefined when the walk must look again (a symlink was spliced in). */
  async #descend(name: string): Promise<DirRef | undefined> {
    try {
      return await openDirAt(this.dir, name, this.#root);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT') return this.#createMissing(name);
      if (code !== 'ENOTDIR' && code !== 'ELOOP') throw err;
      const st = await fs.lstat(at(this.dir, name));
      if (st.isDirectory()) {
        // Swapped back to a directory between the open and the lstat: look again (bounded by
        // the hop budget so a swapping agent can't keep us here).
        if (++this.#hops > MAX_SYMLINK_HOPS) throw err;
        this.#queue.unshift(name);
        return undefined;
      }
      if (!st.isSymbolicLink()) {
        throw new BerthError(
          'PATH_INVALID',
          `path ${quote(this.#display)}: ${quote(relString([...this.dir.rel, name]))} is a file, not a directory. Fix the path.`,
        );
      }
      await this.#splice(name);
      return undefined;
    }
  }

  async #createMissing(name: string): Promise<DirRef> {
    const missing = relString([...this.dir.rel, name]);
    if (!this.#opts.createDirs) {
      throw new BerthError(
        'FILE_NOT_FOUND',
        `cannot ${this.#opts.what} ${quote(this.#display)}: directory ${quote(missing)} does not exist.${this.#opts.what === 'write' ? ' Pass createDirs: true to create it.' : ' Check the path with list.'}`,
      );
    }
    if (this.#queue.includes('..')) {
      // Only reachable through a symlink whose target runs through a missing directory and
      // then climbs out of it; the kernel would say ENOENT, and creating it would be a guess.
      throw new BerthError(
        'PATH_INVALID',
        `path ${quote(this.#display)} resolves through the missing directory ${quote(missing)} followed by "..". Create the directory first or fix the link.`,
      );
    }
    await mkdirOwned(this.dir, name);
    return openDirAt(this.dir, name, this.#root);
  }

  /** Put the target of symlink `name` in front of the remaining components. */
  async #splice(name: string): Promise<void> {
    if (++this.#hops > MAX_SYMLINK_HOPS) {
      throw new BerthError(
        'PATH_INVALID',
        `path ${quote(this.#display)}: too many levels of symlinks (more than ${MAX_SYMLINK_HOPS}; a loop?). Fix the links.`,
      );
    }
    const target = await fs.readlink(at(this.dir, name));
    this.#via = relString([...this.dir.rel, name]);
    this.#viaTarget = target;
    let parts: string[];
    if (path.posix.isAbsolute(target)) {
      // Absolute targets are interpreted as the agent sees them: a link to /workspace/x made in the
      // container means <root>/x. Anything else absolute is outside.
      const mapped = mapAbsolute(path.posix.normalize(target), this.#root);
      if (mapped === undefined) throw this.#outside();
      await closeDir(this.dir);
      this.dir = await openRootDir(this.#root);
      parts = mapped.split('/');
    } else {
      parts = target.split('/');
    }
    this.#queue.unshift(...parts.filter((p) => p !== '' && p !== '.'));
  }

  #outside(): BerthError {
    return new BerthError(
      'PATH_OUTSIDE',
      this.#via === undefined
        ? `path ${quote(this.#display)} leads outside the workspace root. Use a path inside the workspace.`
        : `path ${quote(this.#display)} goes through the symlink ${quote(this.#via)} whose target ${quote(this.#viaTarget)} is outside the workspace. Use a path that stays inside the workspace (or fix the link).`,
    );
  }
}

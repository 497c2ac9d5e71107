/**
 * The workspace file tools (files.ts) for a remote workspace, whose tree is a volume the host
 * cannot open (remote.ts). Every operation is a small POSIX sh script exec'd in the session
 * container as the session user, so it needs only sh and the basic utilities (busybox or
 * coreutils: stat, readlink, find, cat, mv, rm, mkdir). Input is validated on the host with the
 * same schemas and path rules as the local backend, results have the same shapes, and failures the
 * same codes and messages.
 *
 * Confinement here is about meaning, not privilege: the scripts run as the agent's own user in the
 * agent's own container, so they can do nothing the agent could not do with exec. Paths that leave
 * the root (through `..` or a symlink) are still refused, and `.git` is still off limits, so the
 * tools behave as for a local workspace. Differences: mtimes have second precision, and a write
 * through a path whose directories an agent swaps mid-call is as racy as the agent's own `mv`.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Containers } from '../../docker/index.js';
import { BerthError } from '../../src/errors.js';
import { editBytes } from './files-edit.js';
import { isGitPath, quote, toRelParts, type RootInfo } from './files-resolve.js';
import {
  DeleteOptionsSchema,
  EditRequestSchema,
  ListOptionsSchema,
  ReadOptionsSchema,
  WorkspaceFilesOptionsSchema,
  WriteOptionsSchema,
  type DeleteOptions,
  type DeleteResult,
  type EditRequest,
  type EditResult,
  type FileType,
  type ListEntry,
  type ListOptions,
  type ListResult,
  type ReadOptions,
  type ReadResult,
  type StatResult,
  type WorkspaceFilesOptions,
  type WriteOptions,
  type WriteResult,
} from './files-types.js';
import { checkAbort, displayOf, LineCollector, parse, readResult, tooLarge, writeBytes } from './files-util.js';

/** What the MCP tools use of a workspace's files, local (files.ts) or remote (this file). */
export type WorkspaceFilesApi = Pick<RemoteWorkspaceFiles, 'read' | 'write' | 'edit' | 'list' | 'delete' | 'stat'>;

/** Most listing output taken from one exec (names and stats; a list is capped at 100k entries anyway). */
const MAX_LIST_BYTES = 32 * 1024 * 1024;

/**
 * $1 root, $2 op, $3 path relative to the root ("." for the root), then op arguments.
 * Failures print "BERTH-ERR <CODE>" on stderr and exit 3.
 */
const SCRIPT = `set -u
root=$1; op=$2; rel=$3; shift 3
err() { printf 'BERTH-ERR %s %s\\n' "$1" "\${2:-}" >&2; exit 3; }
real=$(readlink -f -- "$root") || err NOENT
inside() { case "$1" in "$real"|"$real"/*) return 0;; esac; return 1; }
kind() { if [ -L "$1" ]; then echo symlink; elif [ -d "$1" ]; then echo dir; elif [ -f "$1" ]; then echo file; elif [ -e "$1" ]; then echo other; else echo none; fi; }
p="$root/$rel"; [ "$rel" = . ] && p=$root
case "$rel" in */*) parent="$root/\${rel%/*}";; *) parent=$root;; esac
# Follow the leaf (read, write, edit, list): the resolved target must stay inside the root.
follow() {
  if [ -e "$p" ] || [ -L "$p" ]; then t=$(readlink -f -- "$p") || err OUTSIDE; inside "$t" || err OUTSIDE; p=$t; return; fi
  a=$parent; while [ ! -e "$a" ] && [ "$a" != "$root" ]; do a=\${a%/*}; done
  t=$(readlink -f -- "$a") || err NOENT; inside "$t" || err OUTSIDE
}
nofollow() { t=$(readlink -f -- "$parent" 2>/dev/null) && { inside "$t" || err OUTSIDE; }; }
case "$op" in
stat) nofollow; k=$(kind "$p"); [ "$k" = none ] && err NOENT
  stat -c '%s %Y %a' -- "$p"; echo "$k"; [ "$k" = symlink ] && readlink -- "$p"; exit 0;;
cat) follow; k=$(kind "$p"); [ "$k" = none ] && err NOENT; [ "$k" = dir ] && err ISDIR; [ "$k" = file ] || err NOTREG "$k"
  printf 'SIZE %s\\n' "$(stat -c %s -- "$p")" >&2; exec cat -- "$p";;
write) follow; k=$(kind "$p"); [ "$k" = dir ] && err ISDIR; [ "$k" = none ] || [ "$k" = file ] || err NOTREG "$k"
  [ "$1" = 1 ] && [ "$k" = none ] && { mkdir -p -- "\${p%/*}" || err IO mkdir; }
  [ -d "\${p%/*}" ] || err NOENT
  tmp="\${p%/*}/.berth-$2.tmp"
  cat > "$tmp" || { rm -f -- "$tmp"; err IO write; }
  if [ "$k" = file ]; then chmod "$(stat -c %a -- "$p")" "$tmp"; echo 0; else echo 1; fi
  mv -f -- "$tmp" "$p" || { rm -f -- "$tmp"; err IO rename; }; exit 0;;
delete) nofollow; k=$(kind "$p"); [ "$k" = none ] && err NOENT
  if [ "$k" = dir ]; then
    if [ "$1" = 1 ]; then n=$(find "$p" | wc -l); rm -rf -- "$p" || err IO rm; echo "dir $n"
    else rmdir -- "$p" 2>/dev/null || { [ -n "$(ls -A -- "$p")" ] && err NOTEMPTY; err IO rmdir; }; echo "dir 1"; fi
  else rm -f -- "$p" || err IO rm; echo "$k 1"; fi; exit 0;;
list) follow; k=$(kind "$p"); [ "$k" = none ] && err NOENT
  each='for f; do stat -c "%s %Y %n" -- "$f" || continue; if [ -L "$f" ]; then echo symlink; readlink -- "$f"; elif [ -d "$f" ]; then echo dir; elif [ -f "$f" ]; then echo file; else echo other; fi; printf "\\000"; done'
  if [ "$k" != dir ]; then echo BERTH-SINGLE >&2; exec sh -c "$each" berth-list "$p"; fi
  cd -- "$p" || err IO cd
  depth=; [ "$1" = 1 ] || depth="-maxdepth 1"
  # Listed or not is decided on the host; here .git (and, unless asked for, dot-dirs) are never descended into.
  pat='.*'; [ "$2" = 1 ] && pat=.git
  find . -mindepth 1 $depth \\( -name "$pat" -prune -exec sh -c "$each" berth-list {} + \\) -o -exec sh -c "$each" berth-list {} +
  exit 0;;
esac
err BADOP "$op"`;

interface Failure {
  readonly code: string;
  readonly detail: string;
}

export class RemoteWorkspaceFiles {
  readonly maxFileBytes: number;
  readonly #root: RootInfo;

  constructor(
    private readonly containers: Containers,
    private readonly containerId: string,
    private readonly user: string,
    workdir: string,
    options: WorkspaceFilesOptions = {},
  ) {
    const o = parse(WorkspaceFilesOptionsSchema, { ...options, containerWorkdir: workdir }, 'WorkspaceFiles options');
    this.maxFileBytes = o.maxFileBytes;
    const wd = o.containerWorkdir as string;
    this.#root = { real: wd, given: wd, containerWorkdir: wd, fdMode: false };
  }

  async read(p: string, options: ReadOptions = {}): Promise<ReadResult> {
    const { signal, ...rest } = options;
    const o = parse(ReadOptionsSchema, rest, 'read options');
    const ranged = o.startLine !== undefined || o.endLine !== undefined;
    const start = o.startLine ?? 1;
    const rel = this.#rel(p);
    const lines = new LineCollector(start, o.endLine ?? Number.MAX_SAFE_INTEGER, this.maxFileBytes);
    // Stop reading once enough is seen, but only after the size line arrived: stdout and stderr
    // come back on separate streams, so a stop at the first NUL could beat it (size unknown).
    const stop = new AbortController();
    let errText = '';
    const stopIfDone = () => {
      if ((lines.sawNul || (!ranged && lines.full)) && /^SIZE \d+$/m.test(errText)) stop.abort();
    };
    const { stderr, exitCode } = await this.#exec('cat', rel, [], {
      signal: signal ? AbortSignal.any([signal, stop.signal]) : stop.signal,
      onStdout: (b) => {
        lines.feed(b);
        stopIfDone();
      },
      onStderr: (b) => {
        if (errText.length < 4096) errText += b.toString('utf8');
        stopIfDone();
      },
    });
    checkAbort(signal, `read ${quote(p)}`);
    const size = Number(/^SIZE (\d+)$/m.exec(stderr)?.[1] ?? NaN);
    if (!stop.signal.aborted) this.#check(exitCode, stderr, 'read', p);
    if (!ranged && size > this.maxFileBytes) throw tooLarge(p, size, this.maxFileBytes, 'Read it in parts with startLine/endLine.');
    return readResult(lines, p, { start, ranged }, this.maxFileBytes, size);
  }

  async write(p: string, content: string | Uint8Array, options: WriteOptions = {}): Promise<WriteResult> {
    const o = parse(WriteOptionsSchema, options, 'write options');
    const data = writeBytes(p, content, this.maxFileBytes);
    const rel = this.#rel(p, 'write');
    if (rel === '.') throw new BerthError('BAD_INPUT', `write ${quote(p)}: it is a directory. Write to a file path inside it.`);
    return { path: this.#display(p), bytes: data.length, created: await this.#put(rel, data, o.createDirs, 'write', p) };
  }

  async edit(p: string, request: EditRequest): Promise<EditResult> {
    const o = parse(EditRequestSchema, request, 'edit request');
    const rel = this.#rel(p, 'edit');
    const chunks: Buffer[] = [];
    let n = 0;
    const { stderr, exitCode } = await this.#exec('cat', rel, [], {
      onStdout: (b) => {
        n += b.length;
        if (n <= this.maxFileBytes) chunks.push(b);
      },
    });
    this.#check(exitCode, stderr, 'edit', p);
    const size = Number(/^SIZE (\d+)$/m.exec(stderr)?.[1] ?? n);
    if (size > this.maxFileBytes || n > this.maxFileBytes) {
      throw tooLarge(p, Math.max(size, n), this.maxFileBytes, 'Edit smaller files, or replace the file with write.');
    }
    const buf = Buffer.concat(chunks);
    const { out, ...plan } = editBytes(buf, o, p, this.maxFileBytes);
    await this.#put(rel, out, false, 'edit', p);
    return { path: this.#display(p), replaced: 1, line: plan.line, matchId: plan.matchId };
  }

  async list(p = '.', options: ListOptions = {}): Promise<ListResult> {
    const { signal, ...rest } = options;
    const o = parse(ListOptionsSchema, rest, 'list options');
    const rel = this.#rel(p);
    const base = this.#display(p);
    const out: Buffer[] = [];
    let n = 0;
    const r = await this.#exec('list', rel, [o.recursive ? '1' : '0', o.includeHidden ? '1' : '0'], {
      ...(signal ? { signal } : {}),
      onStdout: (b) => {
        n += b.length;
        if (n <= MAX_LIST_BYTES) out.push(b);
      },
    });
    checkAbort(signal, `list ${quote(p)}`);
    this.#check(r.exitCode, r.stderr, 'list', p);
    const records = parseRecords(Buffer.concat(out).toString('utf8'));
    const single = records[0];
    if (/^BERTH-SINGLE$/m.test(r.stderr)) return { entries: single ? [toEntry(single, base)] : [], truncated: false };
    return orderLikeLocal(records, base, o);
  }

  async delete(p: string, options: DeleteOptions = {}): Promise<DeleteResult> {
    const { signal, ...rest } = options;
    const o = parse(DeleteOptionsSchema, rest, 'delete options');
    const rel = this.#rel(p, 'delete');
    if (rel === '.') {
      throw new BerthError('PATH_PROTECTED', `delete ${quote(p)}: that is the workspace root, which cannot be deleted. Delete the entries inside it instead.`);
    }
    checkAbort(signal, `delete ${quote(p)}`);
    const r = await this.#exec('delete', rel, [o.recursive ? '1' : '0']);
    this.#check(r.exitCode, r.stderr, 'delete', p);
    const m = /^(file|dir|symlink|other) (\d+)$/m.exec(r.stdout);
    if (!m) throw new BerthError('FS_ERROR', `delete ${quote(p)} failed: unexpected output from the container. Check the workspace with exec.`);
    return { path: this.#display(p), type: m[1] as FileType, removed: Number(m[2]) };
  }

  async stat(p: string): Promise<StatResult> {
    const rel = this.#rel(p);
    const r = await this.#exec('stat', rel, []);
    this.#check(r.exitCode, r.stderr, 'stat', p);
    const [head = '', type = 'other', ...target] = r.stdout.split('\n');
    const [size = '0', mtime = '0', mode = '0'] = head.split(' ');
    return {
      path: this.#display(p),
      type: type as FileType,
      size: Number(size),
      mode: parseInt(mode, 8),
      mtimeMs: Number(mtime) * 1000,
      ...(type === 'symlink' ? { symlinkTarget: target.join('\n').replace(/\n$/, '') } : {}),
    };
  }

  // -------------------------------------------------------------------------------------------

  /** Validated relative path ("." for the root); mutations of `.git` are refused as locally. */
  #rel(p: string, mutating?: string): string {
    const parts = toRelParts(p, this.#root);
    if (mutating && isGitPath(parts)) {
      throw new BerthError(
        'PATH_PROTECTED',
        `cannot ${mutating} ${quote(displayOf(parts))}: the worktree's .git links it to the repository and is off limits to file operations. Use berth's git commands instead.`,
      );
    }
    return parts.length ? parts.join('/') : '.';
  }

  #display(p: string): string {
    return displayOf(toRelParts(p, this.#root));
  }

  async #put(rel: string, data: Buffer, createDirs: boolean, what: string, p: string): Promise<boolean> {
    const r = await this.#exec('write', rel, [createDirs ? '1' : '0', randomBytes(8).toString('hex')], { stdin: data });
    this.#check(r.exitCode, r.stderr, what, p);
    return /^1$/m.test(r.stdout);
  }

  async #exec(
    op: string,
    rel: string,
    args: readonly string[],
    io: { stdin?: Buffer; signal?: AbortSignal; onStdout?: (b: Buffer) => void; onStderr?: (b: Buffer) => void } = {},
  ): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const r = await this.containers.run(this.containerId, {
      cmd: ['/bin/sh', '-c', SCRIPT, 'berth-files', this.#root.real, op, rel, ...args],
      user: this.user,
      ...(io.stdin !== undefined ? { stdin: io.stdin } : {}),
      ...(io.signal ? { signal: io.signal } : {}),
      onStdout: io.onStdout ?? ((b) => out.push(b)),
      onStderr: (b) => {
        err.push(b);
        io.onStderr?.(b);
      },
    });
    return { exitCode: r.exitCode, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
  }

  /** The script's failure as the local backend's error. */
  #check(exitCode: number | null, stderr: string, what: string, p: string): void {
    if (exitCode === 0) return;
    const m = /^BERTH-ERR (\S+) ?(.*)$/m.exec(stderr);
    const f: Failure = m ? { code: m[1] as string, detail: m[2] ?? '' } : { code: 'IO', detail: stderr.trim().slice(-300) };
    throw failureError(f, what, p);
  }
}

function failureError(f: Failure, what: string, p: string): BerthError {
  switch (f.code) {
    case 'NOENT':
      return new BerthError('FILE_NOT_FOUND', `${what} ${quote(p)}: it does not exist. Check the path with list.`);
    case 'OUTSIDE':
      return new BerthError('PATH_OUTSIDE', `path ${quote(p)} leads outside the workspace root. Use a path inside the workspace.`);
    case 'ISDIR':
      return new BerthError(
        'BAD_INPUT',
        what === 'write'
          ? `write ${quote(p)}: it is a directory. Write to a file path inside it.`
          : `${what} ${quote(p)}: it is a directory. Use list to see its entries.`,
      );
    case 'NOTREG':
      return new BerthError('BAD_INPUT', `${what} ${quote(p)}: it is not a regular file (${f.detail || 'other'}).`);
    case 'NOTEMPTY':
      return new BerthError('BAD_INPUT', `delete ${quote(p)}: the directory is not empty. Pass recursive: true to delete it and everything in it.`);
    default:
      return new BerthError('FS_ERROR', `${what} ${quote(p)} failed (${f.code}): ${f.detail}. Check permissions and free space in the workspace.`);
  }
}

interface Rec {
  readonly name: string;
  readonly type: FileType;
  readonly size: number;
  readonly mtimeMs: number;
  readonly target?: string;
}

/** "<size> <mtime> <name>\n<type>\n[<link target>\n]\0" records. */
function parseRecords(text: string): Rec[] {
  const out: Rec[] = [];
  for (const raw of text.split('\0')) {
    const m = /^(\d+) (\d+) ([^]*?)\n(file|dir|symlink|other)\n([^]*)$/.exec(raw);
    if (!m) continue;
    const target = (m[5] ?? '').replace(/\n$/, '');
    out.push({ name: m[3] as string, type: m[4] as FileType, size: Number(m[1]), mtimeMs: Number(m[2]) * 1000, ...(m[4] === 'symlink' ? { target } : {}) });
  }
  return out;
}

function toEntry(r: Rec, display: string): ListEntry {
  return { path: display, type: r.type, size: r.size, mtimeMs: r.mtimeMs, ...(r.target !== undefined ? { symlinkTarget: r.target } : {}) };
}

/** Breadth-first, names sorted per directory, filtered and capped exactly as files-tree.ts lists. */
function orderLikeLocal(records: Rec[], base: string, o: { recursive: boolean; includeHidden: boolean; includeGit: boolean; maxEntries: number }): ListResult {
  const children = new Map<string, Rec[]>();
  for (const r of records) {
    const rel = r.name.replace(/^\.\//, '');
    const dir = path.posix.dirname(rel);
    const list = children.get(dir) ?? [];
    list.push({ ...r, name: rel });
    children.set(dir, list);
  }
  const keep = (n: string) => (n.toLowerCase() === '.git' ? o.includeGit : o.includeHidden || !n.startsWith('.'));
  const entries: ListEntry[] = [];
  const queue = ['.'];
  let truncated = false;
  while (queue.length > 0) {
    const dir = queue.shift() as string;
    const kids = (children.get(dir) ?? [])
      .filter((r) => keep(path.posix.basename(r.name)))
      .sort((a, b) => {
        const x = path.posix.basename(a.name);
        const y = path.posix.basename(b.name);
        return x < y ? -1 : x > y ? 1 : 0;
      });
    const room = o.maxEntries - entries.length;
    if (kids.length > room) truncated = true;
    for (const r of kids.slice(0, room)) {
      const shown = base === '.' ? r.name : `${base}/${r.name}`;
      entries.push(toEntry(r, shown));
      if (o.recursive && r.type === 'dir' && path.posix.basename(r.name).toLowerCase() !== '.git') queue.push(r.name);
    }
    if (entries.length >= o.maxEntries) {
      if (queue.length > 0) truncated = true;
      break;
    }
  }
  return { entries, truncated };
}

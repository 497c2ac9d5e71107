/**
 * A long-lived `git cat-file --batch` per repository: object and ref reads (a base's commit, a
 * branch's existence, the notes tree and the note blobs) become a round trip on a pipe instead of
 * a git process each. A spawn costs milliseconds (more on a loaded machine), which is most of what
 * a warm open pays for its reads.
 *
 * Freshness: cat-file resolves every name when asked. Loose refs are read from disk on each
 * lookup, the packed-refs snapshot is re-validated by stat, and an object not found in the known
 * packs makes git rescan the pack directory, so a long-lived reader sees what a new process would
 * (see refs/packed-backend.c `get_snapshot` and object-file.c `reprepare_packed_git`).
 *
 * One reader per repository root in this process, spawned through the hardened base (run.ts
 * `spawnGit`) on first use, serving one request at a time. It is unref'd (never keeps Node
 * alive), ends after IDLE_MS without requests (the next request spawns a new one), and is killed
 * on a protocol error, a timeout or an abort (the request fails; the next one respawns).
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { BerthError } from '../errors.js';
import { spawnGit } from './run.js';
import { isSha, type NoteEntry } from './types.js';

/** An object as `cat-file --batch` prints it; undefined for a name that resolves to nothing. */
export interface BatchObject {
  readonly oid: string;
  readonly type: string;
  readonly data: Buffer;
}

const IDLE_MS = 120_000;
const HEADER_RE = /^([0-9a-f]{40}|[0-9a-f]{64}) (blob|tree|commit|tag) (\d+)$/;

/** The pipes are net.Sockets: unref'd while idle, so a reader never keeps Node running. */
function handle(stream: unknown): { ref?: () => void; unref?: () => void } {
  return stream as { ref?: () => void; unref?: () => void };
}

interface Pending {
  readonly count: number;
  readonly out: (BatchObject | undefined)[];
  resolve(v: (BatchObject | undefined)[]): void;
  reject(e: unknown): void;
}

class Reader {
  readonly #proc: ChildProcessWithoutNullStreams;
  #buf: Buffer = Buffer.alloc(0);
  #pending: Pending | undefined;
  #stderr = '';
  /** Bytes #buf must hold before parsing can go on (0: unknown), and the chunks waiting for it. */
  #need = 0;
  #parts: Buffer[] = [];
  #partsLen = 0;
  dead = false;

  constructor(proc: ChildProcessWithoutNullStreams) {
    this.#proc = proc;
    proc.unref();
    for (const s of [proc.stdin, proc.stdout, proc.stderr]) handle(s).unref?.();
    proc.stdout.on('data', (chunk: Buffer) => this.#onData(chunk));
    proc.stderr.on('data', (chunk: Buffer) => (this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-2000)));
    proc.stdin.on('error', (err) => this.kill(err));
    proc.on('error', (err) => this.kill(err));
    proc.on('exit', (code) =>
      this.kill(new BerthError('GIT_ERROR', `git cat-file --batch exited (${code ?? 'signal'}): ${this.#stderr.trim() || 'no error output'}`)),
    );
  }

  /** One request: `names` in, one answer per name out, in order. */
  query(names: readonly string[]): Promise<(BatchObject | undefined)[]> {
    return new Promise((resolve, reject) => {
      this.#pending = { count: names.length, out: [], resolve, reject };
      handle(this.#proc.stdout).ref?.();
      this.#proc.stdin.write(`${names.join('\n')}\n`);
    });
  }

  kill(reason: unknown): void {
    if (!this.dead) {
      this.dead = true;
      this.#proc.kill('SIGKILL');
    }
    const p = this.#pending;
    this.#pending = undefined;
    p?.reject(reason);
  }

  #onData(chunk: Buffer): void {
    // A large object arrives in many chunks: they are joined once it is complete, not per chunk.
    if (this.#need > 0) {
      this.#parts.push(chunk);
      this.#partsLen += chunk.length;
      if (this.#buf.length + this.#partsLen < this.#need) return;
      chunk = Buffer.concat(this.#parts.splice(0));
      this.#partsLen = 0;
    }
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    this.#need = 0;
    const p = this.#pending;
    if (!p) return this.kill(new BerthError('GIT_ERROR', 'git cat-file --batch printed output nobody asked for'));
    for (;;) {
      const nl = this.#buf.indexOf(0x0a);
      if (nl < 0) return;
      const header = this.#buf.subarray(0, nl).toString('utf8');
      const m = HEADER_RE.exec(header);
      if (!m) {
        // "<name> missing" or "<name> ambiguous": nothing follows the line.
        this.#buf = this.#buf.subarray(nl + 1);
        p.out.push(undefined);
      } else {
        const size = Number(m[3]);
        if (this.#buf.length < nl + 1 + size + 1) {
          this.#need = nl + 1 + size + 1;
          return;
        }
        const data = Buffer.from(this.#buf.subarray(nl + 1, nl + 1 + size));
        this.#buf = this.#buf.subarray(nl + 1 + size + 1);
        p.out.push({ oid: m[1] ?? '', type: m[2] ?? '', data });
      }
      if (p.out.length === p.count) {
        this.#pending = undefined;
        handle(this.#proc.stdout).unref?.();
        p.resolve(p.out);
        return;
      }
    }
  }
}

interface Slot {
  reader: Reader | undefined;
  queue: Promise<unknown>;
  idle: NodeJS.Timeout | undefined;
}

const slots = new Map<string, Slot>();

/**
 * Looks `names` up in the repository at `root` (each a revision as gitrevisions(7) spells it; no
 * newline, no NUL). Requests from this process are served one after another.
 */
export function catFileBatch(
  root: string,
  names: readonly string[],
  opts: { timeoutMs: number; signal?: AbortSignal | undefined },
): Promise<(BatchObject | undefined)[]> {
  for (const n of names) if (n.length === 0 || /[\0\n]/.test(n)) throw new BerthError('BAD_INPUT', `${JSON.stringify(n)} cannot be looked up`);
  if (names.length === 0) return Promise.resolve([]);
  let slot = slots.get(root);
  if (!slot) {
    slot = { reader: undefined, queue: Promise.resolve(), idle: undefined };
    slots.set(root, slot);
  }
  const s = slot;
  const run = s.queue.then(() => serve(root, s, names, opts));
  s.queue = run.catch(() => undefined);
  return run;
}

async function serve(
  root: string,
  s: Slot,
  names: readonly string[],
  opts: { timeoutMs: number; signal?: AbortSignal | undefined },
): Promise<(BatchObject | undefined)[]> {
  if (opts.signal?.aborted) throw new BerthError('ABORTED', 'git cat-file was cancelled', { cause: opts.signal.reason });
  if (s.idle) clearTimeout(s.idle);
  if (!s.reader || s.reader.dead) s.reader = new Reader(await spawnGit(['cat-file', '--batch'], { cwd: root, timeoutMs: opts.timeoutMs }));
  const reader = s.reader;
  const timer = setTimeout(
    () =>
      reader.kill(
        new BerthError('TIMEOUT', `git cat-file did not answer within ${opts.timeoutMs} ms: retry, or raise the timeout if the repository is very large`),
      ),
    opts.timeoutMs,
  );
  const onAbort = () => reader.kill(new BerthError('ABORTED', 'git cat-file was cancelled', { cause: opts.signal?.reason }));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await reader.query(names);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    s.idle = setTimeout(() => {
      reader.kill(undefined);
      if (slots.get(root) === s && s.reader === reader) slots.delete(root);
    }, IDLE_MS);
    s.idle.unref();
  }
}

/** Ends the reader of `root` (if any); the next request spawns a new one. */
export function closeCatFileBatch(root: string): void {
  const s = slots.get(root);
  if (!s) return;
  slots.delete(root);
  if (s.idle) clearTimeout(s.idle);
  void s.queue.then(() => s.reader?.kill(undefined));
}

/**
 * The notes under `notesRef` (what `git notes list` prints), read from its tree with `read`
 * (a batch request): fan-out directories (two hex digits) are walked one request per level, and
 * a path that spells a full object id is a note.
 */
export async function notesInTree(read: (names: readonly string[]) => Promise<(BatchObject | undefined)[]>, notesRef: string): Promise<NoteEntry[]> {
  const [top] = await read([`${notesRef}^{tree}`]);
  if (!top || top.type !== 'tree') return [];
  const hexLen = top.oid.length;
  const out: NoteEntry[] = [];
  let level = [{ prefix: '', data: top.data }];
  while (level.length > 0) {
    const subs: { prefix: string; oid: string }[] = [];
    for (const t of level) {
      for (const e of parseTree(t.data, hexLen / 2)) {
        const path = t.prefix + e.name;
        if (e.mode === '40000' && /^[0-9a-f]{2}$/.test(e.name) && path.length < hexLen) subs.push({ prefix: path, oid: e.oid });
        else if (e.mode.startsWith('100') && path.length === hexLen && isSha(path)) out.push({ blob: e.oid, object: path });
      }
    }
    const trees = subs.length > 0 ? await read(subs.map((x) => x.oid)) : [];
    level = subs.map((x, i) => ({ prefix: x.prefix, data: trees[i]?.type === 'tree' ? trees[i].data : Buffer.alloc(0) }));
  }
  return out;
}

/** Entries of a tree object: `<mode> <name>\0<raw id>` each. */
function parseTree(data: Buffer, rawLen: number): { mode: string; name: string; oid: string }[] {
  const out: { mode: string; name: string; oid: string }[] = [];
  let pos = 0;
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos);
    const nul = data.indexOf(0, sp + 1);
    if (sp < 0 || nul < 0 || nul + 1 + rawLen > data.length) break;
    out.push({ mode: data.toString('utf8', pos, sp), name: data.toString('utf8', sp + 1, nul), oid: data.toString('hex', nul + 1, nul + 1 + rawLen) });
    pos = nul + 1 + rawLen;
  }
  return out;
}

/**
 * Hand-built tar archives for the hostile-archive tests. tar's own packer refuses to produce most
 * of these entries (absolute paths, "..", devices), so headers are encoded one by one. And the
 * reverse, for every suite that checks what an archive holds: readTarEntries.
 */
import { gzipSync } from 'node:zlib';
import { Header, Parser, type HeaderData, type ReadEntry } from 'tar';

export interface RawEntry {
  readonly path: string;
  readonly type?: HeaderData['type'];
  readonly mode?: number;
  readonly linkpath?: string;
  readonly body?: Buffer | string;
}

export function tarBuffer(entries: readonly RawEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = e.body === undefined ? Buffer.alloc(0) : Buffer.from(e.body);
    const header = new Header({
      path: e.path,
      type: e.type ?? 'File',
      mode: e.mode ?? 0o644,
      uid: 0,
      gid: 0,
      size: body.length,
      mtime: new Date('2024-01-02T03:04:05Z'),
      uname: '',
      gname: '',
      ...(e.linkpath !== undefined ? { linkpath: e.linkpath } : {}),
    });
    header.encode();
    if (!header.block) throw new Error(`could not encode ${e.path}`);
    parts.push(header.block, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function tgz(entries: readonly RawEntry[]): Buffer {
  return gzipSync(tarBuffer(entries));
}

/** One entry of an archive read back by readTarEntries, exactly as its header says. */
export interface TarEntry {
  readonly path: string;
  readonly type: ReadEntry['type'];
  readonly mode: number | undefined;
  readonly linkpath?: string;
  readonly body: Buffer;
}

/** Every entry of a tar archive (a stream, or its bytes), in order, with its body. */
export async function readTarEntries(input: NodeJS.ReadableStream | Buffer): Promise<TarEntry[]> {
  const out: TarEntry[] = [];
  const parser = new Parser({
    onReadEntry: (e: ReadEntry) => {
      const chunks: Buffer[] = [];
      e.on('data', (c: Buffer) => chunks.push(c));
      e.on('end', () => out.push({ path: e.path, type: e.type, mode: e.mode, body: Buffer.concat(chunks), ...(e.linkpath ? { linkpath: e.linkpath } : {}) }));
    },
  });
  await new Promise<void>((resolve, reject) => {
    parser.on('end', resolve);
    parser.on('error', reject);
    if (Buffer.isBuffer(input)) {
      parser.end(input);
    } else {
      input.on('error', reject);
      input.pipe(parser as unknown as NodeJS.WritableStream);
    }
  });
  return out;
}

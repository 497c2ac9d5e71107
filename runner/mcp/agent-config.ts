/**
 * Agent configuration for `berth config agent <agent>`: the MCP server entry that starts
 * `berth mcp`, merged into a project's `.mcp.json` (Claude Code's project-scoped server list,
 * https://docs.anthropic.com/en/docs/claude-code/mcp) or printed for any other MCP client.
 *
 * How berth is launched (the `launcher`):
 *   - 'npx': `npx --no berth mcp --repo .` — portable (safe to commit), but only works when berth is
 *     installed in the project (node_modules/.bin/berth). `--no` makes npx fail instead of
 *     downloading whatever package is called "berth" from the registry.
 *   - 'path': this node binary + this berth's bin/berth.js + the absolute repository path — works
 *     from any checkout of berth with no install step, but is specific to this machine.
 *   - 'auto' (default): 'npx' when the project has berth installed, else 'path'.
 */
import { randomBytes } from 'node:crypto';
import { access, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BerthError } from '../../src/errors.js';
import { isRecord } from './json.js';

export const MCP_JSON = '.mcp.json';
export const DEFAULT_SERVER_NAME = 'berth';
export const KNOWN_AGENTS = ['claude'] as const;
export type Launcher = 'npx' | 'path';

export interface ServerEntry {
  readonly type?: 'stdio';
  readonly command: string;
  readonly args: readonly string[];
}

/** This berth's CLI entry, resolved from this file (runner/mcp/ → bin/berth.js; from dist/runner/mcp/ when compiled). */
export function berthBin(): string {
  return fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../../bin/berth.js' : '../../../bin/berth.js', import.meta.url));
}

export async function detectLauncher(repo: string): Promise<Launcher> {
  try {
    await access(join(repo, 'node_modules', '.bin', 'berth'));
    return 'npx';
  } catch {
    return 'path';
  }
}

export function serverEntry(opts: { launcher: Launcher; repo: string; workspace?: string; stdioType?: boolean }): ServerEntry {
  const tail = opts.workspace === undefined ? [] : ['--workspace', opts.workspace];
  const type = opts.stdioType ? { type: 'stdio' as const } : {};
  if (opts.launcher === 'npx') return { ...type, command: 'npx', args: ['--no', 'berth', 'mcp', '--repo', '.', ...tail] };
  return { ...type, command: process.execPath, args: [berthBin(), 'mcp', '--repo', opts.repo, ...tail] };
}

/** `{ "mcpServers": { name: entry } }`, the shape Claude Code, Claude Desktop, Cursor and others read. */
export function snippet(name: string, entry: ServerEntry): { mcpServers: Record<string, ServerEntry> } {
  return { mcpServers: { [name]: entry } };
}

export type MergeStatus = 'added' | 'updated' | 'unchanged';

/**
 * Put `entry` under mcpServers[name] in the `.mcp.json` at `file`, keeping every other server and
 * top-level key. Written atomically (temp file + rename in the same directory) so a crash never
 * leaves a half-written config. A file that is not a JSON object is refused, not overwritten.
 */
export async function mergeMcpJson(file: string, name: string, entry: ServerEntry): Promise<{ status: MergeStatus; config: Record<string, unknown> }> {
  let text: string | undefined;
  let mode: number | undefined;
  try {
    text = await readFile(file, 'utf8');
    mode = (await stat(file)).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new BerthError('FS_ERROR', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
  }
  let config: Record<string, unknown> = {};
  if (text !== undefined && text.trim() !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new BerthError('BAD_INPUT', `${file} is not valid JSON (${(err as Error).message}): fix or remove it, then run this again; it was left unchanged`, {
        cause: err,
      });
    }
    if (!isRecord(parsed))
      throw new BerthError('BAD_INPUT', `${file} does not contain a JSON object: fix or remove it, then run this again; it was left unchanged`);
    config = parsed;
  }
  const servers = config.mcpServers ?? {};
  if (!isRecord(servers)) {
    throw new BerthError('BAD_INPUT', `"mcpServers" in ${file} is not an object: fix it, then run this again; the file was left unchanged`);
  }
  const before = servers[name];
  const status: MergeStatus = before === undefined ? 'added' : JSON.stringify(before) === JSON.stringify(entry) ? 'unchanged' : 'updated';
  const next = { ...config, mcpServers: { ...servers, [name]: entry } };
  if (status !== 'unchanged') await writeAtomically(file, `${JSON.stringify(next, null, 2)}\n`, mode);
  return { status, config: next };
}

async function writeAtomically(file: string, content: string, mode: number | undefined): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, content, { mode: mode ?? 0o644, flag: 'wx' });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new BerthError('FS_ERROR', `cannot write ${file}: ${(err as Error).message}`, { cause: err });
  }
}

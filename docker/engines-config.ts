/**
 * Which Docker engines berth may use, resolved once with a documented precedence:
 *   1. the caller's list (RunnerOptions.engines, tests),
 *   2. BERTH_ENGINES: a JSON list of entries, or a comma list of endpoints (`[id=]endpoint`),
 *   3. `engines:` in berth's config file (BERTH_CONFIG, else $XDG_CONFIG_HOME/berth/config.yaml,
 *      else ~/.config/berth/config.yaml),
 *   4. one engine, "default": DOCKER_HOST (dockerode's own resolution), as before engines existed.
 * Everything arriving from the environment or a file goes through zod here; a bad entry fails
 * with ENGINE_CONFIG naming the entry and the field.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { BerthError } from '../src/errors.js';

const ENDPOINT = /^(unix:\/\/\/.+|\/.+|tcp:\/\/[^/\s]+|ssh:\/\/[^/\s]+)$/;

export const EngineEntrySchema = z
  .object({
    /** Recorded in each workspace's state: renaming an engine orphans its workspaces. */
    id: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,31}$/, "use 1-32 of a-z, 0-9, '.', '_', '-'"),
    /** unix:///path (or /path), tcp://host:port, ssh://user@host[:port]. */
    host: z.string().regex(ENDPOINT, 'use unix:///path, tcp://host:port or ssh://user@host[:port]'),
    /** tcp:// only: a DOCKER_CERT_PATH-style directory holding ca.pem, cert.pem and key.pem. */
    tlsCertPath: z.string().min(1).optional(),
    /** ssh:// only: private key file (default: the ssh agent at SSH_AUTH_SOCK, then ~/.ssh/id_ed25519, id_rsa). */
    sshIdentityFile: z.string().min(1).optional(),
    /** ssh:// only: known_hosts file the engine's host key must be in (default ~/.ssh/known_hosts). */
    sshKnownHostsFile: z.string().min(1).optional(),
    /** The engine cannot see this machine's paths (no bind-mounted worktrees); ssh:// and tcp:// imply it. */
    remote: z.boolean().optional(),
    /** Session containers this engine takes (any repository); placement skips a full engine. Default: no limit. */
    maxSessions: z.number().int().positive().max(100_000).optional(),
  })
  .strict();
export type EngineEntry = z.infer<typeof EngineEntrySchema>;

const EngineListSchema = z.array(EngineEntrySchema).min(1).max(64);

/** berth's config file: only `engines:` is read here; other sections belong to their owners. */
const ConfigFileSchema = z.looseObject({ engines: z.array(z.union([z.string(), z.record(z.string(), z.unknown())])).optional() });

export function configFilePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BERTH_CONFIG) return resolve(env.BERTH_CONFIG);
  const xdg = env.XDG_CONFIG_HOME;
  return join(xdg ? resolve(xdg) : join(homedir(), '.config'), 'berth', 'config.yaml');
}

/** `[id=]endpoint` → an entry; ids default to e1, e2 ... by position. */
function fromShorthand(s: string, i: number): unknown {
  const m = /^([a-z0-9][a-z0-9_.-]{0,31})=(.+)$/.exec(s.trim());
  return m ? { id: m[1], host: m[2] } : { id: `e${i + 1}`, host: s.trim() };
}

/** zod's issues, each with the offending value quoted (from `input`, the value that was parsed). */
function issues(err: z.ZodError, input?: unknown): string {
  return err.issues
    .map((i) => {
      let v: unknown = input;
      for (const k of i.path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k as PropertyKey] : undefined;
      const shown = v === undefined || i.path.length === 0 ? '' : ` (got ${JSON.stringify(v)?.slice(0, 80)})`;
      return `${i.path.join('.') || '(list)'}: ${i.message}${shown}`;
    })
    .join('; ');
}

/** Validate a list of entries (objects or shorthand strings) from `source` (named in errors). */
export function parseEngineList(raw: unknown, source: string): EngineEntry[] {
  const list = Array.isArray(raw) ? raw.map((e, i) => (typeof e === 'string' ? fromShorthand(e, i) : e)) : raw;
  const r = EngineListSchema.safeParse(list);
  if (!r.success) throw new BerthError('ENGINE_CONFIG', `${source}: invalid engine list: ${issues(r.error, list)}`);
  const seen = new Set<string>();
  for (const e of r.data) {
    if (seen.has(e.id)) throw new BerthError('ENGINE_CONFIG', `${source}: engine id ${JSON.stringify(e.id)} is listed twice: give each engine its own id`);
    seen.add(e.id);
    if (e.tlsCertPath && !e.host.startsWith('tcp://'))
      throw new BerthError('ENGINE_CONFIG', `${source}: engine ${JSON.stringify(e.id)}: tlsCertPath is for tcp:// endpoints, not ${JSON.stringify(e.host)}`);
    if ((e.sshIdentityFile || e.sshKnownHostsFile) && !e.host.startsWith('ssh://'))
      throw new BerthError('ENGINE_CONFIG', `${source}: engine ${JSON.stringify(e.id)}: ssh options are for ssh:// endpoints, not ${JSON.stringify(e.host)}`);
  }
  return r.data;
}

/** BERTH_ENGINES: JSON (`[...]`) or a comma list of `[id=]endpoint`. */
export function parseEnginesEnv(value: string): EngineEntry[] {
  const v = value.trim();
  if (v.startsWith('[')) {
    let raw: unknown;
    try {
      raw = JSON.parse(v);
    } catch (err) {
      throw new BerthError('ENGINE_CONFIG', `BERTH_ENGINES is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
    return parseEngineList(raw, 'BERTH_ENGINES');
  }
  return parseEngineList(
    v.split(',').filter((s) => s.trim() !== ''),
    'BERTH_ENGINES',
  );
}

/** `engines:` of the config file, or undefined when the file or the key is absent. */
export function readEnginesFile(path: string): EngineEntry[] | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BerthError('ENGINE_CONFIG', `cannot read berth's config ${path}: ${(err as Error).message}`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text) ?? {};
  } catch (err) {
    throw new BerthError('ENGINE_CONFIG', `${path} is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  const r = ConfigFileSchema.safeParse(doc);
  if (!r.success) throw new BerthError('ENGINE_CONFIG', `${path}: ${issues(r.error, doc)}`);
  return r.data.engines === undefined ? undefined : parseEngineList(r.data.engines, `${path} (engines:)`);
}

/**
 * The configured engines (env over file), or undefined when none are configured (then berth uses
 * DOCKER_HOST as its one engine).
 */
export function configuredEngines(env: NodeJS.ProcessEnv = process.env): EngineEntry[] | undefined {
  if (env.BERTH_ENGINES?.trim()) return parseEnginesEnv(env.BERTH_ENGINES);
  return readEnginesFile(configFilePath(env));
}

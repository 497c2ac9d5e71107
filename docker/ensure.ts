/**
 * One entry point for "make sure the image a spec names is on the engine": berth's builtin images
 * and toolchain images are built when missing (never rebuilt); any other reference is left to the
 * engine (creating a container from a missing one fails with IMAGE_MISSING and its remedy).
 */
import { builtinImageKey, toolchainImageOf } from '../src/images.js';
import { ensureImage, type Progress } from './images.js';
import { ensureToolchainImage } from './toolchains.js';

export interface EnsureOpts {
  onProgress?: Progress;
  signal?: AbortSignal;
  /** Stored on a built toolchain image as the reason it exists. */
  reason?: string;
}

/** Build `ref` if berth knows how and it is missing. Returns true if something was built. */
export async function ensureImageRef(ref: string, opts: EnsureOpts = {}): Promise<boolean> {
  const key = builtinImageKey(ref);
  if (key) return ensureImage(key, opts);
  const toolchain = toolchainImageOf(ref);
  if (toolchain) return ensureToolchainImage(toolchain, opts);
  return false;
}

/**
 * The image fallback of a devcontainer: many devcontainer.json files name an image on a registry
 * this machine may not reach (mcr.microsoft.com/devcontainers/...), or build FROM one. Rather than
 * leave the repository without a workspace, berth then uses the detected toolchain image, with one
 * warning naming both; `--strict-image` (or BERTH_STRICT_IMAGE=1) makes it an error instead.
 *
 * The library has no Docker client (src/ stays free of dockerode), so the caller passes `ensure`:
 * make the spec's image present (docker/ensure.ts through the caller's own path).
 */
import { posix } from 'node:path';
import { BerthError, isBerthError } from '../errors.js';
import type { Resolved, ResolvedSpec } from './types.js';

/** Failures that mean "this image can't be had here", as opposed to Docker being down. */
const UNAVAILABLE = new Set(['REGISTRY_UNREACHABLE', 'REGISTRY_NOT_FOUND', 'REGISTRY_UNAUTHORIZED', 'IMAGE_MISSING', 'IMAGE_BUILD_FAILED']);

export const STRICT_IMAGE_ENV = 'BERTH_STRICT_IMAGE';

export interface FallbackOptions {
  /** Refuse the fallback (CLI --strict-image, MCP strictImage). Default: BERTH_STRICT_IMAGE=1. */
  readonly strictImage?: boolean | undefined;
  /**
   * True when the fallback is already known to be in use (e.g. the workspace's container was made
   * from it): take it without trying the devcontainer's image again, so a registry that times out
   * is not waited for at every open. Ignored under strict-image.
   */
  readonly usingFallback?: ((fallback: Resolved) => Promise<boolean>) | undefined;
}

export interface FallbackResult {
  /** The spec to use: the original, or its fallback. */
  readonly resolved: Resolved;
  /** The one warning when the fallback was taken. */
  readonly warning: string | undefined;
}

/** Whether strict-image is on: the option if given, else BERTH_STRICT_IMAGE. */
export function strictImageOf(opt: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  return opt ?? (env[STRICT_IMAGE_ENV] === '1' || env[STRICT_IMAGE_ENV] === 'true');
}

/**
 * Ensure `resolved`'s image; if it comes from devcontainer.json and can't be pulled or built, ensure
 * and return the fallback spec instead (or throw DEVCONTAINER_IMAGE under strict-image). Other
 * specs are returned untouched, without calling `ensure`: their callers ensure the image as before.
 */
export async function withImageFallback(
  resolved: Resolved,
  ensure: (spec: ResolvedSpec) => Promise<unknown>,
  opts: FallbackOptions = {},
): Promise<FallbackResult> {
  const dc = resolved.devcontainer;
  const fallback = dc?.fallback;
  if (!dc || !fallback) return { resolved, warning: undefined };
  const strict = strictImageOf(opts.strictImage);
  if (!strict && (await opts.usingFallback?.(fallback))) return { resolved: fallback, warning: undefined };
  try {
    await ensure(resolved.spec);
    return { resolved, warning: undefined };
  } catch (err) {
    if (!isBerthError(err) || !UNAVAILABLE.has(err.code)) throw err;
    const what = resolved.spec.build
      ? `the image built from ${posix.join(resolved.spec.build.context, resolved.spec.build.dockerfile)}`
      : `image ${resolved.spec.image}`;
    const why = firstLine(err.message);
    if (strict) {
      throw new BerthError(
        'DEVCONTAINER_IMAGE',
        `${dc.file} names ${what}, which is not available here (${err.code}: ${why}); --strict-image forbids falling back to the detected image ${fallback.spec.image}. ` +
          'Make the image available, set image: in berth.yaml, or drop --strict-image.',
        { cause: err, details: { file: dc.file, image: resolved.spec.image, fallbackImage: fallback.spec.image, reason: err.code } },
      );
    }
    await ensure(fallback.spec);
    const user = resolved.spec.user !== fallback.spec.user ? ` (and not its user ${resolved.spec.user ?? ''}, which belongs to that image)` : '';
    return {
      resolved: fallback,
      warning:
        `${dc.file} names ${what}, which is not available here (${err.code}: ${why}): using the detected image ${fallback.spec.image} instead${user}. ` +
        'Pass --strict-image to make this an error, or set image: in berth.yaml.',
    };
  }
}

function firstLine(s: string): string {
  const line = s.split('\n')[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/**
 * The images berth builds locally (no registry is needed). This is the one place their names live:
 * the image builder, `berth doctor`, the spec defaults and the tests all read them from here.
 * Bump the tag when a recipe changes so existing machines rebuild instead of reusing a stale image.
 */
export const IMAGES = {
  /** A few MB: busybox-static imported as a rootfs. Fast tests, generic shells. */
  busybox: 'berth-busybox:1',
  /** Debian bookworm (minbase) + git, ca-certificates, nodejs, npm. The default workspace image. */
  node: 'berth-node:bookworm-1',
} as const;

export type BuiltinImageKey = keyof typeof IMAGES;

export const DEFAULT_IMAGE: string = IMAGES.node;

export function builtinImageKey(ref: string): BuiltinImageKey | undefined {
  for (const [key, name] of Object.entries(IMAGES)) {
    if (name === ref) return key as BuiltinImageKey;
  }
  return undefined;
}

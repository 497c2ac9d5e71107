/**
 * Field schemas that both parts of an export's manifest.json use (manifest.ts for the git objects,
 * container-manifest.ts for the container state), so the two can't drift apart in what they accept.
 */
import { z } from 'zod';

/** A full commit id: SHA-1, or SHA-256 in a sha256 repository. */
export const commitId = z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, 'a full commit id');

/** An object of the export in the bucket: its key (at most `maxKeyLength`), byte size and sha256. */
export function storedObjectFields(maxKeyLength: number) {
  return {
    key: z.string().max(maxKeyLength),
    size: z
      .number()
      .int()
      .nonnegative()
      .max(2 ** 50),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 hex digest'),
  };
}

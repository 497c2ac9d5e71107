/**
 * The `container` section of an export's manifest.json: what travels besides git — the container
 * checkpoint image the workspace's next container starts from, and the contents of its named
 * volumes. Optional, so exports without container state (and older ones) stay valid.
 *
 *   objects/<exportId>/image.tar               `docker save` of the checkpoint image
 *   objects/<exportId>/volumes/<name>.tar.gz   one per volume, entries relative to its root
 */
import { z } from 'zod';
import { commitId, storedObjectFields } from './manifest-fields.js';
/** As berth.yaml's mount names (src/project/schema.ts MOUNT_NAME). */
export const VOLUME_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

const blob = storedObjectFields(300);

export const ContainerSectionSchema = z
  .object({
    image: z
      .object({
        ...blob,
        /** The checkpoint commit the image was recorded with. */
        checkpoint: commitId,
        /** Its tag in the exporting Docker (informational; import re-tags it for the new workspace). */
        ref: z.string().max(300),
        /** The spec image the checkpoint was built on. */
        baseImage: z.string().max(300).optional(),
      })
      .strict()
      .optional(),
    volumes: z.array(z.object({ ...blob, name: z.string().regex(VOLUME_NAME_RE, 'a volume name') }).strict()).max(32),
  })
  .strict();

export type ContainerSection = z.infer<typeof ContainerSectionSchema>;

export function imageObjectKey(exportId: string): string {
  return `objects/${exportId}/image.tar`;
}

export function volumeObjectKey(exportId: string, name: string): string {
  return `objects/${exportId}/volumes/${name}.tar.gz`;
}

/** Problems with the section's keys (each must sit in this export's own prefix), for superRefine. */
export function containerSectionProblems(section: ContainerSection, exportId: string): { path: (string | number)[]; message: string }[] {
  const out: { path: (string | number)[]; message: string }[] = [];
  if (section.image && section.image.key !== imageObjectKey(exportId)) out.push({ path: ['container', 'image', 'key'], message: 'key outside this export' });
  const seen = new Set<string>();
  section.volumes.forEach((v, i) => {
    if (seen.has(v.name)) out.push({ path: ['container', 'volumes', i, 'name'], message: `duplicate volume ${v.name}` });
    seen.add(v.name);
    if (v.key !== volumeObjectKey(exportId, v.name)) out.push({ path: ['container', 'volumes', i, 'key'], message: 'key outside this export' });
  });
  return out;
}

export function containerSectionKeys(section: ContainerSection | undefined): string[] {
  if (!section) return [];
  return [...(section.image ? [section.image.key] : []), ...section.volumes.map((v) => v.key)];
}

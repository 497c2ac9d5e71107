/**
 * manifest.json: the index of one export, written last so a reader never sees a half-finished
 * export. It is read back from a bucket other people may write to, so it is parsed with zod and
 * bounded like any other hostile input; object keys are confined to this export's own prefix.
 *
 * Layout under s3://bucket/prefix/:
 *   manifest.json
 *   objects/<exportId>/repo.bundle       git bundle: refs/heads/berth/<name> + refs/notes/berth
 *   objects/<exportId>/untracked.tar.gz  untracked, non-ignored worktree files
 *   objects/<exportId>/staged.patch      `git diff --cached --binary` (index vs HEAD), if any
 *   objects/<exportId>/unstaged.patch    `git diff --binary` (worktree vs index), if any
 *   objects/<exportId>/session.jsonl     the session log, if one was given
 *   objects/<exportId>/image.tar, volumes/<name>.tar.gz   container state (container-manifest.ts)
 * Each export writes a fresh objects/<exportId>/ and then swaps manifest.json, so a failed
 * export leaves the previous one intact; the previous export's objects are deleted afterwards.
 */
import { z } from 'zod';
import { isValidName } from '../../src/workspace/index.js';
import { BerthError } from '../../src/errors.js';
import { ContainerSectionSchema, containerSectionKeys, containerSectionProblems } from './container-manifest.js';
import { commitId, storedObjectFields } from './manifest-fields.js';

export const MANIFEST_NAME = 'manifest.json';
export const MANIFEST_FORMAT = 'berth-workspace-export';
export const MANIFEST_VERSION = 1;
/** A manifest is a few KB; anything bigger is not ours. */
export const MAX_MANIFEST_BYTES = 256 * 1024;

export const OBJECT_FILES = {
  bundle: 'repo.bundle',
  untracked: 'untracked.tar.gz',
  staged: 'staged.patch',
  unstaged: 'unstaged.patch',
  'session-log': 'session.jsonl',
} as const;

export type ObjectRole = keyof typeof OBJECT_FILES;

const EXPORT_ID_RE = /^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$/;

const objectSchema = z
  .object({
    role: z.enum(['bundle', 'untracked', 'staged', 'unstaged', 'session-log']),
    ...storedObjectFields(200),
  })
  .strict();

export const ManifestSchema = z
  .object({
    format: z.literal(MANIFEST_FORMAT),
    version: z.literal(MANIFEST_VERSION),
    exportId: z.string().regex(EXPORT_ID_RE),
    createdAt: z.iso.datetime(),
    producer: z.string().max(100),
    workspace: z
      .object({
        name: z.string().refine(isValidName, 'a valid workspace name'),
        branch: z.string().max(200),
        head: commitId,
        rootSha: commitId,
        baseRef: z.string().min(1).max(1024),
        baseSha: commitId,
        createdAt: z.string().max(64),
      })
      .strict(),
    worktree: z
      .object({
        untrackedFiles: z.number().int().nonnegative(),
        /** Untracked paths not exported (nested repositories), with the reason. */
        skipped: z.array(z.object({ path: z.string().max(4096), reason: z.string().max(500) }).strict()).max(1000),
      })
      .strict(),
    objects: z.array(objectSchema).max(Object.keys(OBJECT_FILES).length),
    /** Container checkpoint image and volume contents (container-manifest.ts), when exported. */
    container: ContainerSectionSchema.optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    const roles = new Set<string>();
    for (const [i, o] of m.objects.entries()) {
      if (roles.has(o.role)) ctx.addIssue({ code: 'custom', path: ['objects', i, 'role'], message: `duplicate role ${o.role}` });
      roles.add(o.role);
      if (o.key !== `objects/${m.exportId}/${OBJECT_FILES[o.role]}`) {
        ctx.addIssue({ code: 'custom', path: ['objects', i, 'key'], message: 'key outside this export' });
      }
    }
    if (!roles.has('bundle')) ctx.addIssue({ code: 'custom', path: ['objects'], message: 'no bundle object' });
    if (m.workspace.branch !== `berth/${m.workspace.name}`)
      ctx.addIssue({ code: 'custom', path: ['workspace', 'branch'], message: 'branch does not match name' });
    if (m.container) for (const p of containerSectionProblems(m.container, m.exportId)) ctx.addIssue({ code: 'custom', ...p });
  });

export type Manifest = z.infer<typeof ManifestSchema>;
export type ManifestObject = Manifest['objects'][number];

export function newExportId(now: Date, random: string): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${random}`;
}

/** Parse manifest bytes from a bucket. Throws BAD_INPUT with the first problem and a remedy. */
export function parseManifest(bytes: Buffer, where: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new BerthError('BAD_INPUT', `${where} is not valid JSON: it is not a berth export (re-export the workspace)`, {
      cause: err,
      details: { reason: 'manifest' },
    });
  }
  const head = z.looseObject({ format: z.string(), version: z.number() }).safeParse(json);
  if (head.success && head.data.format === MANIFEST_FORMAT && head.data.version > MANIFEST_VERSION) {
    throw new BerthError(
      'BAD_INPUT',
      `${where} uses export format version ${head.data.version}, newer than this berth understands (${MANIFEST_VERSION}): upgrade berth`,
      {
        details: { reason: 'manifest-version', version: head.data.version },
      },
    );
  }
  const res = ManifestSchema.safeParse(json);
  if (!res.success) {
    const issue = res.error.issues[0];
    throw new BerthError(
      'BAD_INPUT',
      `${where} is not a valid berth export manifest (${issue?.path.join('.') || '(root)'}: ${issue?.message}): re-export the workspace`,
      {
        details: { reason: 'manifest' },
      },
    );
  }
  return res.data;
}

/** Object keys a previous manifest at this location referenced, for clean-up; [] if unreadable. */
export function previousObjectKeys(bytes: Buffer | undefined): string[] {
  if (bytes === undefined) return [];
  try {
    const m = parseManifest(bytes, 'previous manifest');
    return [...m.objects.map((o) => o.key), ...containerSectionKeys(m.container)];
  } catch {
    return [];
  }
}

/**
 * What the persistence layer keeps in a workspace's state (WorkspaceState.extra, stored in the
 * git note): the list of checkpoints, the image the workspace's next container starts from, and
 * the heads a restore moved away from. Notes can be written by anyone who can push refs, so every
 * read goes through zod and a malformed field reads as empty rather than failing the workspace.
 */
import { z } from 'zod';

export const EXTRA_CHECKPOINTS = 'checkpoints';
export const EXTRA_CONTAINER_IMAGE = 'containerImage';
export const EXTRA_RESTORES = 'restores';
export const EXTRA_FORKED_FROM = 'forkedFrom';

/** Newest entries kept (the note's extra is capped at 256 KiB as a whole). */
export const MAX_CHECKPOINT_RECORDS = 200;
export const MAX_RESTORE_RECORDS = 50;

const sha = z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/);
const imageRef = z.string().min(1).max(300);
const imageId = z.string().regex(/^sha256:[0-9a-f]{64}$/);

export const CheckpointRecordSchema = z.object({
  /** The commit on berth/<name> (the worktree at checkpoint time). */
  sha,
  /** First line of the commit message, at most 200 characters. */
  message: z.string().max(200),
  at: z.iso.datetime(),
  /** Tag of the container snapshot (`docker commit`), when recorded with --with-container. */
  image: imageRef.optional(),
  imageId: imageId.optional(),
  /** The spec image the container was created from: a snapshot is only reused on the same base. */
  baseImage: imageRef.optional(),
});
export type CheckpointRecord = z.infer<typeof CheckpointRecordSchema>;

export const ContainerImageSchema = z.object({
  ref: imageRef,
  imageId: imageId.optional(),
  checkpoint: sha,
  baseImage: imageRef.optional(),
});
/** The snapshot a NEW container of the workspace is created from (instead of the spec's image). */
export type ContainerImage = z.infer<typeof ContainerImageSchema>;

export const RestoreRecordSchema = z.object({
  /** The branch head before the restore (kept reachable by `keptRef`). */
  from: sha,
  to: sha,
  at: z.iso.datetime(),
  keptRef: z.string().max(300),
});
export type RestoreRecord = z.infer<typeof RestoreRecordSchema>;

export const ForkedFromSchema = z.object({ name: z.string().max(63), checkpoint: sha, at: z.iso.datetime() });
export type ForkedFrom = z.infer<typeof ForkedFromSchema>;

function list<T>(schema: z.ZodType<T>, value: unknown): T[] {
  if (!Array.isArray(value)) return [];
  const out: T[] = [];
  for (const v of value) {
    const r = schema.safeParse(v);
    if (r.success) out.push(r.data);
  }
  return out;
}

/** Checkpoints recorded for the workspace, oldest first. */
export function readCheckpoints(extra: Readonly<Record<string, unknown>>): CheckpointRecord[] {
  return list(CheckpointRecordSchema, extra[EXTRA_CHECKPOINTS]);
}

export function readContainerImage(extra: Readonly<Record<string, unknown>>): ContainerImage | undefined {
  const r = ContainerImageSchema.safeParse(extra[EXTRA_CONTAINER_IMAGE]);
  return r.success ? r.data : undefined;
}

export function readRestores(extra: Readonly<Record<string, unknown>>): RestoreRecord[] {
  return list(RestoreRecordSchema, extra[EXTRA_RESTORES]);
}

/** The list with `rec` appended (replacing an entry for the same commit), newest MAX kept. */
export function withCheckpoint(records: readonly CheckpointRecord[], rec: CheckpointRecord): CheckpointRecord[] {
  return [...records.filter((r) => r.sha !== rec.sha), rec].slice(-MAX_CHECKPOINT_RECORDS);
}

export function firstLine(message: string): string {
  return (message.split('\n').find((l) => l.trim() !== '') ?? '').trim().slice(0, 200);
}

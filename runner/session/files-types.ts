/** Input schemas (validated at the trust boundary) and result shapes of the workspace file tools (files.ts). */
import path from 'node:path';
import { z } from 'zod';

export const DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Schemas (agent input is validated here; the MCP layer may reuse them for tool input schemas)
// ---------------------------------------------------------------------------------------------

const lineNumber = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

export const ReadOptionsSchema = z
  .object({ startLine: lineNumber.optional(), endLine: lineNumber.optional() })
  .refine((o) => o.startLine === undefined || o.endLine === undefined || o.endLine >= o.startLine, {
    message: 'endLine must be >= startLine',
  });
export type ReadOptions = z.input<typeof ReadOptionsSchema> & { signal?: AbortSignal };

export const WriteOptionsSchema = z.object({ createDirs: z.boolean().default(true) });
export type WriteOptions = z.input<typeof WriteOptionsSchema>;

export const EditRequestSchema = z.object({
  search: z.string().min(1, 'search must not be empty'),
  replace: z.string(),
  matchId: z.string().min(1).max(32).optional(),
});
export type EditRequest = z.input<typeof EditRequestSchema>;

export const ListOptionsSchema = z.object({
  recursive: z.boolean().default(false),
  maxEntries: z.number().int().min(1).max(100_000).default(1000),
  /** Include dot-entries (except `.git`). Default false, like `ls`. */
  includeHidden: z.boolean().default(false),
  /** Include `.git` entries too (never descended into). */
  includeGit: z.boolean().default(false),
});
export type ListOptions = z.input<typeof ListOptionsSchema> & { signal?: AbortSignal };

export const DeleteOptionsSchema = z.object({ recursive: z.boolean().default(false) });
export type DeleteOptions = z.input<typeof DeleteOptionsSchema> & { signal?: AbortSignal };

export const WorkspaceFilesOptionsSchema = z.object({
  maxFileBytes: z.number().int().min(1).default(DEFAULT_MAX_FILE_BYTES),
  /** Where the worktree is mounted in the container, e.g. `/workspace`; such absolute paths map to the root. */
  containerWorkdir: z
    .string()
    .refine((p) => path.posix.isAbsolute(p) && p !== '/', 'containerWorkdir must be an absolute path other than "/"')
    .transform((p) => path.posix.normalize(p).replace(/\/$/, ''))
    .optional(),
  /** 'auto' uses fd-relative resolution where /proc/self/fd exists; 'path' forces the fallback (tests). */
  resolveMode: z.enum(['auto', 'fd', 'path']).default('auto'),
});
export type WorkspaceFilesOptions = z.input<typeof WorkspaceFilesOptionsSchema>;

// ---------------------------------------------------------------------------------------------
// Result types
// ---------------------------------------------------------------------------------------------

export type FileType = 'file' | 'dir' | 'symlink' | 'other';

export interface ReadResult {
  /** UTF-8 text of the requested lines, line endings as in the file ('' for binary files). */
  readonly content: string;
  /** Lines in the whole file (a final newline does not start another line). */
  readonly totalLines: number;
  /** 1-based inclusive range actually returned (endLine < startLine for an empty file). */
  readonly startLine: number;
  readonly endLine: number;
  /** Bytes in the file. */
  readonly size: number;
  /** The range was cut at maxFileBytes; endLine says how far it got. */
  readonly truncated?: true;
  /** The file contains NUL bytes; content is not returned. */
  readonly binary?: true;
}

export interface WriteResult {
  readonly path: string;
  readonly bytes: number;
  readonly created: boolean;
}

export interface EditResult {
  readonly path: string;
  readonly replaced: 1;
  /** 1-based line where the replaced text started. */
  readonly line: number;
  readonly matchId: string;
}

export interface ListEntry {
  /** Path relative to the workspace root, '/'-separated, starting with the listed path. */
  readonly path: string;
  readonly type: FileType;
  readonly size: number;
  readonly mtimeMs: number;
  /** For symlinks: the raw link text (never followed). */
  readonly symlinkTarget?: string;
}

export interface ListResult {
  readonly entries: readonly ListEntry[];
  /** maxEntries was reached; more entries may exist. */
  readonly truncated: boolean;
}

export interface DeleteResult {
  readonly path: string;
  readonly type: FileType;
  /** Directory entries removed, including the target itself. */
  readonly removed: number;
}

export interface StatResult {
  readonly path: string;
  readonly type: FileType;
  readonly size: number;
  /** Permission bits (st_mode & 0o7777). */
  readonly mode: number;
  readonly mtimeMs: number;
  readonly symlinkTarget?: string;
}

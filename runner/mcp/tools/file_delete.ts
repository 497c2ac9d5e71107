import { z } from 'zod';
import { DeleteOptionsSchema } from '../../session/index.js';
import { defineTool } from '../tool.js';

export const fileDelete = defineTool({
  name: 'file_delete',
  title: 'Delete a file or directory',
  description:
    'Delete a file, symlink or (with recursive: true) a directory tree in the workspace. Committed content can be ' +
    "recovered from the workspace branch; uncommitted content cannot. The worktree's .git cannot be deleted.",
  scope: 'workspace',
  input: {
    path: z.string().min(1).max(4096).describe('Path relative to the workspace root.'),
    recursive: DeleteOptionsSchema.shape.recursive.describe('Required to delete a non-empty directory (default false).'),
  },
  output: { path: z.string(), type: z.enum(['file', 'dir', 'symlink', 'other']), removed: z.number() },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },

  async run(args, call) {
    const files = await call.files();
    const r = await files.delete(args.path, { recursive: args.recursive, signal: call.signal });
    const what = r.type === 'dir' ? `directory ${r.path} (${r.removed} entries)` : `${r.type} ${r.path}`;
    return { text: `Deleted ${what}.`, structured: { path: r.path, type: r.type, removed: r.removed } };
  },
});

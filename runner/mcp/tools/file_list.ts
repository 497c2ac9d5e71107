import { z } from 'zod';
import { ListOptionsSchema } from '../../session/index.js';
import { safeText } from '../../cli/index.js';
import { defineTool } from '../tool.js';

export const fileList = defineTool({
  name: 'file_list',
  title: 'List files',
  description:
    'List a directory of the workspace (default: its root). recursive: true walks the whole tree (up to maxEntries). ' +
    'Hidden entries (dot files) are left out unless includeHidden is true; .git is never listed. Symlinks are shown, not followed.',
  scope: 'workspace',
  input: {
    path: z.string().min(1).max(4096).optional().describe('Directory relative to the workspace root (default ".").'),
    recursive: ListOptionsSchema.shape.recursive.describe('List subdirectories too (default false).'),
    maxEntries: ListOptionsSchema.shape.maxEntries.describe('Stop after this many entries (default 1000).'),
    includeHidden: ListOptionsSchema.shape.includeHidden.describe('Include dot files and directories (default false).'),
  },
  output: {
    entries: z.array(z.object({ path: z.string(), type: z.enum(['file', 'dir', 'symlink', 'other']), size: z.number() })),
    truncated: z.boolean(),
  },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },

  async run(args, call) {
    const files = await call.files();
    const r = await files.list(args.path ?? '.', {
      recursive: args.recursive,
      maxEntries: args.maxEntries,
      includeHidden: args.includeHidden,
      signal: call.signal,
    });
    const entries = r.entries.map((e) => ({ path: e.path, type: e.type, size: e.size }));
    // Names are agent- or repo-controlled and the text may reach a person's terminal: escape
    // control and bidi characters there; structuredContent keeps the exact names.
    const lines = r.entries.map((e) => {
      const p = safeText(e.path);
      return e.type === 'dir' ? `${p}/` : e.type === 'symlink' ? `${p} -> ${safeText(e.symlinkTarget ?? '?')}` : `${p} (${e.size} bytes)`;
    });
    if (lines.length === 0) lines.push('(empty directory)');
    if (r.truncated) lines.push(`[stopped after ${entries.length} entries: list a subdirectory or raise maxEntries]`);
    return { text: lines.join('\n'), structured: { entries, truncated: r.truncated } };
  },
});

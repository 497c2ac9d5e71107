import { z } from 'zod';
import { WriteOptionsSchema } from '../../session/index.js';
import { CONTENT_TOO_LARGE, withinContentBytes } from '../limits.js';
import { defineTool } from '../tool.js';

export const fileWrite = defineTool({
  name: 'file_write',
  title: 'Write a file',
  description:
    'Create or overwrite a text file in the workspace with exactly the given content (atomic: readers never see half a file). ' +
    'Missing parent directories are created. For a small change to an existing file prefer file_edit.',
  scope: 'workspace',
  input: {
    path: z.string().min(1).max(4096).describe('File path relative to the workspace root, e.g. "src/util.ts".'),
    content: z.string().refine(withinContentBytes, `content is ${CONTENT_TOO_LARGE}`).describe('The complete new content of the file (UTF-8 text).'),
    createDirs: WriteOptionsSchema.shape.createDirs.describe('Create missing parent directories (default true).'),
  },
  output: { path: z.string(), bytes: z.number(), created: z.boolean() },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },

  async run(args, call) {
    const files = await call.files();
    const r = await files.write(args.path, args.content, { createDirs: args.createDirs });
    return {
      text: `${r.created ? 'Created' : 'Overwrote'} ${r.path} (${r.bytes} bytes).`,
      structured: { path: r.path, bytes: r.bytes, created: r.created },
    };
  },
});

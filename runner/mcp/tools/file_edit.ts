import { z } from 'zod';
import { EditRequestSchema } from '../../session/index.js';
import { CONTENT_TOO_LARGE, withinContentBytes } from '../limits.js';
import { defineTool } from '../tool.js';

export const fileEdit = defineTool({
  name: 'file_edit',
  title: 'Edit a file',
  description:
    'Replace one exact occurrence of search with replace in a workspace file. search must match the file text exactly ' +
    '(whitespace and line breaks included) and occur once. If it occurs several times the call fails and lists every ' +
    'match with an ID such as "L12" and some context: call again with the same search and matchId set to the one you mean. ' +
    'To create a file or rewrite it entirely use file_write.',
  scope: 'workspace',
  input: {
    path: z.string().min(1).max(4096).describe('File path relative to the workspace root.'),
    search: EditRequestSchema.shape.search
      .refine(withinContentBytes, `search is ${CONTENT_TOO_LARGE}`)
      .describe('Exact text to find (copy it from file_read output).'),
    replace: EditRequestSchema.shape.replace
      .refine(withinContentBytes, `replace is ${CONTENT_TOO_LARGE}`)
      .describe('Text to put in its place (may be empty to delete it).'),
    matchId: EditRequestSchema.shape.matchId.describe('Only when search occurs several times: the match ID (e.g. "L12") from the previous error.'),
  },
  output: { path: z.string(), line: z.number(), matchId: z.string() },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },

  async run(args, call) {
    const files = await call.files();
    const r = await files.edit(args.path, {
      search: args.search,
      replace: args.replace,
      ...(args.matchId === undefined ? {} : { matchId: args.matchId }),
    });
    return { text: `Edited ${r.path} at line ${r.line} (match ${r.matchId}).`, structured: { path: r.path, line: r.line, matchId: r.matchId } };
  },
});

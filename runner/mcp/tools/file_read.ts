import { z } from 'zod';
import { ReadOptionsSchema } from '../../session/index.js';
import { defineTool } from '../tool.js';

/** A whole-file read lands in the model's context: beyond this, it must read in line ranges. */
const MAX_READ_BYTES = 512 * 1024;

export const fileRead = defineTool({
  name: 'file_read',
  title: 'Read a file',
  description:
    'Read a text file of the workspace. path is relative to the workspace root (an absolute path under the container ' +
    `workdir, e.g. /workspace/src/app.ts, works too). Files over ${MAX_READ_BYTES / 1024} KiB must be read in parts with ` +
    'startLine/endLine (1-based, inclusive); totalLines in the result tells how far to go. Binary files are detected and not returned.',
  scope: 'workspace',
  input: {
    path: z.string().min(1).max(4096).describe('File path relative to the workspace root, e.g. "src/index.ts".'),
    startLine: ReadOptionsSchema.shape.startLine.describe('First line to return (1-based). Default 1.'),
    endLine: ReadOptionsSchema.shape.endLine.describe('Last line to return (inclusive). Default: the end of the file.'),
  },
  output: {
    path: z.string(),
    content: z.string(),
    totalLines: z.number(),
    startLine: z.number(),
    endLine: z.number(),
    size: z.number(),
    truncated: z.boolean(),
    binary: z.boolean(),
  },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },

  async run(args, call) {
    const files = await call.files({ maxFileBytes: MAX_READ_BYTES });
    const r = await files.read(args.path, {
      ...(args.startLine === undefined ? {} : { startLine: args.startLine }),
      ...(args.endLine === undefined ? {} : { endLine: args.endLine }),
      signal: call.signal,
    });
    const structured = {
      path: args.path,
      content: r.content,
      totalLines: r.totalLines,
      startLine: r.startLine,
      endLine: r.endLine,
      size: r.size,
      truncated: r.truncated === true,
      binary: r.binary === true,
    };
    if (r.binary) return { text: `${args.path} is a binary file (${r.size} bytes); its content is not shown. Inspect it with exec if needed.`, structured };
    const whole = r.startLine <= 1 && r.endLine >= r.totalLines;
    const header = whole ? `${args.path} (${r.totalLines} lines)` : `${args.path} (lines ${r.startLine}-${r.endLine} of ${r.totalLines})`;
    const more = r.truncated ? `\n[stopped at line ${r.endLine}: the range is over ${MAX_READ_BYTES} bytes; continue with startLine ${r.endLine + 1}]` : '';
    return { text: `${header}\n${r.content}${more}`, structured };
  },
});

import { z } from 'zod';
import { PROCESS_NAME_PATTERN } from '../../session/index.js';
import { defineTool } from '../tool.js';

const MAX_TAIL_BYTES = 1024 * 1024;

export const processLog = defineTool({
  name: 'process_log',
  title: 'Read a background process log',
  description: "Read the end of a background process's combined stdout+stderr (it keeps growing while the process runs; call again to follow it).",
  scope: 'workspace',
  input: {
    name: z.string().regex(PROCESS_NAME_PATTERN, 'a process name as shown by process_list').describe('The process name (see process_list).'),
    tailBytes: z.number().int().min(1).max(MAX_TAIL_BYTES).optional().describe('How many bytes from the end of the log to return (default 16384).'),
  },
  output: { name: z.string(), text: z.string(), bytes: z.number(), truncated: z.boolean() },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },

  async run(args, call) {
    const log = await (await call.session()).processLog(args.name, { tailBytes: args.tailBytes ?? 16_384 });
    const header = log.truncated ? `[last ${Buffer.byteLength(log.text)} of ${log.bytes} bytes]\n` : '';
    return {
      text: log.text ? `${header}${log.text}` : `(process ${args.name} has written nothing yet)`,
      structured: { name: log.name, text: log.text, bytes: log.bytes, truncated: log.truncated },
    };
  },
});

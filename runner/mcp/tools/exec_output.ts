import { z } from 'zod';
import { jobsFor, outputFrom } from '../jobs.js';
import { defineTool } from '../tool.js';
import { handleArg, RUNNING_OUTPUT_CHARS } from './exec-reply.js';

export const execOutput = defineTool({
  name: 'exec_output',
  title: 'Read a command’s output',
  description:
    'Read the combined output (stdout and stderr, as they arrived) of a command started by exec, from a character offset, ' +
    'without waiting. Use nextOffset of the previous answer to read on. Works while it runs and for 15 minutes after it ends.',
  scope: 'workspace',
  input: {
    handle: handleArg,
    offset: z.number().int().min(0).optional().describe('Character offset from the start of the output (default 0).'),
  },
  output: {
    running: z.boolean(),
    output: z.string(),
    offset: z.number(),
    nextOffset: z.number(),
    skipped: z.number(),
    lines: z.number(),
    exitCode: z.number().nullable().optional(),
  },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },

  async run(args, call) {
    const job = jobsFor(call.deps).get(args.handle, call.workspace);
    const out = outputFrom(job, args.offset ?? 0, RUNNING_OUTPUT_CHARS);
    const running = job.finishedAt === undefined;
    const note = out.skipped > 0 ? `[${out.skipped} older characters are no longer kept]\n` : '';
    const state = running ? 'still running' : `finished (exit ${job.result?.exitCode ?? 'unknown'})`;
    return {
      text: `${note}${out.text || '(no output in this range)'}\n[${state} · next offset ${out.nextOffset}]`,
      structured: {
        running,
        output: out.text,
        offset: out.offset,
        nextOffset: out.nextOffset,
        skipped: out.skipped,
        lines: job.lines,
        ...(running ? {} : { exitCode: job.result?.exitCode ?? null }),
      },
    };
  },
});

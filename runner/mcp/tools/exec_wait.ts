import { z } from 'zod';
import { DEFAULT_YIELD_MS, jobsFor } from '../jobs.js';
import { defineTool } from '../tool.js';
import { execOutputShape, handleArg, jobReply, yieldMsArg } from './exec-reply.js';

export const execWait = defineTool({
  name: 'exec_wait',
  title: 'Wait for a running command',
  description:
    'Wait for a command that exec answered with running: true. Answers when it finishes (exit code and output, as exec would) ' +
    'or after yieldMs with running: true and the newest output; call it again until running is false. A finished command stays ' +
    'readable for 15 minutes, so calling this again after it finished is fine.',
  scope: 'workspace',
  input: {
    handle: handleArg,
    yieldMs: yieldMsArg,
    offset: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('Return running output from this offset (nextOffset of the previous answer) instead of the newest part.'),
  },
  output: execOutputShape,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },

  async run(args, call) {
    const jobs = jobsFor(call.deps);
    const job = jobs.get(args.handle, call.workspace);
    await jobs.wait(job, args.yieldMs ?? DEFAULT_YIELD_MS, call.signal, (j) => call.progress.step(`still running: ${j.lines} lines of output`));
    return jobReply(job, args.offset);
  },
});

import { jobsFor } from '../jobs.js';
import { defineTool } from '../tool.js';
import { execOutputShape, handleArg, jobReply } from './exec-reply.js';

/** How long exec_kill waits for the killed command to be reaped before answering. */
const KILL_WAIT_MS = 15_000;

export const execKill = defineTool({
  name: 'exec_kill',
  title: 'Stop a running command',
  description:
    'Stop a command that exec answered with running: true (its whole process tree; the shell survives). Answers with its final ' +
    'result (aborted: true). Stopping a command that already finished just returns its result.',
  scope: 'workspace',
  input: { handle: handleArg },
  output: execOutputShape,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },

  async run(args, call) {
    const jobs = jobsFor(call.deps);
    const job = jobs.get(args.handle, call.workspace);
    if (job.finishedAt === undefined) job.controller.abort(new Error('exec_kill'));
    await jobs.wait(job, KILL_WAIT_MS, call.signal);
    return jobReply(job);
  },
});

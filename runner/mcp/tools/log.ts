import { z } from 'zod';
import { defineTool } from '../tool.js';

export const log = defineTool({
  name: 'log',
  title: 'Show workspace commits',
  description: 'List the commits made in the workspace (its checkpoints) since it started, newest first.',
  scope: 'workspace',
  input: {
    limit: z.number().int().min(1).max(1000).optional().describe('At most this many commits (default 50).'),
  },
  output: {
    commits: z.array(z.object({ sha: z.string(), subject: z.string(), author: z.string(), date: z.string() })),
  },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },

  async run(args, call) {
    await call.info();
    const commits = await call.deps.runner.workspaces.log(call.workspace, { limit: args.limit ?? 50, signal: call.signal });
    const rows = commits.map((c) => ({ sha: c.sha, subject: c.subject, author: c.author, date: c.date }));
    return {
      text: rows.length ? rows.map((c) => `${c.sha.slice(0, 12)} ${c.date} ${c.subject}`).join('\n') : 'No commits yet: call checkpoint to commit your work.',
      structured: { commits: rows },
    };
  },
});

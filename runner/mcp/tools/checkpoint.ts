import { z } from 'zod';
import { defineTool } from '../tool.js';
import { plural } from './shared.js';

export const checkpoint = defineTool({
  name: 'checkpoint',
  title: 'Commit the workspace',
  description:
    'Commit everything in the workspace (new, changed and deleted files; .gitignore respected) to its branch berth/<name>. ' +
    'Call it after each logical step with a message that says what changed and why, like a good commit message: ' +
    'the user reviews these commits before merging. Nothing reaches the user\'s checkout until they merge.',
  scope: 'workspace',
  input: {
    message: z
      .string()
      .min(1)
      .max(64 * 1024)
      .refine((m) => m.trim() !== '', 'the message must not be blank')
      .describe('Commit message: a short summary line, optionally a blank line and details.'),
  },
  output: { sha: z.string(), committed: z.boolean(), filesChanged: z.number() },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },

  async run(args, call) {
    await call.info();
    const r = await call.deps.runner.workspaces.checkpoint(call.workspace, args.message, { signal: call.signal });
    return {
      text: r.committed
        ? `Committed ${r.sha.slice(0, 12)} (${plural(r.filesChanged, 'file')} changed).`
        : `Nothing to commit: the worktree matches ${r.sha.slice(0, 12)}.`,
      structured: { sha: r.sha, committed: r.committed, filesChanged: r.filesChanged },
    };
  },
});

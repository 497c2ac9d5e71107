import { z } from 'zod';
import { defineTool } from '../tool.js';
import { plural } from './shared.js';

export const checkpoint = defineTool({
  name: 'checkpoint',
  title: 'Commit the workspace',
  description:
    'Commit everything in the workspace (new, changed and deleted files; .gitignore respected) to its branch berth/<name>. ' +
    'Nested git repositories are committed as plain files (their .git is skipped); a file over 100 MiB is refused. ' +
    'Call it after each logical step with a message that says what changed and why, like a good commit message: ' +
    "the user reviews these commits before merging. Nothing reaches the user's checkout until they merge.",
  scope: 'workspace',
  input: {
    message: z
      .string()
      .min(1)
      .max(64 * 1024)
      .refine((m) => m.trim() !== '', 'the message must not be blank')
      .describe('Commit message: a short summary line, optionally a blank line and details.'),
    withContainer: z
      .boolean()
      .optional()
      .describe(
        'Also snapshot the container filesystem (system packages you installed, files outside the workspace), ' +
          'so they survive if the container is recreated. Slower and uses disk: use it after installing system packages.',
      ),
  },
  output: { sha: z.string(), committed: z.boolean(), filesChanged: z.number(), image: z.string().optional() },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },

  async run(args, call) {
    // A snapshot needs the live container; a plain checkpoint only needs the workspace.
    if (args.withContainer) await call.session();
    else await call.info();
    const r = await call.deps.runner.checkpoint(call.workspace, {
      message: args.message,
      withContainer: args.withContainer ?? false,
      signal: call.signal,
    });
    const snapshot = r.image ? ` Container snapshot: ${r.image.ref}.` : '';
    return {
      text:
        (r.committed
          ? `Committed ${r.sha.slice(0, 12)} (${plural(r.filesChanged, 'file')} changed).`
          : `Nothing to commit: the worktree matches ${r.sha.slice(0, 12)}.`) + snapshot,
      structured: { sha: r.sha, committed: r.committed, filesChanged: r.filesChanged, ...(r.image ? { image: r.image.ref } : {}) },
    };
  },
});

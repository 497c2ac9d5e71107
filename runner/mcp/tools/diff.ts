import { z } from 'zod';
import { defineTool } from '../tool.js';
import { clip } from './shared.js';

/** A patch lands in the model's context; past this, ask for --stat or narrow with exec + git. */
const MAX_DIFF_CHARS = 200_000;

export const diff = defineTool({
  name: 'diff',
  title: 'Show workspace changes',
  description:
    'Show what the workspace changed relative to the commit it started from: committed and uncommitted changes and new ' +
    'files, as a unified diff (or a per-file summary with stat: true). This is what the user will review.',
  scope: 'workspace',
  input: {
    stat: z.boolean().optional().describe('Only a summary of changed files and line counts (like git diff --stat).'),
  },
  output: { diff: z.string(), truncated: z.boolean(), empty: z.boolean() },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },

  async run(args, call) {
    await call.info();
    const text = await call.deps.runner.workspaces.diff(call.workspace, { stat: args.stat ?? false, signal: call.signal });
    const { text: shown, truncated } = clip(text, MAX_DIFF_CHARS);
    const empty = text.trim() === '';
    return {
      text: empty
        ? 'No changes: the workspace matches its base commit.'
        : truncated
          ? `${shown}\n[the diff is ${text.length} characters; call diff with stat: true for an overview, or exec "git diff <base> -- <path>" for one file]`
          : shown,
      structured: { diff: shown, truncated, empty },
    };
  },
});

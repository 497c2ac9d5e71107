import { z } from 'zod';
import { defineTool } from '../tool.js';
/**
 * A patch lands in the model's context; past this, ask for --stat or narrow with exec + git. The
 * library reads at most this much of git's output (and no file over its per-file limit), so a huge
 * file or diff never sits in the server's memory.
 */
const MAX_DIFF_BYTES = 200_000;

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
    const d = await call.deps.runner.workspaces.diffText(call.workspace, { stat: args.stat ?? false, maxBytes: MAX_DIFF_BYTES, signal: call.signal });
    const empty = d.bytes === 0 && d.placeholders.length === 0;
    const notes = [
      ...(d.bytes > MAX_DIFF_BYTES
        ? [
            `[the diff is ${d.bytes} bytes; only the first ${MAX_DIFF_BYTES} are shown: call diff with stat: true for an overview, or exec "git diff <base> -- <path>" for one file]`,
          ]
        : []),
      ...(d.placeholders.length
        ? [`[${d.placeholders.length} file(s) too large to diff, shown as a placeholder: ${d.placeholders.slice(0, 10).join(', ')}]`]
        : []),
    ];
    return {
      text: empty ? 'No changes: the workspace matches its base commit.' : [d.text, ...notes].join('\n'),
      structured: { diff: d.text, truncated: d.truncated, empty },
    };
  },
});

import { z } from 'zod';
import { defineTool } from '../tool.js';

export const workspaceDelete = defineTool({
  name: 'workspace_delete',
  title: 'Delete a workspace',
  description:
    'Permanently delete a workspace: its container, its worktree, its branch berth/<name> and every commit on it that ' +
    'was not merged by the user. Only do this when the user asked for it or the work is abandoned; finished work ' +
    'should be checkpointed and left for the user to review and merge.',
  scope: 'workspace',
  input: {},
  output: {
    name: z.string(),
    removedContainers: z.array(z.string()),
    removedVolumes: z.array(z.string()),
    warnings: z.array(z.string()),
  },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },

  async run(_args, call) {
    const name = call.workspace;
    // Fails with WORKSPACE_NOT_FOUND (listing the existing ones) before anything is touched.
    await call.deps.runner.workspaces.get(name, { signal: call.signal });
    const res = await call.deps.runner.delete(name);
    const lines = [`Deleted workspace ${name} (branch berth/${name}, its worktree and container).`, ...res.warnings.map((w) => `Warning: ${w}`)];
    return {
      text: lines.join('\n'),
      structured: { name, removedContainers: [...res.containers], removedVolumes: [...res.volumes], warnings: [...res.warnings] },
    };
  },
});

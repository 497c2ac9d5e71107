import { z } from 'zod';
import { formatAge } from '../../../src/workspace/index.js';
import { defineTool } from '../tool.js';

export const workspaceList = defineTool({
  name: 'workspace_list',
  title: 'List workspaces',
  description:
    'List the berth workspaces of this repository: name, branch, base, whether the worktree has uncommitted changes, ' +
    'and the state of its container (running, exited = stopped but resumable, none = not created yet). ' +
    'Use it to find a workspace to continue in, or to check a name before workspace_create.',
  scope: 'repo',
  input: {},
  output: {
    workspaces: z.array(
      z.object({
        name: z.string(),
        branch: z.string(),
        baseRef: z.string(),
        head: z.string(),
        dirty: z.boolean(),
        createdAt: z.string(),
        container: z.string(),
      }),
    ),
    pinned: z.string().nullable(),
  },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },

  async run(_args, call) {
    const runner = call.deps.runner;
    const [workspaces, sessions] = await Promise.all([runner.workspaces.list({ signal: call.signal }), runner.list()]);
    const state = new Map(sessions.map((s) => [s.name, s.state]));
    const rows = workspaces.map((w) => ({
      name: w.name,
      branch: w.branch,
      baseRef: w.baseRef,
      head: w.head,
      dirty: w.dirty,
      createdAt: w.createdAt,
      container: state.get(w.name) ?? 'none',
    }));
    const pinned = call.deps.workspace ?? null;
    const lines = rows.length
      ? rows.map(
          (r) =>
            `${r.name}${r.name === pinned ? " (this server's workspace)" : ''}: ${r.branch} from ${r.baseRef}, head ${r.head.slice(0, 12)}, ` +
            `${r.dirty ? 'uncommitted changes' : 'clean'}, container ${r.container}, created ${formatAge(Date.now() - Date.parse(r.createdAt))} ago`,
        )
      : [pinned ? `No workspaces yet; ${pinned} is created on first use.` : 'No workspaces yet. Call workspace_create to make one.'];
    return { text: lines.join('\n'), structured: { workspaces: rows, pinned } };
  },
});

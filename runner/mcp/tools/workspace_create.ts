import { z } from 'zod';
import { BerthError } from '../../../src/errors.js';
import { assertValidName, NAME_PATTERN } from '../../../src/workspace/index.js';
import { readableName } from '../names.js';
import { defineTool } from '../tool.js';

/** Generated names collide rarely; give up after this many tries instead of looping. */
const NAME_ATTEMPTS = 8;

export const workspaceCreate = defineTool({
  name: 'workspace_create',
  title: 'Create a workspace',
  description:
    'Create an isolated workspace: a new git branch berth/<name> checked out in its own worktree, plus a long-lived ' +
    'container where your commands run (the worktree is mounted at the container workdir, usually /workspace). ' +
    "The user's checkout is never touched; they review and merge the branch later. " +
    'Omit name to get a readable generated one. Returns the name to pass as `workspace` to the other tools. ' +
    'The first start can take a while (container setup); progress is reported when requested.',
  scope: 'repo',
  input: {
    name: z
      .string()
      .regex(NAME_PATTERN, 'use lowercase letters, digits, ".", "_" or "-", starting with a letter or digit (max 63)')
      .optional()
      .describe('Workspace name, e.g. "fix-login-bug". Lowercase letters, digits, ".", "_", "-". Omit to generate one like "brave-otter-42".'),
    base: z.string().min(1).max(256).optional().describe("Git branch, tag or commit to start from (default: HEAD of the user's checkout)."),
    strictImage: z
      .boolean()
      .optional()
      .describe("Fail when the repository's devcontainer.json image can't be pulled or built, instead of using the detected toolchain image (default false)."),
  },
  output: {
    name: z.string(),
    branch: z.string(),
    baseRef: z.string(),
    baseSha: z.string(),
    workdir: z.string(),
    image: z.string(),
    created: z.boolean(),
    setupRan: z.boolean(),
    warnings: z.array(z.string()),
  },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },

  async run(args, call) {
    const runner = call.deps.runner;
    const pinned = call.deps.workspace;
    let name: string;
    let existed = false;
    if (pinned !== undefined) {
      if (args.name !== undefined && args.name !== pinned) {
        throw new BerthError(
          'BAD_INPUT',
          `this berth server is pinned to workspace ${JSON.stringify(pinned)} (--workspace), so it cannot create ${JSON.stringify(args.name)}: omit name; every tool already works in ${pinned}`,
        );
      }
      name = pinned;
      existed = (await runner.workspaces.find(name, { signal: call.signal })) !== undefined;
    } else if (args.name !== undefined) {
      name = args.name;
      assertValidName(name);
      if (await runner.workspaces.find(name, { signal: call.signal })) {
        throw new BerthError('WORKSPACE_EXISTS', `workspace ${JSON.stringify(name)} already exists (branch berth/${name})`, { details: { name } });
      }
    } else {
      name = await freeName(async (n) => (await runner.workspaces.find(n, { signal: call.signal })) !== undefined);
    }

    const session = await call.session(name, {
      create: true,
      ...(args.base === undefined ? {} : { base: args.base }),
      ...(args.strictImage ? { strictImage: true } : {}),
    });
    const ws = session.workspace;
    const created = !existed && session.created.workspace;
    const warnings = [...session.warnings];
    if (args.base !== undefined && !created)
      warnings.push(`base ${JSON.stringify(args.base)} was ignored: workspace ${name} already existed (it started from ${ws.baseRef})`);
    const lines = [
      `${created ? 'Created' : 'Using existing'} workspace ${name} (branch ${ws.branch}, from ${ws.baseRef} ${ws.baseSha.slice(0, 12)}).`,
      `Commands run in its container (${session.spec.image}) with the worktree at ${session.spec.workdir}.`,
      ...(pinned === undefined ? [`Pass workspace: "${name}" to the other tools.`] : []),
      ...warnings.map((w) => `Warning: ${w}`),
    ];
    return {
      text: lines.join('\n'),
      structured: {
        name,
        branch: ws.branch,
        baseRef: ws.baseRef,
        baseSha: ws.baseSha,
        workdir: session.spec.workdir,
        image: session.spec.image,
        created,
        setupRan: session.setup.ran,
        warnings,
      },
    };
  },
});

async function freeName(taken: (name: string) => Promise<boolean>): Promise<string> {
  for (let i = 0; i < NAME_ATTEMPTS; i++) {
    const name = readableName();
    if (!(await taken(name))) return name;
  }
  throw new BerthError('WORKSPACE_EXISTS', `could not find a free generated workspace name after ${NAME_ATTEMPTS} tries: pass a name`);
}

/**
 * `berth ws …`: the git side of workspaces (branch + worktree + state), straight from the
 * library in src/workspace. Container-aware deletion plugs in through `deps.beforeRemove`
 * (used by both `delete` and `prune`), so a runner-level command can register this module with
 * a hook that removes the workspace's containers and volumes first.
 */
import type { Command } from 'commander';
import { formatAge, Workspaces, type BeforeRemoveHook, type WorkspaceInfo } from '../../../src/workspace/index.js';
import { createLogger } from '../../../src/log.js';
import { durationArg, positiveIntArg } from '../args.js';
import { action, printJson, printWarnings, safeText } from '../output.js';
import { hostFor, registerPersistence, runCheckpoint, runCommandLog } from './ws-persist.js';
import { registerSync } from './ws-sync.js';
import { short, wsSubcommand, type CommonOpts, type WithRepo } from './ws-shared.js';
import { registerTransfer } from './ws-transfer.js';

export interface WsCommandDeps {
  /** Opens the workspaces of the repository at `repo` (default: Workspaces.open with a stderr logger). */
  readonly open?: (repo: string) => Promise<Workspaces>;
  /** Runs before `delete` and `prune` remove a workspace, e.g. to remove its container (and volumes unless keepVolumes). */
  readonly beforeRemove?: (info: Parameters<BeforeRemoveHook>[0], opts?: { keepVolumes?: boolean }) => Promise<void>;
  /**
   * Deletes one workspace with everything berth made for it: THE delete path (Runner.delete), so
   * `ws delete` and the MCP tool can't drift apart. Without it, only the git side is deleted.
   */
  readonly deleteWorkspace?: (repo: string, name: string, opts: { keepVolumes: boolean }) => Promise<{ readonly warnings: readonly string[] }>;
  /** `ws create --strict-image`: fail now if devcontainer.json's image can't be pulled or built (the container comes later). */
  readonly checkImage?: (repo: string) => Promise<void>;
}

const defaultOpen = (repo: string) => Workspaces.open(repo, { logger: createLogger() });

/** Left-aligned columns separated by two spaces; the last column is not padded. Cells are escaped (safeText). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows].map((r) => r.map((cell) => safeText(cell)));
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function describe(w: WorkspaceInfo): string {
  const lines: [string, string][] = [
    ['name', w.name],
    ['branch', w.branch],
    ['base', `${w.baseRef} (${short(w.baseSha)})`],
    ['head', short(w.head)],
    ['status', w.dirty ? 'uncommitted changes' : 'clean'],
    ['created', `${w.createdAt} (${formatAge(Date.now() - Date.parse(w.createdAt))} ago)`],
    ['worktree', w.worktree],
    ['repo', w.repo],
  ];
  if (Object.keys(w.extra).length > 0) lines.push(['extra', JSON.stringify(w.extra)]);
  return lines.map(([k, v]) => `${k.padEnd(9)}${safeText(v)}`).join('\n');
}

export function register(program: Command, deps: WsCommandDeps = {}): void {
  const open = deps.open ?? defaultOpen;
  const hook = deps.beforeRemove;
  const removeHook = hook ? { beforeRemove: (info: WorkspaceInfo) => hook(info) } : {};
  const withRepo: WithRepo = async (opts, fn) => {
    const ws = await open(opts.repo ?? process.cwd());
    try {
      return await fn(ws);
    } finally {
      await ws.close();
    }
  };

  const ws = program
    .command('ws')
    .description('git workspaces: one branch berth/<name> + a worktree outside your checkout per workspace')
    .addHelpText(
      'after',
      `
Examples:
  berth ws create demo             branch berth/demo + worktree from HEAD
  berth ws list                    all workspaces of the current repository
  berth ws diff demo               what the workspace changed (uncommitted files included)
  berth ws merge demo --squash     bring it into your current branch
  berth ws delete demo             remove worktree, branch and state`,
    );

  const sub = (name: string, description: string, example: string) => wsSubcommand(ws, name, description, example);

  sub('create', 'create a workspace: branch berth/<name> from a base ref, plus its worktree', 'berth ws create fix-login --base main')
    .argument('<name>', "workspace name: a-z, 0-9, '.', '_', '-' (max 63)")
    .option('--base <ref>', 'branch, tag or commit to start from', 'HEAD')
    .option('--strict-image', "fail (before creating anything) when devcontainer.json's image can't be pulled or built, instead of falling back later")
    .action(
      action(async (name: string, opts: CommonOpts & { base: string; strictImage?: boolean }) => {
        if (opts.strictImage) await deps.checkImage?.(opts.repo ?? process.cwd());
        const res = await withRepo(opts, (w) => w.create(name, { base: opts.base }));
        if (opts.json) printJson(res);
        else {
          const w = res.workspace;
          process.stdout.write(
            `Created workspace ${w.name} from ${safeText(w.baseRef)} (${short(w.baseSha)})\n  branch    ${w.branch}\n  worktree  ${safeText(w.worktree)}\n`,
          );
          printWarnings(res.warnings);
        }
      }),
    );

  sub('list', 'list the workspaces of the repository', "berth ws list --json | jq -r '.workspaces[].name'").action(
    action(async (opts: CommonOpts) => {
      const { repo, list } = await withRepo(opts, async (w) => ({ repo: w.repo, list: await w.list() }));
      if (opts.json) {
        printJson({ repo, workspaces: list });
        return;
      }
      if (list.length === 0) {
        process.stdout.write(`No workspaces in ${safeText(repo)}. Create one with: berth ws create <name>\n`);
        return;
      }
      const now = Date.now();
      const rows = list.map((w) => [
        w.name,
        `${w.baseRef}@${short(w.baseSha)}`,
        short(w.head),
        w.dirty ? 'modified' : 'clean',
        formatAge(now - Date.parse(w.createdAt)),
        w.worktree,
      ]);
      process.stdout.write(`${table(['NAME', 'BASE', 'HEAD', 'STATUS', 'AGE', 'WORKTREE'], rows)}\n`);
    }),
  );

  sub('show', "show one workspace's state and its commits", 'berth ws show demo')
    .argument('<name>', 'workspace name')
    .action(
      action(async (name: string, opts: CommonOpts) => {
        const { info, commits } = await withRepo(opts, async (w) => {
          const info = await w.get(name);
          return { info, commits: await w.log(name) };
        });
        if (opts.json) {
          printJson({ workspace: info, commits });
          return;
        }
        process.stdout.write(`${describe(info)}\n`);
        process.stdout.write(`commits  ${commits.length === 0 ? 'none since base' : String(commits.length)}\n`);
        for (const c of commits.slice(0, 10)) process.stdout.write(`  ${short(c.sha)} ${safeText(c.subject)}\n`);
        if (commits.length > 10) process.stdout.write(`  ... ${commits.length - 10} more (berth ws log ${name})\n`);
      }),
    );

  sub('diff', 'diff of the workspace against its base, including uncommitted and untracked files', 'berth ws diff demo --stat')
    .argument('<name>', 'workspace name')
    .option('--stat', 'summary per file instead of the patch')
    .action(
      action(async (name: string, opts: CommonOpts & { stat?: boolean }) => {
        const { info, diff } = await withRepo(opts, async (w) => {
          const info = await w.get(name);
          return { info, diff: await w.diff(name, { stat: opts.stat ?? false }) };
        });
        if (opts.json) printJson({ name, baseSha: info.baseSha, stat: opts.stat ?? false, diff });
        // The patch is agent-written file content and names: escaped for the terminal (--json is exact).
        else process.stdout.write(safeText(diff, { multiline: true }));
      }),
    );

  sub('log', 'commits on the workspace branch since its base, newest first (--commands: the commands its sessions ran)', 'berth ws log demo -n 5')
    .argument('<name>', 'workspace name')
    .option('-n, --limit <count>', 'at most this many commits (or newest commands)', positiveIntArg)
    .option('--commands', 'the command log instead: one line per command run in the workspace (time, shell, exit, duration, output bytes)')
    .action(
      action(async (name: string, opts: CommonOpts & { limit?: number; commands?: boolean }) => {
        if (opts.commands) return runCommandLog(withRepo, name, opts);
        const commits = await withRepo(opts, (w) => w.log(name, opts.limit !== undefined ? { limit: opts.limit } : {}));
        if (opts.json) printJson({ name, commits });
        else if (commits.length === 0) process.stdout.write(`No commits in ${name} since its base.\n`);
        else for (const c of commits) process.stdout.write(`${short(c.sha)}  ${c.date}  ${safeText(c.subject)}  (${safeText(c.author)})\n`);
      }),
    );

  sub('checkpoint', 'commit everything in the worktree (untracked files too, .gitignore respected)', 'berth ws checkpoint demo -m "tests pass"')
    .argument('<name>', 'workspace name')
    .option('-m, --message <text>', 'commit message (default: "berth checkpoint <time>")')
    .option('--with-container', "also snapshot the container's filesystem (installed packages): a new container of the workspace starts from it")
    .action(action(async (name: string, opts: CommonOpts & { message?: string; withContainer?: boolean }) => runCheckpoint(withRepo, name, opts)));

  sub('merge', 'merge the workspace branch into the branch checked out in your repository', 'berth ws merge demo --squash -m "Fix login"')
    .argument('<name>', 'workspace name')
    .option('--squash', 'one squashed commit instead of a merge commit')
    .option('-m, --message <text>', 'commit message')
    .action(
      action(async (name: string, opts: CommonOpts & { squash?: boolean; message?: string }) => {
        const res = await withRepo(opts, (w) =>
          w.merge(name, { squash: opts.squash ?? false, ...(opts.message !== undefined ? { message: opts.message } : {}) }),
        );
        if (opts.json) {
          printJson(res);
          return;
        }
        if (res.merged) process.stdout.write(`${res.squashed ? 'Squashed' : 'Merged'} berth/${name} into ${safeText(res.into)} (${short(res.sha)})\n`);
        else process.stdout.write(`Nothing merged into ${safeText(res.into)}\n`);
        printWarnings(res.warnings);
      }),
    );

  sub('delete', 'delete a workspace: its worktree (with uncommitted files), branch, state, container, snapshots and volumes', 'berth ws delete demo')
    .argument('<name>', 'workspace name')
    .option('--keep-volumes', "keep the workspace's named volumes (a workspace created later under the same name mounts them again)")
    .action(
      action(async (name: string, opts: CommonOpts & { keepVolumes?: boolean }) => {
        const keepVolumes = opts.keepVolumes ?? false;
        const res = deps.deleteWorkspace
          ? { name, ...(await deps.deleteWorkspace(opts.repo ?? process.cwd(), name, { keepVolumes })) }
          : await withRepo(opts, (w) => w.delete(name, hook ? { beforeRemove: (info) => hook(info, { keepVolumes }) } : {}));
        if (opts.json) printJson(res);
        else {
          process.stdout.write(`Deleted workspace ${name}\n`);
          printWarnings(res.warnings);
        }
      }),
    );

  sub('prune', 'delete workspaces idle for longer than a duration (since creation or last commit)', 'berth ws prune --older-than 7d --dry-run')
    .requiredOption('--older-than <duration>', 'idle time, e.g. 30m, 12h, 7d', durationArg)
    .option('--force', 'also delete workspaces with uncommitted changes')
    .option('--dry-run', 'only show what would be deleted')
    .action(
      action(async (opts: CommonOpts & { olderThan: number; force?: boolean; dryRun?: boolean }) => {
        const res = await withRepo(opts, (w) =>
          w.prune({ olderThanMs: opts.olderThan, force: opts.force ?? false, dryRun: opts.dryRun ?? false, ...removeHook }),
        );
        if (opts.json) {
          printJson({ dryRun: opts.dryRun ?? false, ...res });
          return;
        }
        const verb = opts.dryRun ? 'Would delete' : 'Deleted';
        if (res.pruned.length === 0) process.stdout.write('Nothing to prune.\n');
        else for (const n of res.pruned) process.stdout.write(`${verb} ${n}\n`);
        for (const s of res.skipped) process.stdout.write(`Kept ${s.name}: ${safeText(s.reason)}\n`);
      }),
    );

  registerPersistence(ws, withRepo);
  registerSync(ws, withRepo, hostFor);
  registerTransfer(ws);
}

/**
 * `berth session list|open|close|rm` (a workspace's container) and `berth gc` (reap containers of
 * deleted workspaces, stop idle ones).
 */
import type { Command } from 'commander';
import { EngineSet, isEngineDown, type Engine } from '../../../docker/index.js';
import { withImageFallback } from '../../../src/project/index.js';
import type { WorkspaceInfo } from '../../../src/workspace/index.js';
import { engineOfInfo, removeWorkspaceResources } from '../../session/index.js';
import { removePersistedState } from '../../session/index.js';
import { action, printJson, printWarnings } from '../output.js';
import { cliRunner, devcontainerOpenOpts, devcontainerOptions, type DevcontainerOpts } from './exec.js';
import { register as registerWs, table } from './ws.js';

/**
 * `berth ws …` with container-aware delete/prune: `delete` is Runner.delete (the one delete path);
 * prune removes each workspace's containers and volumes first through the library's hook.
 */
export function registerWsWithContainers(program: Command): void {
  registerWs(program, {
    deleteWorkspace: async (repo, name, opts) => {
      const runner = await cliRunner(repo);
      try {
        return await runner.delete(name, opts);
      } finally {
        await runner.close({ stop: false });
      }
    },
    checkImage: async (repo) => {
      const runner = await cliRunner(repo);
      try {
        await withImageFallback(await runner.resolve(), (spec) => runner.factory.ensureImage(spec), { strictImage: true });
      } finally {
        await runner.close({ stop: false });
      }
    },
    beforeRemove: removeOnEveryEngine(),
  });
}

/**
 * The `ws prune` hook: remove a workspace's containers and volumes on EVERY configured engine (a
 * workspace's resources are on its recorded engine, but strays elsewhere go too), then its
 * snapshots (on its engine) and local state. An engine that does not answer is skipped for the
 * rest of the run with one warning: what the pruned workspaces left there is reaped by `berth gc`
 * once it is back (gc removes the containers and volumes of deleted workspaces).
 */
function removeOnEveryEngine(): (info: Pick<WorkspaceInfo, 'name' | 'repo' | 'extra'>, opts?: { keepVolumes?: boolean }) => Promise<void> {
  let engines: EngineSet | undefined;
  const down = new Set<string>();
  const up = async (e: Engine, step: () => Promise<unknown>): Promise<boolean> => {
    if (down.has(e.id)) return false;
    try {
      await step();
      return true;
    } catch (err) {
      if (!isEngineDown(err)) throw err;
      down.add(e.id);
      printWarnings([
        `engine "${e.id}" at ${e.endpoint} does not answer: skipped; the containers, volumes and snapshots of workspaces pruned now stay there until it is back (then run \`berth gc\`)`,
      ]);
      return false;
    }
  };
  return async (info, opts = {}) => {
    engines ??= EngineSet.resolve();
    for (const e of engines.engines) await up(e, () => removeWorkspaceResources(info, e.docker, opts));
    // After the container: a snapshot still used by a container cannot be untagged.
    const own = engines.engines.find((e) => e.id === info.extra.engine) ?? engineOfInfo(engines, undefined);
    if (await up(own, () => removePersistedState(info, { ...opts, client: own.docker }))) return;
    // Its engine is down: still drop the local state (kept heads, command log, volume markers).
    const other = engines.engines.find((e) => !down.has(e.id)) ?? own;
    await removePersistedState(info, { ...opts, client: other.docker });
  };
}

interface Common {
  repo?: string;
  json?: boolean;
}

export function register(program: Command): void {
  const session = program
    .command('session')
    .description("a workspace's container: list, open (create/resume + setup), close (stop, keep), rm (remove, keep the workspace)")
    .addHelpText('after', '\nExamples:\n  berth session open demo --create\n  berth session list --json\n  berth session close demo');

  session
    .command('list')
    .description("containers of this repository's workspaces, as Docker sees them")
    .option('--repo <dir>', 'the repository (default: the current directory)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  berth session list --json')
    .action(
      action(async (opts: Common) => {
        const runner = await cliRunner(opts.repo);
        try {
          const rows = await runner.list();
          if (opts.json) printJson({ sessions: rows });
          else if (rows.length === 0) process.stdout.write('no sessions\n');
          else {
            process.stdout.write(
              `${table(
                ['WORKSPACE', 'STATE', 'CONTAINER', 'SPEC'],
                rows.map((r) => [r.name, r.workspaceExists ? r.state : `${r.state} (workspace deleted: berth gc)`, r.containerName, r.specHash ?? '-']),
              )}\n`,
            );
          }
        } finally {
          await runner.close({ stop: false });
        }
      }),
    );

  devcontainerOptions(session.command('open'))
    .description("create or resume a workspace's container and run the spec's setup/install once (their output goes to stderr)")
    .argument('<workspace>', 'workspace name')
    .option('--repo <dir>', 'the repository (default: the current directory)')
    .option('--create', 'create the workspace if it does not exist')
    .option('--base <ref>', 'base ref for a new workspace (default HEAD)')
    .option('--recreate', 'replace a container built from an older spec (its installed packages are lost)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  berth session open demo --create --base main')
    .action(
      action(async (workspace: string, opts: Common & DevcontainerOpts & { create?: boolean; base?: string; recreate?: boolean }) => {
        const runner = await cliRunner(opts.repo);
        try {
          const s = await runner.open(workspace, {
            ...devcontainerOpenOpts(opts),
            create: Boolean(opts.create),
            recreate: Boolean(opts.recreate),
            ...(opts.base ? { base: opts.base } : {}),
            onOutput: (_stream, chunk) => process.stderr.write(chunk),
          });
          printWarnings(s.warnings);
          if (opts.json) printJson({ session: s.info(), created: s.created, setup: s.setup });
          else {
            const how = s.created.fromPool ? 'taken from the warm pool' : s.created.container ? 'created' : s.created.resumed ? 'resumed' : 'already running';
            process.stdout.write(`${s.name}: container ${s.containerName} ${how}; worktree ${s.workspace.worktree} at ${s.spec.workdir}\n`);
          }
        } finally {
          await runner.close({ stop: false });
        }
      }),
    );

  session
    .command('close')
    .description("stop a workspace's container, keeping it (and its installed packages) for the next open")
    .argument('<workspace>', 'workspace name')
    .option('--repo <dir>', 'the repository (default: the current directory)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  berth session close demo')
    .action(
      action(async (workspace: string, opts: Common) => {
        const runner = await cliRunner(opts.repo);
        try {
          const stopped = await runner.closeSession(workspace);
          if (opts.json) printJson({ workspace, stopped });
          else process.stdout.write(stopped ? `${workspace}: stopped\n` : `${workspace}: not running\n`);
        } finally {
          await runner.close({ stop: false });
        }
      }),
    );

  session
    .command('rm')
    .description("remove a workspace's container and per-workspace volumes; the workspace (branch, worktree) stays")
    .argument('<workspace>', 'workspace name')
    .option('--repo <dir>', 'the repository (default: the current directory)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  berth session rm demo')
    .action(
      action(async (workspace: string, opts: Common) => {
        const runner = await cliRunner(opts.repo);
        try {
          const r = await runner.removeContainer(workspace);
          if (opts.json) printJson({ workspace, ...r });
          else
            process.stdout.write(
              r.containers.length ? `${workspace}: removed ${[...r.containers, ...r.volumes].join(', ')}\n` : `${workspace}: no container\n`,
            );
        } finally {
          await runner.close({ stop: false });
        }
      }),
    );

  program
    .command('gc')
    .description('remove containers and volumes of deleted workspaces, stop containers idle longer than idleTimeout')
    .option('--repo <dir>', 'the repository (default: the current directory)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  berth gc --json')
    .action(
      action(async (opts: Common) => {
        const runner = await cliRunner(opts.repo);
        try {
          const r = await runner.gc();
          if (opts.json) printJson(r);
          else {
            const lines = [
              ...r.removedContainers.map((c) => `removed container ${c}`),
              ...r.removedVolumes.map((v) => `removed volume ${v}`),
              ...r.stoppedIdle.map((c) => `stopped idle container ${c}`),
              ...r.skipped.map((c) => `skipped ${c} (in use by another berth process)`),
              ...r.quarantined.map((c) => `kept ${c}: its workspace's state is unreadable but its branch exists (repair it, or berth ws delete it)`),
            ];
            process.stdout.write(lines.length ? `${lines.join('\n')}\n` : 'nothing to do\n');
          }
        } finally {
          await runner.close({ stop: false });
        }
      }),
    );
}

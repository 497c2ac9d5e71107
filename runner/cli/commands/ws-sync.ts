/**
 * `berth ws sync <name>`: bring a remote workspace's live tree (a volume on the engine, see
 * runner/session/remote.ts) to the host: a checkpoint on berth/<name>, and the host worktree moved
 * to it, so `git diff`, an editor or `berth ws merge` see the agent's current work. Also the
 * engine half of the CLI's persistence host (ws-persist.ts hostFor): for a workspace on a remote
 * engine, `berth ws checkpoint` and `restore` work on the volume, not on the host worktree.
 */
import type { Command } from 'commander';
import type { Workspaces } from '../../../src/workspace/index.js';
import { Containers, EngineSet, remoteVolumesExist } from '../../../docker/index.js';
import { resolveSpec } from '../../../src/project/index.js';
import { LocalSourceReader } from '../../../src/source-reader.js';
import { checkpointWorkspace, defaultSessionUser, type PersistenceHost } from '../../session/index.js';
import { remoteSettings, workspaceEngine, type RemoteConfig } from '../../session/index.js';
import { action, printJson } from '../output.js';
import { short, wsSubcommand, type CommonOpts, type WithRepo } from './ws-shared.js';

/** The session user the workspace's volumes belong to: spec.user, else berth's default. */
async function sessionUser(ws: Workspaces): Promise<string> {
  const { spec } = await resolveSpec(new LocalSourceReader(ws.repo));
  return spec.user ?? defaultSessionUser();
}

/** The remote fields of a CLI PersistenceHost: set when `remote` is. */
function remoteParts(ws: Workspaces, remote: RemoteConfig | undefined): Pick<PersistenceHost, 'remote' | 'remoteUser'> {
  return remote ? { remote, remoteUser: () => sessionUser(ws) } : {};
}

/**
 * The engine fields of a CLI PersistenceHost for workspace `name`: the containers of the engine
 * it lives on, and the remote fields exactly when that engine is remote (its `remote` flag:
 * ssh://, tcp://, `remote: true`, or BERTH_REMOTE=1 for the single default engine).
 */
export async function engineHostParts(ws: Workspaces, name: string): Promise<Pick<PersistenceHost, 'containers' | 'remote' | 'remoteUser'>> {
  const engine = await workspaceEngine(EngineSet.resolve(), ws, name);
  return { containers: new Containers(engine.docker), ...remoteParts(ws, engine.remote ? remoteSettings(undefined) : undefined) };
}

/** Adds `sync` to the `ws` command group. */
export function registerSync(ws: Command, withRepo: WithRepo, hostFor: (w: Workspaces, name: string) => Promise<PersistenceHost>): void {
  wsSubcommand(
    ws,
    'sync',
    "bring a remote workspace's live tree to the host: commit it on berth/<name> (a checkpoint) and move its host worktree there",
    'berth ws sync demo -m "wip from the agent" --json',
  )
    .argument('<name>', 'workspace name')
    .option('-m, --message <text>', 'checkpoint message (default: "berth sync <time>")')
    .action(
      action(async (name: string, opts: CommonOpts & { message?: string }) => {
        const message = opts.message ?? `berth sync ${new Date().toISOString()}`;
        const out = await withRepo(opts, async (w) => {
          // On the workspace's engine; its tree volume, when there is one, is the truth (also for a
          // local engine that a runner declared remote with BERTH_REMOTE=1 this shell doesn't set).
          const host = { ...(await hostFor(w, name)), ...remoteParts(w, remoteSettings(undefined)) };
          const info = await w.get(name);
          if (!(await remoteVolumesExist(host.containers.docker, host.repo, name))) {
            return { name, remote: false, sha: info.head, committed: false, filesChanged: 0, worktree: info.worktree };
          }
          const res = await checkpointWorkspace(host, name, { message });
          return { name, remote: true, sha: res.sha, committed: res.committed, filesChanged: res.filesChanged, worktree: info.worktree };
        });
        if (opts.json) return printJson(out);
        if (!out.remote)
          process.stdout.write(`${name} has no remote tree on this engine: its host worktree ${out.worktree} is the workspace (nothing to sync)\n`);
        else if (out.committed)
          process.stdout.write(
            `Synced ${name}: ${short(out.sha)} on berth/${name} (${out.filesChanged} file${out.filesChanged === 1 ? '' : 's'}); host worktree ${out.worktree}\n`,
          );
        else process.stdout.write(`${name} is in sync at ${short(out.sha)}; host worktree ${out.worktree}\n`);
      }),
    );
}

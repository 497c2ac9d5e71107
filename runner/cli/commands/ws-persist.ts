/**
 * `berth ws` persistence commands: checkpoint (with --with-container), checkpoints, fork, restore,
 * volumes, and the command log behind `berth ws log --commands`. Registered on the `ws` group by
 * registerPersistence(); ws.ts delegates its checkpoint/log options here.
 */
import type { Command } from 'commander';
import type { Workspaces } from '../../../src/workspace/index.js';
import { createLogger } from '../../../src/log.js';
import { checkpointWorkspace, forkWorkspace, listCheckpoints, restoreWorkspace, type PersistenceHost } from '../../session/index.js';
import { commandLogPath, readCommandLog, type CommandLogEntry } from '../../session/index.js';
import { workspaceVolumes } from '../../session/index.js';
import { resolveSpec } from '../../../src/project/index.js';
import { LocalSourceReader } from '../../../src/source-reader.js';
import { action, printJson, printWarnings, safeText } from '../output.js';
import { engineHostParts } from './ws-sync.js';
import { short, wsSubcommand, type CommonOpts, type WithRepo } from './ws-shared.js';

/** A runner-less host: the CLI has no open sessions, so nothing is detached in-process. */
export async function hostFor(ws: Workspaces, name: string): Promise<PersistenceHost> {
  return {
    workspaces: ws,
    repo: { path: ws.repo, id: ws.repoId },
    dataDir: ws.dataDir,
    labels: {},
    logger: createLogger({ level: 'warn' }),
    get: () => undefined,
    // Engines: the engine workspace `name` lives on, local or remote (ws-sync.ts).
    ...(await engineHostParts(ws, name)),
  };
}

/** `berth ws checkpoint` (ws.ts): commit, and with --with-container snapshot the container too. */
export async function runCheckpoint(withRepo: WithRepo, name: string, opts: CommonOpts & { message?: string; withContainer?: boolean }): Promise<void> {
  const message = opts.message ?? `berth checkpoint ${new Date().toISOString()}`;
  const res = await withRepo(opts, async (w) => checkpointWorkspace(await hostFor(w, name), name, { message, withContainer: opts.withContainer ?? false }));
  if (opts.json) {
    printJson({ name, sha: res.sha, committed: res.committed, filesChanged: res.filesChanged, image: res.image ?? null });
    return;
  }
  if (res.committed) process.stdout.write(`Committed ${short(res.sha)} on berth/${name} (${res.filesChanged} file${res.filesChanged === 1 ? '' : 's'})\n`);
  else process.stdout.write(`Nothing to commit in ${name} (head ${short(res.sha)})\n`);
  if (res.image) process.stdout.write(`Container snapshot ${res.image.ref}\n`);
}

function formatEntry(e: CommandLogEntry): string {
  const end = e.timedOut ? 'timeout' : e.aborted ? 'aborted' : `exit ${e.exitCode ?? '?'}`;
  const out = `${e.stdoutBytes}/${e.stderrBytes}B${e.truncated ? ' (truncated)' : ''}`;
  return `${e.ts}  ${safeText(e.shell ?? 'fresh').padEnd(8)} ${end.padEnd(8)} ${String(e.durationMs).padStart(7)}ms  ${out.padEnd(14)} ${safeText(e.command.replace(/\n/g, '⏎'))}`;
}

/** `berth ws log --commands` (ws.ts): the workspace's command log. */
export async function runCommandLog(withRepo: WithRepo, name: string, opts: CommonOpts & { limit?: number }): Promise<void> {
  const { path, entries } = await withRepo(opts, async (w) => {
    await w.get(name);
    const path = commandLogPath(w.dataDir, { id: w.repoId }, name);
    return { path, entries: await readCommandLog(path, opts.limit !== undefined ? { limit: opts.limit } : {}) };
  });
  if (opts.json) printJson({ name, path, commands: entries });
  else if (entries.length === 0) process.stdout.write(`No commands logged for ${name} yet.\n`);
  else for (const e of entries) process.stdout.write(`${formatEntry(e)}\n`);
}

/** Adds checkpoints, fork, restore and volumes to the `ws` command group. */
export function registerPersistence(ws: Command, withRepo: WithRepo): void {
  const sub = (name: string, description: string, example: string) => wsSubcommand(ws, name, description, example);

  sub('checkpoints', 'list the recorded checkpoints of a workspace (oldest first), with their container snapshots', 'berth ws checkpoints demo --json')
    .argument('<name>', 'workspace name')
    .action(
      action(async (name: string, opts: CommonOpts) => {
        const list = await withRepo(opts, async (w) => listCheckpoints(await hostFor(w, name), await w.get(name)));
        if (opts.json) printJson({ name, checkpoints: list });
        else if (list.length === 0) process.stdout.write(`No checkpoints in ${name} yet (berth ws checkpoint ${name}).\n`);
        else
          for (const c of list)
            process.stdout.write(`${short(c.sha)}  ${c.at}  ${c.image ? `${c.image}${c.imagePresent ? '' : ' (gone)'}` : '-'}  ${safeText(c.message)}\n`);
      }),
    );

  sub(
    'fork',
    'new workspace starting at a checkpoint of another (its container from the checkpoint snapshot, if any)',
    'berth ws fork demo demo-try2 --at latest',
  )
    .argument('<source>', 'workspace to fork')
    .argument('<name>', 'name of the new workspace')
    .option('--at <checkpoint>', '"latest" or a commit id prefix', 'latest')
    .action(
      action(async (source: string, name: string, opts: CommonOpts & { at: string }) => {
        const res = await withRepo(opts, async (w) => forkWorkspace(await hostFor(w, source), source, name, { at: opts.at }));
        if (opts.json) {
          printJson(res);
          return;
        }
        process.stdout.write(
          `Forked ${source} at ${short(res.from.sha)} into ${name}\n  branch    ${res.workspace.branch}\n  worktree  ${res.workspace.worktree}\n`,
        );
        if (res.image) process.stdout.write(`  container starts from ${res.image}\n`);
        printWarnings(res.warnings);
      }),
    );

  sub('restore', 'roll a workspace back to a checkpoint (pending changes are committed first; the old head is kept)', 'berth ws restore demo --at 3f2a9c1')
    .argument('<name>', 'workspace name')
    .requiredOption('--at <checkpoint>', '"latest" or a commit id prefix')
    .addHelpText('after', '\nThe previous head stays reachable under refs/berth/kept/<name>/<time> and in the workspace state (restores).')
    .action(
      action(async (name: string, opts: CommonOpts & { at: string }) => {
        const res = await withRepo(opts, async (w) => restoreWorkspace(await hostFor(w, name), name, { at: opts.at }));
        if (opts.json) {
          printJson(res);
          return;
        }
        process.stdout.write(
          res.keptRef
            ? `Restored ${name} to ${short(res.sha)} (previous head ${short(res.previousHead)} kept as ${res.keptRef})\n`
            : `Restored ${name} to ${short(res.sha)} (the branch was already there)\n`,
        );
        if (res.savedPending) process.stdout.write(`  pending changes were committed first as ${short(res.savedPending)}\n`);
        if (res.image) process.stdout.write(`  the container will be recreated from ${res.image} at the next open\n`);
      }),
    );

  sub('volumes', "list a workspace's named volumes (berth.yaml volumes:, created at the session's first open)", 'berth ws volumes demo --json')
    .argument('<name>', 'workspace name')
    .action(
      action(async (name: string, opts: CommonOpts) => {
        const vols = await withRepo(opts, async (w) => {
          const spec = await resolveSpec(new LocalSourceReader(w.repo)).then(
            (r) => r.spec,
            () => undefined,
          );
          return workspaceVolumes(await hostFor(w, name), name, spec);
        });
        if (opts.json) printJson({ name, volumes: vols });
        else if (vols.length === 0)
          process.stdout.write(`No volumes for ${name} (declare them in berth.yaml: volumes: {data: /data}; they are created when the session opens).\n`);
        else for (const v of vols) process.stdout.write(`${v.name.padEnd(16)} ${(v.path ?? '-').padEnd(20)} ${v.volume}${v.kept ? '  (kept)' : ''}\n`);
      }),
    );
}

/**
 * `berth ws export` / `berth ws import`: move a workspace through an S3-compatible bucket
 * (runner/storage). Registered on the `ws` command group by registerTransfer().
 */
import type { Command } from 'commander';
import { Workspaces } from '../../../src/workspace/index.js';
import { createLogger } from '../../../src/log.js';
import { parseS3Url, resolveStorageConfig, type StorageOptions } from '../../storage/index.js';
import { exportWorkspace, importWorkspace } from '../../storage/index.js';
import { rmSync } from 'node:fs';
import { EngineSet, engineHealth, type Engine } from '../../../docker/index.js';
import { BerthError } from '../../../src/errors.js';
import { commandLogPath, engineOfInfo } from '../../session/index.js';
import { containerStateOf } from '../../storage/index.js';
import { bytesArg, positiveIntArg } from '../args.js';
import { action, printJson, printWarnings } from '../output.js';

interface StorageFlags {
  endpoint?: string;
  region?: string;
  pathStyle?: boolean;
}

interface CommonOpts extends StorageFlags {
  repo?: string;
  json?: boolean;
}

const STORAGE_HELP = `
Storage settings (flags win over the environment):
  --endpoint / BERTH_S3_ENDPOINT        S3-compatible server URL (default: AWS S3)
  --region / AWS_REGION                 default us-east-1
  --path-style / BERTH_S3_FORCE_PATH_STYLE   default on when an endpoint is set
  BERTH_S3_CHECKSUMS                    when_required (default with an endpoint) | when_supported
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN   credentials (else your AWS profile)`;

function storageOptions(flags: StorageFlags): StorageOptions {
  return {
    ...(flags.endpoint !== undefined ? { endpoint: flags.endpoint } : {}),
    ...(flags.region !== undefined ? { region: flags.region } : {}),
    ...(flags.pathStyle !== undefined ? { forcePathStyle: flags.pathStyle } : {}),
  };
}

function withStorageFlags(cmd: Command): Command {
  return cmd
    .option('--repo <path>', 'repository, or any directory inside it (default: the current directory)')
    .option('--endpoint <url>', 'S3-compatible server URL, e.g. http://127.0.0.1:9000')
    .option('--region <name>', 'bucket region')
    .option('--path-style', 'address buckets as <endpoint>/<bucket> (default with --endpoint)')
    .option('--no-path-style', 'address buckets as <bucket>.<endpoint host>')
    .option('--json', 'print JSON');
}

/**
 * The AWS SDK warns on every run that its 2027 releases will need Node 22; berth supports
 * Node >= 20 (package.json engines), so for CLI users that warning is noise. Library callers
 * (tests, the MCP server) still see it.
 */
function quietSdkVersionWarning(): void {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}

/** Adds `export` and `import` to the `berth ws` command group. */
export function registerTransfer(ws: Command): void {
  withStorageFlags(
    ws
      .command('export')
      .description('upload a workspace (branch, state, uncommitted and untracked files, session log) to s3://bucket/prefix')
      .argument('<name>', 'workspace name')
      .argument('<url>', 's3://bucket/prefix to write the export to (replaces an earlier export there)'),
  )
    .option('--session-log <file>', "upload this session log (JSON lines) instead of the workspace's command log")
    .option('--no-container', "leave out the container snapshot and the volumes' contents")
    .hook('preAction', quietSdkVersionWarning)
    .addHelpText(
      'after',
      `
What is exported: the branch berth/<name> with its history and state note (a git bundle), staged
and unstaged changes to tracked files (as patches), untracked non-ignored files (a tar.gz), the
command log, the container snapshot of its latest checkpoint --with-container (docker save) and
the contents of its named volumes. Ignored files (build output, node_modules) are not. The local
workspace is only read.

Example:
  berth ws export demo s3://berth-exports/alice/demo --endpoint http://127.0.0.1:9000
${STORAGE_HELP}`,
    )
    .action(
      action(async (name: string, url: string, opts: CommonOpts & { sessionLog?: string; container?: boolean }) => {
        // Bad input fails before anything is opened or read.
        parseS3Url(url);
        const storage = resolveStorageConfig(storageOptions(opts));
        const logger = createLogger();
        const ws = await Workspaces.open(opts.repo ?? process.cwd(), { logger });
        let workspace;
        try {
          workspace = await ws.get(name);
        } finally {
          await ws.close();
        }
        const repoRef = { path: ws.repo, id: ws.repoId };
        const sessionLog = opts.sessionLog ?? commandLogPath(ws.dataDir, repoRef, name);
        const container =
          opts.container === false ? undefined : await containerStateOf(engineOfInfo(EngineSet.resolve(), workspace).docker, repoRef, workspace);
        const res = await exportWorkspace({ workspace, url, storage, logger, sessionLog, ...(container ? { container } : {}) });
        if (opts.json) {
          printJson(res);
          return;
        }
        const total = res.manifest.objects.reduce((n, o) => n + o.size, 0);
        process.stdout.write(`Exported workspace ${name} to ${res.url} (${res.manifest.objects.length} objects, ${total} bytes)\n`);
        for (const o of res.manifest.objects) process.stdout.write(`  ${o.role.padEnd(12)}${String(o.size).padStart(12)}  ${o.key}\n`);
        printWarnings(res.warnings);
      }),
    );

  withStorageFlags(
    ws
      .command('import')
      .description('recreate a workspace from an export at s3://bucket/prefix')
      .argument('<url>', 's3://bucket/prefix an export was written to'),
  )
    .hook('preAction', quietSdkVersionWarning)
    .option('--name <name>', 'name of the new workspace (default: the exported name)')
    .option('--worktree-dir <dir>', 'put the worktree in this existing empty directory')
    .option('--session-log <file>', "write the exported session log here (must not exist) instead of the workspace's command log")
    .option('--no-container', 'do not restore the container snapshot and volumes')
    .option('--max-bytes <size>', 'refuse to extract more untracked file data than this (default 8g)', bytesArg)
    .option('--max-entries <count>', 'refuse archives with more entries than this (default 200000)', positiveIntArg)
    .option(
      '--engine <id>',
      'the engine of engines: / BERTH_ENGINES the workspace lives on (default: the one with the most free capacity; `berth engines` lists them)',
    )
    .addHelpText(
      'after',
      `
The workspace lands on one engine and stays there (its id is recorded in its state, as for a new
workspace); its container snapshot and volumes, if restored, go to that engine.

Archive entries that would land outside the worktree (absolute paths, "..", links pointing out,
hard links, devices) are not written; they are listed as rejected. A URL without an export is an
error (NOT_FOUND, exit 1).

Example:
  berth ws import s3://berth-exports/alice/demo --name demo-copy
  berth ws import s3://berth-exports/alice/demo --engine build2 --json
${STORAGE_HELP}`,
    )
    .action(
      action(
        async (
          url: string,
          opts: CommonOpts & {
            name?: string;
            worktreeDir?: string;
            sessionLog?: string;
            container?: boolean;
            maxBytes?: number;
            maxEntries?: number;
            engine?: string;
          },
        ) => {
          const storage = resolveStorageConfig(storageOptions(opts));
          const engines = EngineSet.resolve();
          const engine = await importEngine(engines, opts.engine);
          const target = await Workspaces.open(opts.repo ?? process.cwd());
          await target.close();
          // The name is final only inside the import; no workspace of that name exists then, so a log
          // at its path is a leftover of a deleted one and is replaced.
          const defaultLog = (name: string) => {
            const p = commandLogPath(target.dataDir, { id: target.repoId }, name);
            rmSync(p, { force: true });
            return p;
          };
          const res = await importWorkspace({
            repo: opts.repo ?? process.cwd(),
            url,
            storage,
            logger: createLogger(),
            ...(opts.name !== undefined ? { name: opts.name } : {}),
            ...(opts.worktreeDir !== undefined ? { worktreeDir: opts.worktreeDir } : {}),
            sessionLogPath: opts.sessionLog ?? defaultLog,
            ...(opts.container === false ? {} : { container: { docker: engine.docker } }),
            // Recorded only for a configured set: without one, the single engine is DOCKER_HOST's.
            ...(engines.configured ? { engine: engine.id } : {}),
            limits: {
              ...(opts.maxBytes !== undefined ? { maxExtractBytes: opts.maxBytes } : {}),
              ...(opts.maxEntries !== undefined ? { maxEntries: opts.maxEntries } : {}),
            },
          });
          if (opts.json) {
            printJson(res);
            return;
          }
          const w = res.workspace;
          process.stdout.write(
            `Imported workspace ${w.name} from ${res.url} (exported as ${res.from.name} at ${res.from.exportedAt})\n  branch    ${w.branch}\n  worktree  ${w.worktree}\n`,
          );
          if (res.engine) process.stdout.write(`  engine    ${res.engine}\n`);
          for (const r of res.untracked.rejected) process.stderr.write(`rejected: ${JSON.stringify(r.path)} (${r.type}): ${r.reason}\n`);
          for (const a of res.untracked.adjusted) process.stderr.write(`adjusted: ${JSON.stringify(a.path)}: ${a.change}\n`);
          printWarnings(res.warnings);
          if (res.sessionLog) process.stdout.write(`  session log ${res.sessionLog}\n`);
          if (res.container?.image) process.stdout.write(`  container snapshot ${res.container.image}\n`);
          for (const v of res.container?.volumes ?? []) {
            process.stdout.write(`  volume ${v.name} (${v.volume}): ${v.report.files} files, ${v.report.bytes} bytes\n`);
            for (const r of v.report.rejected) process.stderr.write(`rejected in volume ${v.name}: ${JSON.stringify(r.path)} (${r.type}): ${r.reason}\n`);
          }
        },
      ),
    );
}

/**
 * The engine an import lands on: the one --engine names (ENGINE_CONFIG if unknown,
 * ENGINE_UNAVAILABLE if it does not answer: nothing is downloaded first), else placed like a new
 * workspace (most free capacity among the healthy engines; the only one when there is one).
 */
async function importEngine(engines: EngineSet, id: string | undefined): Promise<Engine> {
  if (id === undefined) return engines.place();
  const engine = engines.get(id);
  const health = await engineHealth(engine);
  if (!health.ok) {
    throw new BerthError(
      'ENGINE_UNAVAILABLE',
      `can't import onto engine "${id}": ${health.error ?? 'it does not answer'} (or pick another engine with --engine)`,
      {
        details: { engine: id, endpoint: engine.endpoint },
      },
    );
  }
  return engine;
}

import { randomBytes } from 'node:crypto';
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { BerthError } from '../../../src/errors.js';
import { LocalSourceReader } from '../../../src/source-reader.js';
import { DEFAULT_CONFIG_FILES, detect, formatDuration, renderBerthYaml, resolveLayers, resolveSpec, type Resolved } from '../../../src/project/index.js';
import { action, printJson, safeText } from '../output.js';

async function sourceReader(dir: string | undefined): Promise<LocalSourceReader> {
  const root = resolve(dir ?? '.');
  const st = await stat(root).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new BerthError(
      'BAD_INPUT',
      `source directory ${JSON.stringify(root)} does not exist or is not a directory. Pass --source <dir> pointing at your repository.`,
    );
  }
  return new LocalSourceReader(root);
}

/** JSON-friendly view: `user` undefined becomes null so the key is visible. */
function specJson(resolved: Resolved, explain: boolean) {
  const dc = resolved.devcontainer;
  return {
    spec: { ...resolved.spec, user: resolved.spec.user ?? null },
    hash: resolved.hash,
    configFile: resolved.configFile ?? null,
    origins: resolved.origins,
    ...(explain ? { explain: explainOrigins(resolved) } : {}),
    sources: resolved.sources,
    devcontainer: dc
      ? {
          file: dc.file,
          lifecycle: dc.lifecycle,
          initializeCommand: dc.initialize ?? null,
          features: dc.features,
          warnings: dc.warnings,
          fallbackImage: dc.fallback?.spec.image ?? null,
        }
      : null,
  };
}

/** Field -> where it came from, in words ("berth.yaml", ".devcontainer/devcontainer.json", "detection (python: pyproject.toml)", "default"). */
function explainOrigins(resolved: Resolved): Record<string, string> {
  return Object.fromEntries(Object.entries(resolved.origins).map(([k, o]) => [k, resolved.sources[o] ?? o]));
}

function printHuman(resolved: Resolved, explain: boolean): void {
  const { spec } = resolved;
  const origins = explain ? explainOrigins(resolved) : resolved.origins;
  const line = (key: string, value: string, origin: string | undefined) =>
    process.stdout.write(`${key.padEnd(16)} ${safeText(value)}${origin ? `  (${safeText(origin)})` : ''}\n`);
  line('hash', resolved.hash, undefined);
  line('config file', resolved.configFile ?? '(none)', undefined);
  line('toolchain', `${spec.toolchain}${spec.packageManager ? ` / ${spec.packageManager}` : ''}`, undefined);
  line('image', spec.image, origins.image);
  line('workdir', spec.workdir, origins.workdir);
  for (const [k, v] of Object.entries(spec.env)) line(`env.${k}`, v, origins[`env.${k}`]);
  line('setup', spec.setup.join(' && ') || '-', origins.setup);
  line('install', spec.install.join(' && ') || '-', origins.install);
  for (const step of ['build', 'test', 'lint'] as const) line(step, spec.steps[step].join(' && ') || '-', origins[`steps.${step}`]);
  for (const m of spec.caches) line(`cache ${m.name}`, m.path, origins[`caches.${m.name}`]);
  for (const m of spec.volumes) line(`volume ${m.name}`, m.path, origins[`volumes.${m.name}`]);
  const r = spec.resources;
  line('resources', `cpus=${r.cpus} memoryMb=${r.memoryMb} pids=${r.pids}`, origins.resources);
  line('network', spec.network, origins.network);
  line('network.install', spec.installNetwork ?? spec.network, origins.installNetwork);
  line('user', spec.user ?? '(your uid:gid)', origins.user);
  line('idleTimeout', formatDuration(spec.idleTimeoutMs), origins.idleTimeoutMs);
  line('timeout', formatDuration(spec.stepTimeoutMs), origins.stepTimeoutMs);
  line('pool.size', String(spec.pool.size), origins['pool.size']);
  for (const b of spec.binds ?? []) line(`bind ${b.target}`, `${b.source}${b.readOnly ? ' (read-only)' : ''}`, resolved.devcontainer?.file);
  const dc = resolved.devcontainer;
  if (!dc) return;
  for (const stage of dc.lifecycle) {
    const cmds = stage.commands.map((c) => (c.name ? `${c.name}: ${c.command}` : c.command)).join(stage.parallel ? ' | ' : ' && ');
    line(stage.hook, cmds, explain ? dc.file : 'devcontainer');
  }
  if (dc.initialize) line('initializeCommand', `${dc.initialize.commands.map((c) => c.command).join(' && ')} (host; only with --allow-host-commands)`, dc.file);
  if (dc.fallback)
    line('fallback image', dc.fallback.spec.image, explain ? `if ${spec.image} cannot be pulled or built; ${resolved.sources.detected}` : 'detected');
  for (const w of dc.warnings) process.stderr.write(`berth: warning: ${safeText(w)}\n`);
}

export function register(program: Command): void {
  program
    .command('init')
    .description('detect the toolchain and write a commented berth.yaml into the source directory')
    .option('--source <dir>', 'repository root (default: current directory)')
    .option('--force', 'overwrite an existing berth.yaml')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  berth init --source ~/code/app   # then edit ~/code/app/berth.yaml and check it with `berth spec`')
    .action(
      action(async (opts: { source?: string; force?: boolean; json?: boolean }) => {
        const reader = await sourceReader(opts.source);
        const target = join(reader.root, 'berth.yaml');
        if (!opts.force) {
          for (const name of DEFAULT_CONFIG_FILES) {
            if (await stat(join(reader.root, name)).catch(() => undefined)) {
              throw new BerthError(
                'BAD_INPUT',
                `${join(reader.root, name)} already exists; edit it, or pass --force to overwrite it with a freshly detected one.`,
              );
            }
          }
        }
        // Detection and defaults only: an existing file (with --force) must not leak into the new one.
        const detection = await detect(reader);
        const resolved = resolveLayers({ detection });
        const text = renderBerthYaml(resolved, { evidence: detection.evidence });
        if (opts.force) {
          // Write then rename: never leaves a half-written file, and replaces a symlink rather than
          // writing through it to wherever it points.
          const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
          try {
            await writeFile(tmp, text, { flag: 'wx', mode: 0o644 });
            await rename(tmp, target);
          } catch (err) {
            await rm(tmp, { force: true });
            throw err;
          }
        } else {
          // 'wx' fails if the file appeared since the check above (or is a dangling symlink).
          await writeFile(target, text, { flag: 'wx', mode: 0o644 }).catch((err: NodeJS.ErrnoException) => {
            if (err.code === 'EEXIST') throw new BerthError('BAD_INPUT', `${target} already exists; pass --force to overwrite it.`, { cause: err });
            throw err;
          });
        }
        if (opts.json) {
          printJson({
            path: target,
            toolchain: detection.toolchain,
            packageManager: detection.packageManager ?? null,
            hash: resolved.hash,
            warnings: detection.warnings,
          });
        } else {
          for (const w of detection.warnings) process.stderr.write(`berth: warning: ${w}\n`);
          process.stdout.write(`${target}\n`);
        }
      }),
    );

  program
    .command('spec')
    .description('show the resolved workspace spec (berth.yaml > devcontainer.json > detection > defaults), its hash and where each field came from')
    .option('--source <dir>', 'repository root (default: current directory)')
    .option('--explain', 'name the file each field came from (berth.yaml, the devcontainer.json path, the detection evidence, or default)')
    .option('--json', 'print JSON')
    .addHelpText('after', "\nExamples:\n  berth spec --source ~/code/app --json | jq '.spec.steps'\n  berth spec --explain --json | jq '.explain.image'")
    .action(
      action(async (opts: { source?: string; json?: boolean; explain?: boolean }) => {
        const resolved = await resolveSpec(await sourceReader(opts.source));
        if (opts.json) printJson(specJson(resolved, Boolean(opts.explain)));
        else printHuman(resolved, Boolean(opts.explain));
      }),
    );
}

/**
 * `berth exec WS -- CMD…` (run a command in the workspace's persistent shell, streaming its output
 * and exiting with its exit code) and `berth shell WS` (an interactive terminal in the container).
 * Exit codes: the command's own; 124 when it timed out; 125 when berth itself failed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { BerthError } from '../../../src/errors.js';
import { createLogger } from '../../../src/log.js';
import { DEFAULT_SHELL, Runner, SHELL_NAME_PATTERN, SHELLS_DIR, tmpEnvPath, type ExecResult, type Session } from '../../session/index.js';
import { bytesArg, durationArg } from '../args.js';
import { action, EXIT, printJson, printWarnings } from '../output.js';

export const EXIT_TIMEOUT = 124;

interface ExecOpts extends DevcontainerOpts {
  repo?: string;
  shell: string;
  timeout?: number;
  fresh?: boolean;
  create?: boolean;
  json?: boolean;
  maxOutput?: number;
}

/** One argument is shell text (`'ls *.ts | wc -l'`); several are argv, each quoted literally. */
export function commandText(argv: readonly string[]): string {
  if (argv.length === 1) return argv[0]!;
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** The devcontainer.json options of every command that may create a workspace's container. */
export interface DevcontainerOpts {
  strictImage?: boolean;
  strictLifecycle?: boolean;
  allowHostCommands?: boolean;
}

export function devcontainerOptions(cmd: Command): Command {
  return cmd
    .option('--strict-image', "fail when devcontainer.json's image can't be pulled or built, instead of using the detected toolchain image")
    .option('--strict-lifecycle', 'fail when a devcontainer.json lifecycle command (onCreateCommand ...) fails, instead of warning')
    .option('--allow-host-commands', "run devcontainer.json's initializeCommand on this machine (it is skipped otherwise)");
}

/** The open options those flags give (unset flags leave the defaults, e.g. BERTH_STRICT_IMAGE). */
export function devcontainerOpenOpts(opts: DevcontainerOpts): { strictImage?: boolean; strictLifecycle?: boolean; allowHostCommands?: boolean } {
  return {
    ...(opts.strictImage ? { strictImage: true } : {}),
    ...(opts.strictLifecycle ? { strictLifecycle: true } : {}),
    ...(opts.allowHostCommands ? { allowHostCommands: true } : {}),
  };
}

/** A runner for one CLI call: no start-up reaping (keeps `exec` fast), logs to stderr. */
export async function cliRunner(repo: string | undefined): Promise<Runner> {
  return Runner.create({ repo: resolve(repo ?? '.'), logger: createLogger({ level: 'warn' }), reconcile: false });
}

export function exitCodeOf(r: ExecResult): number {
  if (r.timedOut) return EXIT_TIMEOUT;
  return r.exitCode ?? EXIT.passthroughError;
}

export function register(program: Command): void {
  const exec = program
    .command('exec')
    .description("run a command in a workspace's container, in a persistent shell (cwd and exported env carry over between calls)")
    .argument('<workspace>', 'workspace name')
    .argument('<command...>', 'one argument: shell text; several: argv (each word quoted)')
    .option('--repo <dir>', 'the repository (default: the current directory)')
    .option('--shell <name>', 'named persistent shell', DEFAULT_SHELL)
    .option('--timeout <duration>', 'kill the command after this long, e.g. 30s, 10m (default 10m)', durationArg)
    .option('--fresh', 'one-shot exec in the workdir, without the shell state')
    .option('--create', 'create the workspace if it does not exist')
    .option('--max-output <size>', 'keep at most this much of each stream in --json output (head and tail), e.g. 65536 or 64k', bytesArg)
    .option('--json', 'print the result as JSON instead of streaming');
  devcontainerOptions(exec)
    .addHelpText(
      'after',
      `
Examples:
  berth exec demo -- npm test
  berth exec demo -- 'cd src && ls *.ts | wc -l'
  berth exec demo --timeout 30s --json -- make check

Exit status: the command's own; ${EXIT_TIMEOUT} if it timed out; ${EXIT.passthroughError} if berth failed.`,
    )
    .action(
      action(
        async (workspace: string, argv: string[], opts: ExecOpts) => {
          const runner = await cliRunner(opts.repo);
          try {
            const session = await runner.open(workspace, {
              create: Boolean(opts.create),
              ...devcontainerOpenOpts(opts),
              onOutput: (_stream, chunk) => process.stderr.write(chunk),
            });
            printWarnings(session.warnings);
            const ac = new AbortController();
            const onSignal = () => ac.abort();
            process.once('SIGINT', onSignal);
            process.once('SIGTERM', onSignal);
            let r: ExecResult;
            try {
              r = await session.exec(commandText(argv), {
                shell: opts.shell,
                fresh: Boolean(opts.fresh),
                signal: ac.signal,
                ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout } : {}),
                ...(opts.maxOutput !== undefined ? { maxOutputBytes: opts.maxOutput } : {}),
                ...(opts.json ? {} : { onOutput: (stream, chunk) => (stream === 'stdout' ? process.stdout : process.stderr).write(chunk) }),
              });
            } finally {
              process.off('SIGINT', onSignal);
              process.off('SIGTERM', onSignal);
            }
            if (opts.json) printJson(r);
            else {
              if (r.truncated) process.stderr.write('berth: output was truncated (use --json --max-output to keep more)\n');
              if (r.timedOut) process.stderr.write(`berth: command timed out after ${opts.timeout ?? runner.execTimeoutMs} ms and was killed\n`);
              if (r.shellEnded) process.stderr.write(`berth: shell "${opts.shell}" ended; the next command starts a new one with its cwd and env\n`);
            }
            return exitCodeOf(r);
          } finally {
            await runner.close({ stop: false });
          }
        },
        { passthrough: true },
      ),
    );

  program
    .command('shell')
    .description("open an interactive terminal in a workspace's container, starting from the persistent shell's cwd and env")
    .argument('<workspace>', 'workspace name')
    .option('--repo <dir>', 'the repository (default: the current directory)')
    .option('--shell <name>', 'take cwd/env from this persistent shell', DEFAULT_SHELL)
    .option('--create', 'create the workspace if it does not exist')
    .addHelpText('after', '\nExample:\n  berth shell demo')
    .action(
      action(
        async (workspace: string, opts: { repo?: string; shell: string; create?: boolean }) => {
          const runner = await cliRunner(opts.repo);
          try {
            const session = await runner.open(workspace, { create: Boolean(opts.create) });
            return await interactive(runner, session, opts.shell);
          } finally {
            await runner.close({ stop: false });
          }
        },
        { passthrough: true },
      ),
    );
}

/** sh script: load the named shell's saved env (the tmpfs copy first: protocol.ts) and cwd, then exec an interactive bash (or sh). */
const INTERACTIVE = `
d=$1 wd=$2 t=$3
if command -v bash >/dev/null 2>&1; then s=bash; else s=sh; fi
exec "$s" -c 'if [ -f "$3" ]; then . "$3"; elif [ -r "$1/env" ]; then . "$1/env"; fi >/dev/null 2>&1; c=$(cat "$1/cwd" 2>/dev/null); cd "\${c:-$2}" 2>/dev/null || cd "$2"; exec "$0" -i' "$s" "$d" "$wd" "$t"
`;

async function interactive(runner: Runner, session: Session, shell: string): Promise<number> {
  if (!SHELL_NAME_PATTERN.test(shell)) throw new BerthError('BAD_INPUT', `shell name ${JSON.stringify(shell)} is not valid`);
  const argv = ['/bin/sh', '-c', INTERACTIVE, 'berth-shell', `${SHELLS_DIR}/${shell}`, session.spec.workdir, tmpEnvPath(shell)];
  const tty = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  // The docker CLI handles terminals best (raw mode, resize, detach keys); use it when present,
  // for a workspace on the primary engine (the CLI only knows DOCKER_HOST, not berth's engines).
  const containers = await runner.containersFor(session.name);
  if (containers === runner.containers && spawnSync('docker', ['--version'], { stdio: 'ignore' }).status === 0) {
    const child = spawn('docker', ['exec', '-i', ...(tty ? ['-t'] : []), '-u', session.user, '-w', session.spec.workdir, session.containerId, ...argv], {
      stdio: 'inherit',
    });
    return new Promise((resolvePromise) => child.on('close', (code) => resolvePromise(code ?? EXIT.passthroughError)));
  }
  const t = await containers.attachTty(session.containerId, {
    cmd: argv,
    user: session.user,
    workdir: session.spec.workdir,
    env: { TERM: process.env.TERM ?? 'xterm' },
  });
  const stdin = process.stdin;
  const resize = () => void t.resize(process.stdout.rows ?? 24, process.stdout.columns ?? 80);
  if (tty) {
    stdin.setRawMode(true);
    process.stdout.on('resize', resize);
    resize();
  }
  stdin.resume();
  stdin.pipe(t.stream);
  t.stream.pipe(process.stdout);
  await new Promise<void>((r) => {
    t.stream.once('end', () => r());
    t.stream.once('close', () => r());
  });
  stdin.unpipe(t.stream);
  stdin.pause();
  if (tty) {
    stdin.setRawMode(false);
    process.stdout.off('resize', resize);
  }
  return (await t.exitCode()) ?? EXIT.passthroughError;
}

/** The real `berth` CLI (bin/berth.js) run in a child process, for tests that drive it end to end. */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

export const BERTH_BIN = resolve(import.meta.dirname, '../../bin/berth.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they arrived (what a terminal shows). */
  output: string;
}

export interface CliOptions {
  readonly cwd?: string;
  /** The child's whole environment (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
  /** Written to the child's stdin, which is then closed (default: stdin is /dev/null). */
  readonly input?: string;
}

/**
 * This process's environment minus every variable that starts with one of `prefixes`: a suite
 * drops what must not leak into the CLI (a hook's GIT_DIR, the caller's own BERTH_* settings)
 * and then adds its own.
 */
export function envWithout(...prefixes: readonly string[]): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !prefixes.some((p) => k.startsWith(p))));
}

/** Run `berth <args>` to completion and collect its exit code and output. */
export function runBerth(args: readonly string[], opts: CliOptions = {}): Promise<CliRun> {
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, [BERTH_BIN, ...args], {
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let output = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      output += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      output += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => done({ code, stdout, stderr, output }));
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

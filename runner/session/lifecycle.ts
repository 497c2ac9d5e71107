/**
 * devcontainer.json lifecycle commands in a workspace's container
 * (https://containers.dev/implementors/json_reference/#lifecycle-scripts):
 *   - onCreateCommand, updateContentCommand, postCreateCommand: once per container, after the
 *     worktree is mounted and berth's setup/install ran; a marker in the state dir records it;
 *   - postStartCommand: every time this open started the container (created or resumed).
 * Each runs as the session user (remoteUser, when the devcontainer names one) in the workdir; the
 * object form's named commands run in parallel. Output goes to the setup log, progress lines to
 * onOutput (stderr in the CLI).
 *
 * A failing command does not fail the workspace: a devcontainer is written for a networked
 * laptop (markupsafe's onCreateCommand downloads uv), and the workspace is still useful without
 * it. It is reported (hook, command, exit code, last lines; "for lack of network" when the output
 * says so) as a warning and in the open's SetupReport; `strict` (--strict-lifecycle) makes it
 * LIFECYCLE_FAILED instead. The hooks after a failed one are not run, as in the devcontainer CLI.
 *
 * initializeCommand runs on the HOST, before the container is created, so only with the user's
 * explicit consent (--allow-host-commands); without it, one warning says it was skipped and how.
 */
import { spawn } from 'node:child_process';
import type { LifecycleStage, Network, ResolvedDevcontainer } from '../../src/project/index.js';
import { BerthError } from '../../src/errors.js';
import { runFresh } from './exec.js';
import type { StreamName } from './output.js';
import { SETUP_DIR } from './protocol.js';
import { appendLog, freshHost, type SetupHost } from './setup.js';
import type { LifecycleRecord } from './types.js';

export const CREATED_MARKER = `${SETUP_DIR}/devcontainer-created`;

const CREATE_HOOKS: readonly LifecycleStage['hook'][] = ['onCreateCommand', 'updateContentCommand', 'postCreateCommand'];

/** Output that means a command tried to reach the network and could not. */
const NETWORK_FAILURE =
  /could not resolve host|temporary failure in name resolution|name or service not known|getaddrinfo|ENOTFOUND|EAI_AGAIN|connection refused|ECONNREFUSED|network is unreachable|ENETUNREACH|no route to host|EHOSTUNREACH|failed to connect|failed to establish a new connection/i;

export interface LifecycleOptions {
  readonly dc: ResolvedDevcontainer;
  /** The session's network (a network failure under `none` names the remedy). */
  readonly network: Network;
  /** This open started the container (created or resumed): run postStartCommand. */
  readonly started: boolean;
  /** Fail the open instead of warning (--strict-lifecycle). */
  readonly strict: boolean;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  readonly onOutput?: ((stream: StreamName, chunk: string) => void) | undefined;
}

export interface LifecycleResult {
  readonly records: LifecycleRecord[];
  /** One warning per failed hook (the later hooks were not run). */
  readonly warnings: string[];
}

/** Run the lifecycle hooks due in this open. Throws LIFECYCLE_FAILED only when `strict`. */
export async function runLifecycle(h: SetupHost, opts: LifecycleOptions): Promise<LifecycleResult> {
  const out: LifecycleResult = { records: [], warnings: [] };
  const stages = opts.dc.lifecycle;
  const created = stages.filter((s) => CREATE_HOOKS.includes(s.hook));
  if (created.length && !(await markerExists(h))) {
    // The marker is written even when a hook fails: re-running a failing download at every exec
    // would only repeat the warning; `berth session open --recreate` starts over.
    try {
      await runStages(h, created, opts, out);
    } finally {
      await h.containers.runCapture(h.containerId, { cmd: ['/bin/sh', '-c', `: > ${CREATED_MARKER}`], user: '0:0' });
    }
  }
  const postStart = stages.find((s) => s.hook === 'postStartCommand');
  if (opts.started && postStart && out.warnings.length === 0) await runStages(h, [postStart], opts, out);
  return out;
}

async function markerExists(h: SetupHost): Promise<boolean> {
  const r = await h.containers.runCapture(h.containerId, { cmd: ['/bin/sh', '-c', `test -e ${CREATED_MARKER}`], user: '0:0' });
  return r.exitCode === 0;
}

async function runStages(h: SetupHost, stages: readonly LifecycleStage[], opts: LifecycleOptions, out: LifecycleResult): Promise<void> {
  for (const stage of stages) {
    const run = (c: LifecycleStage['commands'][number]) => runOne(h, stage, c, opts);
    const results = stage.parallel ? await Promise.all(stage.commands.map(run)) : await sequential(stage.commands, run);
    out.records.push(...results.map((r) => r.record));
    const failed = results.find((r) => !r.record.ok);
    if (!failed) continue;
    const message = failureMessage(stage, failed, opts, stages.slice(stages.indexOf(stage) + 1));
    if (opts.strict) {
      throw new BerthError('LIFECYCLE_FAILED', message, { details: { hook: stage.hook, command: failed.record.command, exitCode: failed.record.exitCode } });
    }
    // The caller shows it (CLI stderr, MCP warnings) with the open's other warnings.
    out.warnings.push(message);
    return;
  }
}

/** Sequential, stopping at the first failure. */
async function sequential<T extends { record: LifecycleRecord }>(
  items: LifecycleStage['commands'],
  run: (c: LifecycleStage['commands'][number]) => Promise<T>,
): Promise<T[]> {
  const done: T[] = [];
  for (const c of items) {
    const r = await run(c);
    done.push(r);
    if (!r.record.ok) break;
  }
  return done;
}

interface OneResult {
  readonly record: LifecycleRecord;
  readonly tail: string;
}

async function runOne(h: SetupHost, stage: LifecycleStage, c: LifecycleStage['commands'][number], opts: LifecycleOptions): Promise<OneResult> {
  const label = `${stage.hook}${c.name ? ` (${c.name})` : ''}`;
  opts.onOutput?.('stderr', `berth: ${label}: ${c.command}\n`);
  const r = await runFresh(freshHost(h, opts.timeoutMs), c.command, {
    cwd: h.workdir,
    timeoutMs: opts.timeoutMs,
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onOutput ? { onOutput: opts.onOutput } : {}),
    maxOutputBytes: 256 * 1024,
  });
  const ok = r.exitCode === 0 && !r.timedOut && !r.aborted;
  const text = `${r.stdout}${r.stderr}`;
  const status = r.timedOut ? `timed out after ${opts.timeoutMs} ms` : r.aborted ? 'aborted' : `exit ${r.exitCode}`;
  await appendLog(h, `$ ${c.command}   # ${label}, ${h.user}\n${text}\n[${status}, ${r.durationMs} ms]\n`);
  const networkFailure = !ok && NETWORK_FAILURE.test(text);
  return {
    record: { hook: stage.hook, name: c.name ?? null, command: c.command, exitCode: r.exitCode, durationMs: r.durationMs, ok, networkFailure },
    tail: text.trim().split('\n').slice(-10).join('\n'),
  };
}

function failureMessage(stage: LifecycleStage, failed: OneResult, opts: LifecycleOptions, skipped: readonly LifecycleStage[]): string {
  const rec = failed.record;
  const status = rec.exitCode === null ? 'did not finish' : `exit ${rec.exitCode}`;
  const network =
    rec.networkFailure && opts.network === 'none'
      ? ' It failed for lack of network: the workspace runs on network none. Give it the network with `network: host` in berth.yaml (then `berth session open --recreate`).'
      : rec.networkFailure
        ? ' Its output shows a network failure.'
        : '';
  const later = skipped.length ? ` Not run after it: ${skipped.map((s) => s.hook).join(', ')}.` : '';
  return (
    `devcontainer ${stage.hook}${rec.name ? ` (${rec.name})` : ''} ${JSON.stringify(rec.command)} failed (${status}) in ${opts.dc.file}.${network}${later} ` +
    `The workspace is usable without it; the full output is in ${SETUP_DIR}/log in the container.${failed.tail ? `\nLast lines:\n${failed.tail}` : ''}`
  );
}

export interface InitializeOptions {
  readonly allow: boolean;
  /** The user's checkout, where the devcontainer CLI runs initializeCommand too. */
  readonly cwd: string;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  readonly onOutput?: ((stream: StreamName, chunk: string) => void) | undefined;
}

/**
 * initializeCommand, on the host: only with `allow`. Returns the warning to show (skipped, or
 * failed); throws LIFECYCLE_FAILED when an allowed command fails, since the user asked for it.
 */
export async function runInitialize(dc: ResolvedDevcontainer, opts: InitializeOptions): Promise<string | undefined> {
  const stage = dc.initialize;
  if (!stage) return undefined;
  const text = stage.commands.map((c) => c.command).join(stage.parallel ? ' | ' : ' && ');
  if (!opts.allow) {
    return `${dc.file}: initializeCommand ${JSON.stringify(text)} was not run: it runs on your machine, not in the container. Pass --allow-host-commands to run it.`;
  }
  for (const c of stage.commands) {
    opts.onOutput?.('stderr', `berth: initializeCommand (on the host): ${c.command}\n`);
    const code = await hostShell(c.command, opts);
    if (code !== 0) {
      throw new BerthError('LIFECYCLE_FAILED', `${dc.file}: initializeCommand ${JSON.stringify(c.command)} failed on the host (exit ${code ?? 'signal'}).`, {
        details: { hook: 'initializeCommand', command: c.command, exitCode: code },
      });
    }
  }
  return undefined;
}

function hostShell(command: string, opts: InitializeOptions): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], {
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: opts.timeoutMs,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    child.stdout.on('data', (b: Buffer) => opts.onOutput?.('stderr', b.toString()));
    child.stderr.on('data', (b: Buffer) => opts.onOutput?.('stderr', b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
}

/**
 * The local executor: runs a Plan in one-shot containers on the local Docker engine.
 *
 * Per run (same order as the Dagger chain in pipelines/dagger.ts):
 *   1. list the source (ignoring .git, .gitignore'd and .dockerignore'd paths) before creating
 *      anything, so a bad --source fails with nothing to clean up;
 *   2. create the labelled cache volumes (idempotent) and one container: plan image, env,
 *      workdir, caches, network, CPU/memory/pids limits; a sleep loop as its main process;
 *   3. exec each setup command (image's default user), copy the source in with putArchive (the
 *      user's directory is never written), chown it when the plan user is not root, exec each
 *      install command and then the step commands as the plan user.
 *      Fast path (no setup, no non-root plan user, not parallel — the common `berth test`): the
 *      source is copied into the created container before it starts and one `sh` script runs
 *      every command as the main process, like `docker run`, with no keep-alive and no execs
 *      (see #runDirect).
 *   4. `check` with several steps: commit the prepared container to a temporary image and run each
 *      step concurrently in its own container from it, the local equivalent of Dagger forking the
 *      prepared container, so steps cannot see each other's files (build output, lint caches).
 * Every command is bounded by plan.timeoutMs, enforced from here by removing the container (a
 * process in the container cannot ignore that), and reported as exit 124 like coreutils timeout.
 *
 * Teardown is unconditional: on success, failure, timeout, abort (the CLI aborts on SIGINT/SIGTERM)
 * and thrown errors, every container carrying this run's label and the temporary image are
 * removed. Cache volumes stay: that is what they are for.
 */
import { randomUUID } from 'node:crypto';
import { Writable, type Duplex } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { call, docker as defaultDocker, imageExists, translateDockerError, type Docker } from '../docker/client.js';
import { LABEL, RUNNER_VERSION } from '../docker/labels.js';
import { usableInstallNetwork } from '../docker/networks.js';
import { BerthError } from '../src/errors.js';
import { silentLogger, type Logger } from '../src/log.js';
import { shellQuote, type PhaseName, type Plan, type PlanCommand, type PlanStep } from './plan.js';
import { listSource, packSource } from './source-archive.js';

export type PhaseOutcome = 'passed' | 'failed' | 'timeout' | 'aborted' | 'skipped';
export type RunOutcome = 'passed' | 'failed' | 'timeout' | 'aborted';

/** Live progress. Output chunks are decoded UTF-8 text, not split into lines. */
export type PipelineEvent =
  | { readonly type: 'phase-start'; readonly phase: PhaseName; readonly parallel: boolean }
  | { readonly type: 'command-start'; readonly phase: PhaseName; readonly command: string }
  | { readonly type: 'output'; readonly phase: PhaseName; readonly stream: 'stdout' | 'stderr'; readonly text: string }
  | {
      readonly type: 'phase-end';
      readonly phase: PhaseName;
      readonly outcome: PhaseOutcome;
      readonly exitCode: number | null;
      readonly durationMs: number;
    }
  | { readonly type: 'info'; readonly message: string };

export interface CommandResult {
  readonly command: string;
  /** null when the command did not finish (timeout, abort). */
  readonly exitCode: number | null;
  readonly durationMs: number;
}

export interface PhaseResult {
  readonly name: PhaseName;
  readonly outcome: PhaseOutcome;
  /** The exit code of the last command run in the phase; null if none finished. */
  readonly exitCode: number | null;
  readonly durationMs: number;
  readonly commands: readonly CommandResult[];
  /** The last `tailChars` characters of the phase's stdout and stderr, interleaved. */
  readonly tail: string;
}

export interface PipelineResult {
  readonly runId: string;
  readonly target: Plan['target'];
  readonly image: string;
  readonly ok: boolean;
  readonly outcome: RunOutcome;
  /**
   * 0 on success; the failing command's exit code (for a parallel `check`, the first failing step
   * in build, test, lint order); 124 on timeout; 130 when aborted.
   */
  readonly exitCode: number;
  readonly durationMs: number;
  /** Every phase of the plan in order: setup, install, then the steps; unreached ones are skipped. */
  readonly phases: readonly PhaseResult[];
  readonly failedPhase: PhaseName | undefined;
}

export interface RunPlanLocalOptions {
  /** Host directory to copy in. Only read, never written. */
  readonly source: string;
  readonly docker?: Docker;
  /** Abort: containers are removed at once and the result's outcome is 'aborted' (exit 130). */
  readonly signal?: AbortSignal;
  readonly onOutput?: (event: PipelineEvent) => void;
  readonly logger?: Logger;
  /** Extra labels for the run's containers (the MCP server tags its runs; tests tag theirs). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Characters of output kept per phase in the result. Default 4096. */
  readonly tailChars?: number;
  readonly maxSourceBytes?: number;
}

export const EXIT_TIMEOUT = 124;
export const EXIT_ABORTED = 130;

/** The sleep loop that keeps a pipeline container up between execs; removal kills it. */
const KEEPALIVE = ['sh', '-c', 'while :; do sleep 3600; done'];

/** Run `plan` on the local engine. Throws BerthError for berth's own failures (image missing, bad source, Docker down). */
export async function runPlanLocal(plan: Plan, opts: RunPlanLocalOptions): Promise<PipelineResult> {
  const run = new LocalRun(plan, opts);
  return run.execute();
}

class Aborted extends Error {}

class LocalRun {
  readonly #plan: Plan;
  readonly #opts: RunPlanLocalOptions;
  readonly #docker: Docker;
  readonly #log: Logger;
  readonly #runId = randomUUID().replace(/-/g, '').slice(0, 12);
  readonly #labels: Record<string, string>;
  readonly #tailChars: number;
  /** Containers created by this run, by id. */
  readonly #containers = new Set<string>();
  readonly #removals = new Map<string, Promise<void>>();
  #forkImage: string | undefined;
  #aborted = false;
  /** The install phase's own network, when it has one the engine offers (see usableInstallNetwork). */
  #installNetwork: Plan['network'] | undefined;

  constructor(plan: Plan, opts: RunPlanLocalOptions) {
    this.#plan = plan;
    this.#opts = opts;
    this.#docker = opts.docker ?? defaultDocker();
    this.#log = (opts.logger ?? silentLogger).child({ run: this.#runId });
    this.#tailChars = opts.tailChars ?? 4096;
    this.#labels = {
      ...opts.labels,
      [LABEL.managed]: '1',
      [LABEL.role]: 'pipeline',
      [LABEL.runnerVersion]: RUNNER_VERSION,
      [LABEL.pipelineRun]: this.#runId,
      [LABEL.pipelineRepo]: plan.repo,
      [LABEL.pipelineTarget]: plan.target,
    };
  }

  #emit(event: PipelineEvent): void {
    try {
      this.#opts.onOutput?.(event);
    } catch (err) {
      // A throwing callback must not leave containers behind or hide the step's result.
      this.#log.warn('onOutput callback threw', { error: (err as Error).message });
    }
  }

  async execute(): Promise<PipelineResult> {
    const started = Date.now();
    const plan = this.#plan;
    const signal = this.#opts.signal;
    const phases = new Map<PhaseName, PhaseResult>();
    const order: PhaseName[] = [
      ...(plan.setup.length ? (['setup'] as const) : []),
      ...(plan.install.length ? (['install'] as const) : []),
      ...plan.steps.map((s) => s.name),
    ];
    const onAbort = () => {
      this.#aborted = true;
      void this.#removeContainers();
    };
    if (signal?.aborted) this.#aborted = true;
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (this.#aborted) throw new Aborted();
      if (!(await imageExists(plan.image, this.#docker))) {
        throw new BerthError(
          'IMAGE_MISSING',
          `image ${JSON.stringify(plan.image)} is not present on the local engine. Build berth's images with 'berth images build', or set 'image' in berth.yaml to an image you have.`,
        );
      }
      this.#installNetwork = await usableInstallNetwork(plan.installNetwork, plan.network, (message) => this.#emit({ type: 'info', message }), this.#docker);
      const listing = await listSource(this.#opts.source, {
        ...(this.#opts.maxSourceBytes === undefined ? {} : { maxBytes: this.#opts.maxSourceBytes }),
        ...(signal ? { signal } : {}),
      });
      await this.#ensureCaches();
      if (this.#canRunDirect()) {
        await this.#runDirect(listing, phases);
      } else {
        await this.#runStaged(listing, phases);
      }
    } catch (err) {
      if (!(err instanceof Aborted) && !this.#aborted) throw err;
      this.#aborted = true;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      await this.#teardown();
    }
    return this.#finish(started, order, phases);
  }

  #finish(started: number, order: readonly PhaseName[], phases: ReadonlyMap<PhaseName, PhaseResult>): PipelineResult {
    const plan = this.#plan;
    const list: PhaseResult[] = order.map(
      (name) =>
        phases.get(name) ?? {
          name,
          outcome: this.#aborted ? 'aborted' : 'skipped',
          exitCode: null,
          durationMs: 0,
          commands: [],
          tail: '',
        },
    );
    const firstBad = list.find((p) => p.outcome === 'failed' || p.outcome === 'timeout' || p.outcome === 'aborted');
    let outcome: RunOutcome = 'passed';
    let exitCode = 0;
    if (this.#aborted) {
      outcome = 'aborted';
      exitCode = EXIT_ABORTED;
    } else if (firstBad?.outcome === 'timeout') {
      outcome = 'timeout';
      exitCode = EXIT_TIMEOUT;
    } else if (firstBad) {
      outcome = 'failed';
      exitCode = firstBad.exitCode ?? 1;
    }
    return {
      runId: this.#runId,
      target: plan.target,
      image: plan.image,
      ok: outcome === 'passed',
      outcome,
      exitCode,
      durationMs: Date.now() - started,
      phases: list,
      failedPhase: this.#aborted ? list.find((p) => p.outcome === 'aborted')?.name : firstBad?.name,
    };
  }

  /**
   * The fast path is taken when nothing needs a second process identity or a step boundary the
   * host must act on: no setup (it must run before the source exists), no chown (a non-root plan
   * user needs the copy handed over by root), no forked parallel steps.
   */
  #canRunDirect(): boolean {
    const plan = this.#plan;
    return plan.setup.length === 0 && !plan.parallel && (plan.user === undefined || isRoot(plan.user)) && this.#installNetwork === undefined;
  }

  /**
   * Run install and the steps as the container's main process, like `docker run`: the source is
   * copied into the created (not yet started) container, which Docker allows, and one `sh` script
   * runs every command in order, stopping at the first failure with its exit code. Saves the
   * keep-alive start and one exec round trip per command (bench/pipeline.ts).
   *
   * Before each command the script writes a marker carrying a per-run nonce to stdout and to
   * stderr; each stream is parsed on its own so output stays attributed to the command that wrote
   * it, and the host advances phases, headers and timers when both streams passed a marker. Only
   * the failing command's code is needed: every earlier command exited 0 (the script stops
   * otherwise), and the last one's code is the container's exit status.
   */
  async #runDirect(listing: Awaited<ReturnType<typeof listSource>>, phases: Map<PhaseName, PhaseResult>): Promise<void> {
    const plan = this.#plan;
    const cmds: { phase: PhaseName; cmd: PlanCommand }[] = [
      ...plan.install.map((cmd) => ({ phase: 'install' as PhaseName, cmd })),
      ...plan.steps.flatMap((st) => st.commands.map((cmd) => ({ phase: st.name as PhaseName, cmd }))),
    ];
    const nonce = randomUUID().replace(/-/g, '');
    const tag = `\u001eberth-${nonce}:`;
    // printf's format is fixed and the marker is an argument, so nothing in it is interpreted.
    const script = cmds
      .map(({ cmd }, i) => `printf '%s' '${tag}${i};'; printf '%s' '${tag}${i};' >&2; ${cmd.argv.map(shellQuote).join(' ')} || exit $?`)
      .concat(['exit 0'])
      .join('\n');
    if (this.#aborted) throw new Aborted();
    const container = await call(`create pipeline container from ${plan.image}`, () =>
      this.#docker.createContainer({
        name: `berth-pipeline-${this.#runId}-main`,
        Image: plan.image,
        Entrypoint: ['sh'],
        Cmd: ['-c', script],
        WorkingDir: plan.workdir,
        Env: Object.entries(plan.env).map(([k, v]) => `${k}=${v}`),
        ...(plan.user === undefined ? {} : { User: plan.user }),
        AttachStdout: true,
        AttachStderr: true,
        Labels: { ...this.#labels, [LABEL.pipelinePart]: 'main' },
        HostConfig: this.#hostConfig(),
      }),
    );
    this.#containers.add(container.id);
    if (this.#aborted) throw new Aborted();

    const tails = new Map<PhaseName, Tail>();
    const tailOf = (ph: PhaseName) => {
      let t = tails.get(ph);
      if (!t) tails.set(ph, (t = new Tail(this.#tailChars)));
      return t;
    };
    const starts: number[] = [];
    const phaseStarts = new Map<PhaseName, number>();
    let current = -1; // the command both streams have reached
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const armTimer = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        void this.#removeContainer(container.id);
      }, plan.timeoutMs);
    };
    const endPhase = (ph: PhaseName, upTo: number, outcome: PhaseOutcome, lastCode: number | null, now: number) => {
      const idx = cmds.map((c, i) => [c, i] as const).filter(([c, i]) => c.phase === ph && i <= upTo).map(([, i]) => i);
      const results: CommandResult[] = idx.map((i) => ({
        command: cmds[i]!.cmd.display,
        exitCode: i < upTo ? 0 : lastCode,
        durationMs: (i < upTo ? (starts[i + 1] ?? now) : now) - (starts[i] ?? now),
      }));
      const durationMs = now - (phaseStarts.get(ph) ?? now);
      const exitCode = results.length ? (results[results.length - 1]?.exitCode ?? null) : null;
      this.#emit({ type: 'phase-end', phase: ph, outcome, exitCode, durationMs });
      phases.set(ph, { name: ph, outcome, exitCode, durationMs, commands: results, tail: tailOf(ph).text });
    };
    const advance = (to: number) => {
      while (current < to) {
        const now = Date.now();
        const prev = cmds[current];
        const next = cmds[current + 1]!;
        if (prev && prev.phase !== next.phase) endPhase(prev.phase, current, 'passed', 0, now);
        current++;
        starts[current] = now;
        if (!prev || prev.phase !== next.phase) {
          phaseStarts.set(next.phase, now);
          this.#emit({ type: 'phase-start', phase: next.phase, parallel: false });
        }
        this.#emit({ type: 'command-start', phase: next.phase, command: next.cmd.display });
        armTimer();
      }
    };
    const seen = { stdout: -1, stderr: -1 };
    const held: { stdout: [number, string][]; stderr: [number, string][] } = { stdout: [], stderr: [] };
    const deliver = (s: 'stdout' | 'stderr', idx: number, text: string) => {
      if (text === '' || idx < 0) return;
      const phase = cmds[idx]!.phase;
      tailOf(phase).push(text);
      this.#emit({ type: 'output', phase, stream: s, text });
    };
    const sync = () => {
      advance(Math.min(seen.stdout, seen.stderr));
      for (const s of ['stdout', 'stderr'] as const) {
        while (held[s].length && held[s][0]![0] <= current) {
          const [i, t] = held[s].shift()!;
          deliver(s, i, t);
        }
      }
    };
    const out = (s: 'stdout' | 'stderr', text: string) => {
      if (seen[s] <= current && held[s].length === 0) deliver(s, seen[s], text);
      else held[s].push([seen[s], text]);
    };
    const sink = (s: 'stdout' | 'stderr') => {
      const decoder = new StringDecoder('utf8');
      let buf = '';
      const feed = (text: string, final: boolean) => {
        buf += text;
        for (;;) {
          const at = buf.indexOf(tag);
          if (at < 0) {
            // Keep back a suffix that may be the start of a marker split across chunks.
            let keep = final ? 0 : Math.min(buf.length, tag.length + 12);
            while (keep > 0 && !isMarkerPrefix(buf.slice(buf.length - keep), tag)) keep--;
            out(s, buf.slice(0, buf.length - keep));
            buf = buf.slice(buf.length - keep);
            return;
          }
          const end = buf.indexOf(';', at + tag.length);
          if (end < 0) {
            if (final) {
              out(s, buf);
              buf = '';
            } else {
              out(s, buf.slice(0, at));
              buf = buf.slice(at);
            }
            return;
          }
          out(s, buf.slice(0, at));
          const n = Number(buf.slice(at + tag.length, end));
          buf = buf.slice(end + 1);
          if (Number.isInteger(n) && n === seen[s] + 1 && n < cmds.length) {
            seen[s] = n;
            sync();
          }
        }
      };
      return {
        stream: new Writable({
          write: (chunk: Buffer, _enc, done) => {
            feed(decoder.write(chunk), false);
            done();
          },
        }),
        flush: () => feed(decoder.end(), true),
      };
    };
    const so = sink('stdout');
    const se = sink('stderr');
    // The copy and the attach are independent round trips; both must be done before start.
    const [copied, attached] = await Promise.allSettled([
      this.#guard(`copy source into ${plan.workdir}`, () => container.putArchive(packSource(this.#opts.source, listing), { path: plan.workdir })),
      this.#guard('attach to the pipeline container', () => container.attach({ stream: true, stdout: true, stderr: true, hijack: false, logs: false })),
    ]);
    if (copied.status === 'rejected' || attached.status === 'rejected') {
      if (attached.status === 'fulfilled') (attached.value as unknown as Duplex).destroy();
      throw copied.status === 'rejected' ? copied.reason : (attached as PromiseRejectedResult).reason;
    }
    const attach = attached.value as unknown as Duplex;
    this.#emit({ type: 'info', message: `copied source: ${listing.files} files, ${formatBytes(listing.bytes)}` });
    this.#docker.modem.demuxStream(attach, so.stream, se.stream);
    const ended = new Promise<void>((resolve) => {
      attach.once('end', resolve);
      attach.once('close', resolve);
      attach.once('error', () => resolve());
    });
    const onAbort = () => attach.destroy();
    this.#opts.signal?.addEventListener('abort', onAbort, { once: true });
    let status: number | null = null;
    try {
      await this.#guard(`start pipeline container ${container.id.slice(0, 12)}`, () => container.start());
      this.#log.debug('pipeline container started', { container: container.id.slice(0, 12), role: 'main' });
      armTimer();
      try {
        const w = (await container.wait()) as { StatusCode?: number };
        status = typeof w.StatusCode === 'number' ? w.StatusCode : null;
      } catch (err) {
        if (!timedOut && !this.#aborted) throw translateDockerError(err, 'wait for the pipeline container');
      }
      if (!timedOut) await Promise.race([ended, new Promise((r) => setTimeout(r, 2000))]);
    } finally {
      clearTimeout(timer);
      this.#opts.signal?.removeEventListener('abort', onAbort);
      attach.destroy();
    }
    if (this.#aborted) throw new Aborted();
    so.flush();
    se.flush();
    // Whatever a stream still holds belongs to the furthest command it reached.
    advance(Math.max(seen.stdout, seen.stderr, 0));
    for (const s of ['stdout', 'stderr'] as const) for (const [i, t] of held[s].splice(0)) deliver(s, i, t);
    const last = cmds[current]!;
    const now = Date.now();
    if (timedOut) {
      const note = `\nberth: \`${last.cmd.display}\` timed out after ${formatMs(plan.timeoutMs)}\n`;
      tailOf(last.phase).push(note);
      this.#emit({ type: 'output', phase: last.phase, stream: 'stderr', text: note });
      endPhase(last.phase, current, 'timeout', null, now);
      return;
    }
    if (status === null) {
      throw new BerthError('CONTAINER_DIED', `the pipeline container stopped while running \`${last.cmd.display}\` (no exit code). Check memory/pids limits in berth.yaml.`);
    }
    if (status !== 0) {
      endPhase(last.phase, current, 'failed', status, now);
      return;
    }
    if (current !== cmds.length - 1) {
      throw new BerthError('CONTAINER_DIED', `the pipeline container exited 0 after \`${last.cmd.display}\` without running the rest of the plan.`);
    }
    endPhase(last.phase, current, 'passed', 0, now);
  }

  /** One long-lived container and one exec per command: setup before the copy, a user switch, or parallel steps need it. */
  async #runStaged(listing: Awaited<ReturnType<typeof listSource>>, phases: Map<PhaseName, PhaseResult>): Promise<void> {
    const plan = this.#plan;
    // A separate install network: install in `main` on it, then fork the steps onto the run network.
    const main = await this.#startContainer(plan.image, 'main', this.#installNetwork);

    const failed = async (name: PhaseName, commands: readonly PlanCommand[], user: string | undefined) => {
      const r = await this.#runPhase(main, name, commands, user, false);
      phases.set(name, r);
      return r.outcome !== 'passed';
    };
    let stop = plan.setup.length > 0 && (await failed('setup', plan.setup, undefined));
    if (!stop) {
      await this.#copySource(main, listing);
      this.#emit({ type: 'info', message: `copied source: ${listing.files} files, ${formatBytes(listing.bytes)}` });
    }
    if (!stop && plan.install.length) stop = await failed('install', plan.install, plan.user);
    if (!stop) {
      if (plan.parallel || this.#installNetwork !== undefined) {
        for (const r of await this.#runForked(main, plan.steps)) phases.set(r.name, r);
      } else {
        for (const step of plan.steps) {
          if (await failed(step.name, step.commands, plan.user)) break;
        }
      }
    }
  }

  async #ensureCaches(): Promise<void> {
    for (const c of this.#plan.caches) {
      const labels = {
        [LABEL.managed]: '1',
        [LABEL.role]: 'pipeline',
        [LABEL.runnerVersion]: RUNNER_VERSION,
        [LABEL.volumeKind]: 'cache',
        [LABEL.volumeName]: c.name,
        [LABEL.pipelineRepo]: this.#plan.repo,
        [LABEL.toolchain]: this.#plan.toolchain,
      };
      // Creating an existing volume returns it unchanged (no 409), so this is idempotent and safe
      // against a concurrent run creating the same cache.
      await call(`create cache volume ${c.volume}`, () => this.#docker.createVolume({ Name: c.volume, Labels: labels }));
    }
  }

  #hostConfig(network: Plan['network'] = this.#plan.network) {
    const plan = this.#plan;
    return {
      NetworkMode: network,
      // Docker leaves IPv6 off on a network-none container's loopback; tests that bind ::1 need it.
      ...(network === 'none' ? { Sysctls: { 'net.ipv6.conf.lo.disable_ipv6': '0' } } : {}),
      NanoCpus: Math.round(plan.resources.cpus * 1e9),
      Memory: plan.resources.memoryMb * 1024 * 1024,
      PidsLimit: plan.resources.pids,
      // docker-init as PID 1 reaps processes orphaned by test runners (exec'd processes
      // re-parent to PID 1, and a shell loop would leave them as zombies).
      Init: true,
      SecurityOpt: ['no-new-privileges'],
      Mounts: plan.caches.map((c) => ({ Type: 'volume' as const, Source: c.volume, Target: c.path })),
    };
  }

  async #startContainer(image: string, role: string, network?: Plan['network']): Promise<Docker.Container> {
    if (this.#aborted) throw new Aborted();
    const plan = this.#plan;
    const container = await call(`create pipeline container from ${image}`, () =>
      this.#docker.createContainer({
        name: `berth-pipeline-${this.#runId}-${role}`,
        Image: image,
        Entrypoint: [KEEPALIVE[0] as string],
        Cmd: KEEPALIVE.slice(1),
        WorkingDir: plan.workdir,
        Env: Object.entries(plan.env).map(([k, v]) => `${k}=${v}`),
        Labels: { ...this.#labels, [LABEL.pipelinePart]: role },
        HostConfig: this.#hostConfig(network),
      }),
    );
    this.#containers.add(container.id);
    // An abort that arrived while create was in flight found nothing to remove yet.
    if (this.#aborted) throw new Aborted();
    await call(`start pipeline container ${container.id.slice(0, 12)}`, () => container.start());
    this.#log.debug('pipeline container started', { container: container.id.slice(0, 12), role });
    return container;
  }

  async #copySource(container: Docker.Container, listing: Awaited<ReturnType<typeof listSource>>): Promise<void> {
    const plan = this.#plan;
    await this.#guard(`copy source into ${plan.workdir}`, () => container.putArchive(packSource(this.#opts.source, listing), { path: plan.workdir }));
    if (plan.user !== undefined && !isRoot(plan.user)) {
      // The archive is extracted as root (portable headers carry no owner); hand the copy and the
      // cache roots to the plan's user so install and steps can write where they need to.
      const cmd = ['chown', '-R', plan.user, plan.workdir];
      const caches = plan.caches.map((c) => c.path);
      const r = await this.#exec(container, cmd, '0:0', 'install', false, plan.timeoutMs);
      const r2 = caches.length ? await this.#exec(container, ['chown', plan.user, ...caches], '0:0', 'install', false, plan.timeoutMs) : r;
      if (r.exitCode !== 0 || r2.exitCode !== 0) {
        throw new BerthError('BAD_INPUT', `could not give the source copy to user ${JSON.stringify(plan.user)} (chown failed). Check 'user' in berth.yaml.`);
      }
    }
  }

  /** Commit the prepared container and run each step in its own container from that image. */
  async #runForked(main: Docker.Container, steps: readonly PlanStep[]): Promise<PhaseResult[]> {
    const repo = 'berth-pipeline-fork';
    this.#forkImage = `${repo}:${this.#runId}`;
    this.#emit({ type: 'info', message: `forking the prepared container for ${steps.map((s) => s.name).join(', ')} (run in parallel)` });
    await this.#guard('commit the prepared container', () => main.commit({ repo, tag: this.#runId, pause: true }));
    // The prepared container is no longer needed; free its memory before the steps start.
    await this.#removeContainer(main.id);
    // allSettled, not all: teardown must not start while a sibling is still creating its
    // container, or that container would be created after the sweep and leak.
    const settled = await Promise.allSettled(
      steps.map(async (step) => {
        const c = await this.#startContainer(this.#forkImage as string, step.name);
        const r = await this.#runPhase(c, step.name, step.commands, this.#plan.user, true);
        await this.#removeContainer(c.id);
        return r;
      }),
    );
    const errors = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
    if (this.#aborted) throw new Aborted();
    const real = errors.find((e) => !(e instanceof Aborted));
    if (real !== undefined) throw real;
    return settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  }

  async #runPhase(
    container: Docker.Container,
    name: PhaseName,
    commands: readonly PlanCommand[],
    user: string | undefined,
    parallel: boolean,
  ): Promise<PhaseResult> {
    const started = Date.now();
    const tail = new Tail(this.#tailChars);
    const results: CommandResult[] = [];
    let outcome: PhaseOutcome = 'passed';
    let exitCode: number | null = null;
    this.#emit({ type: 'phase-start', phase: name, parallel });
    for (const cmd of commands) {
      if (this.#aborted) throw new Aborted();
      this.#emit({ type: 'command-start', phase: name, command: cmd.display });
      const t0 = Date.now();
      const r = await this.#exec(container, cmd.argv, user, name, true, this.#plan.timeoutMs, tail);
      results.push({ command: cmd.display, exitCode: r.exitCode, durationMs: Date.now() - t0 });
      if (this.#aborted) throw new Aborted();
      exitCode = r.exitCode;
      if (r.timedOut) {
        outcome = 'timeout';
        const note = `\nberth: \`${cmd.display}\` timed out after ${formatMs(this.#plan.timeoutMs)}\n`;
        tail.push(note);
        this.#emit({ type: 'output', phase: name, stream: 'stderr', text: note });
        break;
      }
      if (r.exitCode !== 0) {
        outcome = 'failed';
        break;
      }
    }
    const durationMs = Date.now() - started;
    this.#emit({ type: 'phase-end', phase: name, outcome, exitCode, durationMs });
    return { name, outcome, exitCode, durationMs, commands: results, tail: tail.text };
  }

  /**
   * Exec argv in the container and stream its output. Resolves with the exit code, or timedOut
   * when the deadline removed the container first. Throws Aborted when the run was aborted.
   */
  async #exec(
    container: Docker.Container,
    argv: readonly string[],
    user: string | undefined,
    phase: PhaseName,
    stream: boolean,
    timeoutMs: number,
    tail?: Tail,
  ): Promise<{ exitCode: number | null; timedOut: boolean }> {
    const exec = await this.#guard(`exec in ${container.id.slice(0, 12)}`, () =>
      container.exec({
        Cmd: [...argv],
        AttachStdout: true,
        AttachStderr: true,
        AttachStdin: false,
        Tty: false,
        WorkingDir: this.#plan.workdir,
        ...(user === undefined ? {} : { User: user }),
      }),
    );
    const duplex = await this.#guard('start exec', () => exec.start({ hijack: true, stdin: false }));
    const sink = (s: 'stdout' | 'stderr') => {
      const decoder = new StringDecoder('utf8');
      return new Writable({
        write: (chunk: Buffer, _enc, done) => {
          const text = decoder.write(chunk);
          if (text !== '') {
            tail?.push(text);
            if (stream) this.#emit({ type: 'output', phase, stream: s, text });
          }
          done();
        },
      });
    };
    this.#docker.modem.demuxStream(duplex, sink('stdout'), sink('stderr'));
    let timedOut = false;
    const ended = new Promise<void>((resolve) => {
      duplex.once('end', resolve);
      duplex.once('close', resolve);
      duplex.once('error', () => resolve());
    });
    const timer = setTimeout(() => {
      timedOut = true;
      // Removing the container is the only reliable way to stop an exec'd process tree: the exec
      // API has no kill (https://github.com/moby/moby/issues/9098).
      void this.#removeContainer(container.id).finally(() => duplex.destroy());
    }, timeoutMs);
    const onAbort = () => duplex.destroy();
    this.#opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await ended;
    } finally {
      clearTimeout(timer);
      this.#opts.signal?.removeEventListener('abort', onAbort);
    }
    if (this.#aborted) throw new Aborted();
    if (timedOut) return { exitCode: null, timedOut: true };
    // The stream can end a moment before the daemon records the exit code.
    for (let i = 0; ; i++) {
      const info = await this.#guard('inspect exec', () => exec.inspect());
      if (!info.Running && info.ExitCode !== null) return { exitCode: info.ExitCode, timedOut: false };
      if (i >= 50) {
        throw new BerthError('CONTAINER_DIED', `the pipeline container stopped while running \`${argv.join(' ')}\` (no exit code). Check memory/pids limits in berth.yaml.`);
      }
      await new Promise((r) => setTimeout(r, 40));
    }
  }

  /** A Docker call; once the run is aborted its failure (container gone) means Aborted. */
  async #guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.#aborted) throw new Aborted();
    try {
      return await fn();
    } catch (err) {
      if (this.#aborted) throw new Aborted();
      const t = translateDockerError(err, what);
      if (t.code === 'CONTAINER_GONE') {
        throw new BerthError('CONTAINER_DIED', `the pipeline container disappeared during "${what}" (removed from outside berth?).`, { cause: err });
      }
      throw t;
    }
  }

  /**
   * Force-remove a container; one removal per id, shared by every caller (timeout timer, abort,
   * teardown), so teardown can wait for a removal another path started instead of racing it
   * (a second DELETE answers 409 "removal already in progress" while the first is still working).
   */
  #removeContainer(id: string): Promise<void> {
    let p = this.#removals.get(id);
    if (!p) {
      p = (async () => {
        try {
          await this.#docker.getContainer(id).remove({ force: true, v: true });
        } catch (err) {
          const t = translateDockerError(err, `remove pipeline container ${id.slice(0, 12)}`);
          if (t.code !== 'CONTAINER_GONE') this.#log.warn(t.message);
        }
        this.#containers.delete(id);
      })();
      this.#removals.set(id, p);
    }
    return p;
  }

  async #removeContainers(): Promise<void> {
    await Promise.all([...this.#containers].map((id) => this.#removeContainer(id)));
  }

  async #teardown(): Promise<void> {
    await this.#removeContainers();
    await Promise.all(this.#removals.values());
    // Labels are the source of truth: also sweep anything of this run a lost reference missed.
    try {
      const left = await this.#docker.listContainers({ all: true, filters: { label: [`${LABEL.pipelineRun}=${this.#runId}`] } });
      for (const c of left) this.#removals.delete(c.Id);
      await Promise.all(left.map((c) => this.#removeContainer(c.Id)));
    } catch (err) {
      this.#log.warn(translateDockerError(err, 'list pipeline containers').message);
    }
    if (this.#forkImage) {
      try {
        await this.#docker.getImage(this.#forkImage).remove({ force: true });
      } catch (err) {
        const t = translateDockerError(err, `remove image ${this.#forkImage}`);
        if (t.code !== 'IMAGE_MISSING' && t.code !== 'CONTAINER_GONE') this.#log.warn(t.message);
      }
    }
  }
}

/** Whether `s` could be the beginning of `tag` followed by digits and `;`. */
function isMarkerPrefix(s: string, tag: string): boolean {
  if (s.length <= tag.length) return tag.startsWith(s);
  return s.startsWith(tag) && /^[0-9]*$/.test(s.slice(tag.length));
}

function isRoot(user: string): boolean {
  const name = user.split(':')[0];
  return name === '0' || name === 'root';
}

/** Keeps the last `max` characters written. */
class Tail {
  #text = '';
  readonly #max: number;
  constructor(max: number) {
    this.#max = max;
  }
  push(s: string): void {
    this.#text += s;
    if (this.#text.length > this.#max * 2) this.#text = this.#text.slice(-this.#max);
  }
  get text(): string {
    return this.#text.length > this.#max ? this.#text.slice(-this.#max) : this.#text;
  }
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${Math.round((ms % 60_000) / 1000)}s`;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

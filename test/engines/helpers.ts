/**
 * The second engine for the multi-engine suites, brought up by scripts/second-engine.sh (a second
 * dockerd in its own mount namespace + sshd on 127.0.0.1). When scripts/test.sh already started it
 * (BERTH_ENGINE2_SOCK is set) the suite uses it and leaves it up; otherwise the suite starts it
 * and tears it down in afterAll. `reason` names why it can't run here (the suite is skipped).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { dockerClient, type Docker } from '../helpers/docker.js';
import { removeLabelled, TEST_LABEL, type Fixture } from '../runner/helpers.js';

const SCRIPT = resolve(import.meta.dirname, '../../scripts/second-engine.sh');

export interface SecondEngine {
  readonly sock: string;
  readonly ssh: string;
  readonly sshKey: string;
  readonly knownHosts: string;
  /** tcp://127.0.0.1:PORT with --tlsverify, when the script could set TLS up (openssl present). */
  readonly tcp?: string;
  /** The DOCKER_CERT_PATH-style client directory (ca.pem, cert.pem, key.pem) for `tcp`. */
  readonly tlsCerts?: string;
  readonly startedHere: boolean;
  /** The environment scripts/second-engine.sh ran with (its directory and port), when started here. */
  readonly scriptEnv?: NodeJS.ProcessEnv;
  readonly client: Docker;
}

function parseEnv(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .map((l) => /^([A-Z0-9_]+)=(.*)$/.exec(l.trim()))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1]!, m[2]!]),
  );
}

function fromEnv(env: Record<string, string | undefined>, startedHere: boolean): SecondEngine {
  const sock = env.BERTH_ENGINE2_SOCK!;
  return {
    sock,
    ssh: env.BERTH_ENGINE2_SSH!,
    sshKey: env.BERTH_ENGINE2_SSH_KEY!,
    knownHosts: env.BERTH_ENGINE2_KNOWN_HOSTS!,
    ...(env.BERTH_ENGINE2_TCP && env.BERTH_ENGINE2_TLS_CERTS ? { tcp: env.BERTH_ENGINE2_TCP, tlsCerts: env.BERTH_ENGINE2_TLS_CERTS } : {}),
    startedHere,
    client: dockerClient({ socketPath: sock, host: undefined, protocol: 'http' } as Parameters<typeof dockerClient>[0]),
  };
}

/** Start (or find) the second engine; `{ reason }` when it cannot run on this machine. */
export function secondEngine(): SecondEngine | { reason: string } {
  if (process.env.BERTH_TEST_DOCKER === '0') return { reason: 'BERTH_TEST_DOCKER=0' };
  if (process.env.BERTH_ENGINE2_SOCK) return fromEnv(process.env, false);
  return startEngine(process.env);
}

/**
 * An engine two of this suite's own (its own directory, socket and sshd port), for a suite that
 * kills and restarts it: the shared one (secondEngine) serves other suites at the same time.
 * Always torn down by stopSecondEngine.
 */
export function privateSecondEngine(tag: string): SecondEngine | { reason: string } {
  if (process.env.BERTH_TEST_DOCKER === '0') return { reason: 'BERTH_TEST_DOCKER=0' };
  const env = {
    ...process.env,
    BERTH_ENGINE2_DIR: join(tmpdir(), `berth-engine2-${tag}-${process.pid}`),
    BERTH_ENGINE2_SSH_PORT: String(22700 + (process.pid % 250)),
    // Its own TLS port too: a taken one leaves this engine without its TLS endpoint.
    BERTH_ENGINE2_TLS_PORT: String(22950 + (process.pid % 250)),
  };
  return startEngine(env);
}

function startEngine(env: NodeJS.ProcessEnv): SecondEngine | { reason: string } {
  const r = spawnSync('bash', [SCRIPT, 'up'], { encoding: 'utf8', timeout: 180_000, env });
  if (r.status === 2) return { reason: r.stdout.trim().replace(/^skip: /, '') };
  if (r.status !== 0) return { reason: `scripts/second-engine.sh up failed (${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' ')}` };
  const e = fromEnv(parseEnv(r.stdout), true);
  return { ...e, scriptEnv: env };
}

/** Tear engine two down if this suite started it (one that scripts/test.sh started stays up). */
export function stopSecondEngine(e: SecondEngine | { reason: string }): void {
  if ('sock' in e && e.startedHere) engineScript('down', e);
}

/** kill-engine / start-engine / down on `e` (default: the shared engine two). */
export function engineScript(cmd: 'kill-engine' | 'start-engine' | 'down', e?: SecondEngine): void {
  execFileSync('bash', [SCRIPT, cmd], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 180_000, env: e?.scriptEnv ?? process.env });
}

/** Force-remove containers and volumes on `client` carrying all `labels`. */
export async function removeOn(client: Docker, labels: string[]): Promise<void> {
  const filters = { label: labels };
  for (const c of await client.listContainers({ all: true, filters }))
    await client
      .getContainer(c.Id)
      .remove({ force: true, v: true })
      .catch(() => undefined);
  for (const v of (await client.listVolumes({ filters })).Volumes ?? [])
    await client
      .getVolume(v.Name)
      .remove({ force: true })
      .catch(() => undefined);
}

/**
 * A two-engine suite's afterAll: close its runners, then remove what the fixture's run made on
 * the local engine and on engine two, and the fixture itself.
 */
export async function cleanUpBothEngines(runners: readonly { close(): Promise<void> }[], fx: Fixture | undefined, two: SecondEngine): Promise<void> {
  for (const r of runners) await r.close().catch(() => undefined);
  if (!fx) return;
  await removeLabelled(fx.runId);
  await removeOn(two.client, [`${TEST_LABEL}=${fx.runId}`]).catch(() => undefined);
  await fx.cleanup();
}

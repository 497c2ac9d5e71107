// The ssh:// transport (docker/ssh-transport.ts) against the real second engine behind a real
// sshd: one ssh connection carries many sequential API calls and a hijacked exec; a killed ssh
// connection is recovered from; a process that used an ssh://
// engine exits on its own (no parked channel holds it open). Connections are counted from the
// kernel's socket table (`ss`), not from berth's own bookkeeping. (An engine kill/restart is
// test/engines/engines.test.ts's; a second one here would disturb suites sharing the engine.)
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EngineSet, parseEngineList } from '../../docker/engines.js';
import { SshDockerAgent } from '../../docker/ssh-transport.js';
import { IMAGES } from '../../src/images.js';
import { removeOn, secondEngine, stopSecondEngine, type SecondEngine } from './helpers.js';

const e2 = secondEngine();
const ready = 'sock' in e2;
const LABEL = 'berth.test.ssh-transport';
const ROOT = resolve(import.meta.dirname, '../..');

/**
 * This process's established TCP connections to sshd on `port`, and the sshd processes serving
 * them (other suites may use the same sshd at the same time: theirs are neither counted nor killed).
 */
function sshConnections(port: number): { clients: number; sshdPids: number[] } {
  // With a state filter, ss prints: Recv-Q Send-Q Local:Port Peer:Port [Process].
  const rows = execFileSync('ss', ['-tnpH', 'state', 'established'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 4);
  const at = `127.0.0.1:${port}`;
  const mine = rows.filter((f) => f[3] === at && (f[4] ?? '').includes(`pid=${process.pid},`)).map((f) => f[2]!);
  const sshdPids = rows
    .filter((f) => f[2] === at && mine.includes(f[3]!) && /sshd/.test(f[4] ?? ''))
    .flatMap((f) => [...(f[4] ?? '').matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])));
  return { clients: mine.length, sshdPids };
}

describe.skipIf(!ready)(`ssh:// transport${ready ? '' : ` [skipped: ${(e2 as { reason: string }).reason}]`}`, () => {
  const two = e2 as SecondEngine;
  const port = ready ? Number(new URL(two.ssh).port) : 0;
  const entry = () => ({ id: 'ssh2', host: two.ssh, sshIdentityFile: two.sshKey, sshKnownHostsFile: two.knownHosts });
  let set: EngineSet;
  let dir: string;

  beforeAll(async () => {
    set = EngineSet.of(parseEngineList([entry()], 'test'));
    dir = await mkdtemp(join(tmpdir(), 'berth-ssh-transport-'));
  });

  afterAll(async () => {
    set?.close();
    if (ready) await removeOn(two.client, [`${LABEL}=1`]).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
    stopSecondEngine(e2);
  }, 120_000);

  it('carries sequential API calls and a hijacked exec over ONE ssh connection', async () => {
    const docker = set.get('ssh2').docker;
    expect((docker.modem as unknown as { agent: unknown }).agent).toBeInstanceOf(SshDockerAgent);
    for (let i = 0; i < 15; i++) expect((await docker.version()).ApiVersion).toMatch(/^\d+\.\d+$/);
    expect(sshConnections(port).clients).toBe(1);

    const c = await docker.createContainer({ Image: IMAGES.busybox, Cmd: ['sleep', '300'], Labels: { [LABEL]: '1' }, HostConfig: { NetworkMode: 'none' } });
    await c.start();
    const ex = await c.exec({ Cmd: ['sh', '-c', 'read line; echo "got $line"'], AttachStdin: true, AttachStdout: true, AttachStderr: true });
    const stream = await ex.start({ hijack: true, stdin: true });
    let out = '';
    stream.on('data', (b: Buffer) => (out += b.toString('latin1')));
    const ended = new Promise((r) => stream.on('end', r));
    stream.write('over-one-connection\n');
    // While the exec holds its own channel, other calls still go through.
    expect((await c.inspect()).State.Running).toBe(true);
    await ended;
    expect(out).toContain('got over-one-connection');
    expect((await ex.inspect()).ExitCode).toBe(0);
    await c.remove({ force: true });
    expect(sshConnections(port).clients).toBe(1);
  }, 120_000);

  it('dials again after its ssh connection is killed', async () => {
    const docker = set.get('ssh2').docker;
    await docker.ping();
    const { sshdPids } = sshConnections(port);
    expect(sshdPids.length).toBeGreaterThan(0);
    for (const pid of sshdPids) process.kill(pid, 'SIGKILL');
    await vi.waitFor(() => expect(sshConnections(port).clients).toBe(0), { timeout: 30_000, interval: 200 });
    await vi.waitFor(() => expect((docker.modem as unknown as { agent: SshDockerAgent }).agent.connections).toBe(0), { timeout: 30_000, interval: 200 });
    expect((await docker.version()).ApiVersion).toMatch(/^\d+\.\d+$/);
    expect(sshConnections(port).clients).toBe(1);
  }, 120_000);

  it('lets a process that used an ssh:// engine exit by itself (no close call)', async () => {
    const script = join(dir, 'use-ssh.mts');
    const lib = join(ROOT, 'docker/engines.ts');
    await writeFile(
      script,
      `import { EngineSet, parseEngineList } from ${JSON.stringify(lib)};\n` +
        `const set = EngineSet.of(parseEngineList([${JSON.stringify(entry())}], 'test'));\n` +
        `const d = set.get('ssh2').docker;\n` +
        `for (let i = 0; i < 3; i++) await d.version();\n` +
        `await Promise.all([d.ping(), d.ping(), d.listContainers()]);\n` +
        `console.log('used');\n`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A hang is the failure. The guard is shorter than IDLE_CHANNEL_MS, so a parked channel that still
    // held the ssh socket ref'd would keep the child alive past it.
    let hung = false;
    const guard = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, 25_000);
    const code = await new Promise<number | null>((r) => child.on('close', r));
    clearTimeout(guard);
    expect(stdout, stderr).toContain('used');
    expect(hung, 'the process did not exit by itself').toBe(false);
    expect(code, stderr).toBe(0);
  }, 120_000);
});

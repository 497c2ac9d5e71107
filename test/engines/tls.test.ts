// A tcp:// engine with TLS (issue 15), for real: engine two from scripts/second-engine.sh also
// listens on tcp://127.0.0.1 with --tlsverify and certificates made by openssl. Next to the local
// engine, `berth engines --json` (the real CLI) shows it healthy; a workspace placed there is
// remote by its scheme (a volume, no bind mounts) and runs exec, the file tools and a checkpoint.
// A client certificate from ANOTHER CA is refused, a client that does not trust the engine's CA
// refuses it, and plain http to the TLS port fails: each with a clear error naming TLS.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineSet, parseEngineList, remoteVolumeNames, type EngineEntry } from '../../docker/index.js';
import { Runner } from '../../runner/session/index.js';
import { BerthError } from '../../src/errors.js';
import { runBerth } from '../helpers/cli.js';
import { dockerAvailable } from '../helpers/docker.js';
import { busyboxSpec, makeFixture, TEST_LABEL, type Fixture } from '../runner/helpers.js';
import { cleanUpBothEngines, secondEngine, stopSecondEngine, type SecondEngine } from './helpers.js';

const ENGINE_ONE = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST : 'unix:///var/run/docker.sock';
const started = dockerAvailable ? secondEngine() : { reason: 'no Docker engine' };
const e2: SecondEngine | { reason: string } =
  'sock' in started && !started.tcp ? { reason: 'engine two has no TLS endpoint (openssl missing: see scripts/second-engine.sh)' } : started;
const ready = 'sock' in e2;

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA of our own and a client certificate it signed, in `dir` (ca.pem is `trust`'s copy). */
function foreignClient(dir: string, trust: string): void {
  mkdirSync(dir, { recursive: true });
  const ca = (f: string) => join(dir, `other-ca${f}`);
  openssl(['genrsa', '-out', ca('-key.pem'), '2048']);
  openssl(['req', '-new', '-x509', '-days', '2', '-key', ca('-key.pem'), '-subj', '/CN=not the engine CA', '-out', ca('.pem')]);
  openssl(['genrsa', '-out', join(dir, 'key.pem'), '2048']);
  openssl(['req', '-new', '-key', join(dir, 'key.pem'), '-subj', '/CN=intruder', '-out', join(dir, 'req.csr')]);
  execFileSync('sh', ['-c', `printf 'extendedKeyUsage = clientAuth\\n' > "$1"`, 'sh', join(dir, 'client.ext')]);
  openssl([
    'x509',
    '-req',
    '-in',
    join(dir, 'req.csr'),
    '-CA',
    ca('.pem'),
    '-CAkey',
    ca('-key.pem'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    join(dir, 'client.ext'),
    '-out',
    join(dir, 'cert.pem'),
  ]);
  copyFileSync(trust, join(dir, 'ca.pem'));
}

async function refusal(entry: EngineEntry): Promise<BerthError> {
  const set = EngineSet.of(parseEngineList([entry], 'test'));
  try {
    await set.get(entry.id).docker.listContainers();
  } catch (err) {
    if (err instanceof BerthError) return err;
    throw new Error(`not a BerthError: ${String(err)}`, { cause: err });
  } finally {
    set.close();
  }
  throw new Error('the engine answered');
}

describe.skipIf(!ready)(`a tcp:// engine with TLS${ready ? '' : ` [skipped: ${(e2 as { reason: string }).reason}]`}`, () => {
  const two = e2 as SecondEngine;
  let fx: Fixture;
  let entries: EngineEntry[];
  let dir: string;
  const runners: Runner[] = [];

  beforeAll(() => {
    fx = makeFixture('berth-tls-');
    dir = mkdtempSync(join(tmpdir(), 'berth-tls-certs-'));
    entries = parseEngineList(
      [
        { id: 'local', host: ENGINE_ONE },
        { id: 'tls2', host: two.tcp!, tlsCertPath: two.tlsCerts! },
      ],
      'test',
    );
  });

  afterAll(async () => {
    await cleanUpBothEngines(runners, fx, two);
    if (dir) rmSync(dir, { recursive: true, force: true });
    stopSecondEngine(e2);
  }, 180_000);

  it('berth engines --json shows the TLS engine healthy, with its version, next to the local one', async () => {
    const env = { ...process.env, BERTH_ENGINES: JSON.stringify(entries) };
    const r = await runBerth(['engines', '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      ok: boolean;
      engines: { id: string; endpoint: string; remote: boolean; health: { ok: boolean; version: string | null } }[];
    };
    expect(out.ok).toBe(true);
    expect(out.engines.map((e) => [e.id, e.remote, e.health.ok])).toEqual([
      ['local', false, true],
      ['tls2', true, true],
    ]);
    expect(out.engines[1]!.endpoint).toBe(two.tcp);
    // The version engine two itself reports (over its unix socket), so the answer came from it.
    expect(out.engines[1]!.health.version).toBe((await two.client.version()).Version);
  }, 120_000);

  it('a workspace placed on the TLS engine is a volume workspace there: exec, file tools and a checkpoint work', async () => {
    // Only the TLS engine: the workspace cannot land on the local one.
    const set = EngineSet.of([entries[1]!], { sessionLabels: [`${TEST_LABEL}=${fx.runId}`] });
    const r = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, spec: busyboxSpec(), engines: set, reconcile: false });
    runners.push(r);
    const s = await r.open('over-tls');
    expect((await r.workspaces.get('over-tls')).extra.engine).toBe('tls2');
    const info = await two.client.getContainer(s.containerId).inspect();
    expect(info.HostConfig.Binds ?? []).toEqual([]);
    expect((info.Mounts ?? []).filter((m) => m.Type === 'bind')).toEqual([]);
    expect((info.Mounts ?? []).map((m) => m.Name)).toContain(remoteVolumeNames(r.repo, 'over-tls').tree);

    const res = await s.exec('echo $((6 * 7)) > answer.txt && cat answer.txt');
    expect([res.exitCode, res.stdout]).toEqual([0, '42\n']);
    const files = r.remoteFiles('over-tls')!;
    expect(files).toBeDefined();
    await files.write('note.txt', 'written over TLS\n');
    expect((await files.read('note.txt')).content).toBe('written over TLS\n');
    expect((await s.exec('cat note.txt')).stdout).toBe('written over TLS\n');

    const cp = await r.checkpoint('over-tls', { message: 'over tls' });
    expect([cp.committed, cp.filesChanged]).toEqual([true, 2]);
    const diff = await r.workspaces.diff('over-tls');
    expect(diff).toContain('+42');
    expect(diff).toContain('+written over TLS');
  }, 300_000);

  it('refuses a client certificate from another CA, an untrusted server certificate, and plain http, naming TLS', async () => {
    foreignClient(join(dir, 'foreign'), join(two.tlsCerts!, 'ca.pem'));
    const foreign = await refusal({ id: 'intruder', host: two.tcp!, tlsCertPath: join(dir, 'foreign') });
    expect(foreign.code).toBe('ENGINE_UNAVAILABLE');
    expect(foreign.message).toMatch(/certificate/i);
    expect(foreign.message).toContain('TLS');

    // Our real client certificate, but a ca.pem that did not sign the engine's: we refuse it.
    const untrusting = join(dir, 'untrusting');
    mkdirSync(untrusting);
    for (const f of ['cert.pem', 'key.pem']) copyFileSync(join(two.tlsCerts!, f), join(untrusting, f));
    copyFileSync(join(dir, 'foreign', 'other-ca.pem'), join(untrusting, 'ca.pem'));
    const untrusted = await refusal({ id: 'untrusting', host: two.tcp!, tlsCertPath: untrusting });
    expect(untrusted.code).toBe('ENGINE_UNAVAILABLE');
    expect(untrusted.message).toMatch(/certificate/i);
    expect(untrusted.message).toContain('TLS');

    const plain = await refusal({ id: 'plain', host: two.tcp! });
    expect(plain.code).toBe('ENGINE_CONFIG');
    expect(plain.message).toContain('tlsCertPath');
    expect(plain.message).toContain('TLS');

    // The CLI says the same to a user, for the foreign certificate.
    const env = { ...process.env, BERTH_ENGINES: JSON.stringify([{ id: 'intruder', host: two.tcp, tlsCertPath: join(dir, 'foreign') }]) };
    const cli = await runBerth(['engines', '--json'], { env });
    expect(cli.code, cli.stderr).toBe(3);
    const out = JSON.parse(cli.stdout) as { engines: { health: { ok: boolean; error: string | null } }[] };
    expect(out.engines[0]!.health.ok).toBe(false);
    expect(out.engines[0]!.health.error).toMatch(/TLS handshake failed/);
  }, 120_000);
});

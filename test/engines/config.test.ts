// Engine configuration: BERTH_ENGINES (JSON and shorthand), the config file's `engines:`, the
// precedence between them, the errors a bad entry gives, the client options per transport, and the
// known_hosts check that keeps ssh:// from trusting whoever answers on the port.
import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  chooseEngine,
  configuredEngines,
  DEFAULT_CAPACITY,
  EngineSet,
  knownHostsVerifier,
  parseEngineList,
  parseEnginesEnv,
  type EngineStatus,
} from '../../docker/engines.js';
import { clientOptions, isTransportError, sshConnectConfig } from '../../docker/engines-client.js';
import { SshDockerAgent } from '../../docker/ssh-transport.js';
import { BerthError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-engines-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof BerthError ? err.code : `not a BerthError: ${String(err)}`;
  }
  return undefined;
}

describe('engine configuration', () => {
  it('reads BERTH_ENGINES as a shorthand list with and without ids', () => {
    const e = parseEnginesEnv('unix:///var/run/docker.sock, b=ssh://root@10.0.0.1:2222 ,tcp://h:2376');
    expect(e.map((x) => [x.id, x.host])).toEqual([
      ['e1', 'unix:///var/run/docker.sock'],
      ['b', 'ssh://root@10.0.0.1:2222'],
      ['e3', 'tcp://h:2376'],
    ]);
  });

  it('reads BERTH_ENGINES as JSON with every field', () => {
    const e = parseEnginesEnv(JSON.stringify([{ id: 'a', host: '/run/d.sock', remote: true, maxSessions: 4 }, 'tcp://h:2375']));
    expect(e[0]).toEqual({ id: 'a', host: '/run/d.sock', remote: true, maxSessions: 4 });
    expect(e[1]).toEqual({ id: 'e2', host: 'tcp://h:2375' });
  });

  it('rejects bad entries with ENGINE_CONFIG naming the field', () => {
    expect(code(() => parseEnginesEnv('[{"id":"a","host":"http://x"}]'))).toBe('ENGINE_CONFIG');
    expect(code(() => parseEnginesEnv('[{"id":"A B","host":"/x"}]'))).toBe('ENGINE_CONFIG');
    expect(code(() => parseEnginesEnv('[{"id":"a","host":"/x","maxSessions":0}]'))).toBe('ENGINE_CONFIG');
    expect(code(() => parseEnginesEnv('[{"id":"a","host":"/x","bogus":1}]'))).toBe('ENGINE_CONFIG');
    expect(code(() => parseEnginesEnv('a=/x,a=/y'))).toBe('ENGINE_CONFIG');
    expect(code(() => parseEnginesEnv('[{"id":"a","host":"/x","tlsCertPath":"/c"}]'))).toBe('ENGINE_CONFIG');
    expect(code(() => parseEnginesEnv('[{"id":"a","host":"tcp://h","sshIdentityFile":"/k"}]'))).toBe('ENGINE_CONFIG');
    expect(code(() => parseEnginesEnv('[not json'))).toBe('ENGINE_CONFIG');
    expect(code(() => parseEngineList([], 'test'))).toBe('ENGINE_CONFIG');
    expect(() => parseEnginesEnv('[{"id":"a","host":"/x","maxSessions":-1}]')).toThrow(/BERTH_ENGINES.*maxSessions/);
    expect(() => parseEnginesEnv('[{"id":"a","host":"ftp://h"}]')).toThrow(/0\.host: .* \(got "ftp:\/\/h"\)/);
  });

  it('reads engines: from the config file, and BERTH_ENGINES wins over it', () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(
      file,
      'other: kept for its owner\nengines:\n  - id: local\n    host: unix:///var/run/docker.sock\n    maxSessions: 8\n  - b=ssh://me@build:22\n',
    );
    const fromFile = configuredEngines({ BERTH_CONFIG: file });
    expect(fromFile?.map((e) => e.id)).toEqual(['local', 'b']);
    expect(fromFile?.[0]?.maxSessions).toBe(8);
    expect(configuredEngines({ BERTH_CONFIG: file, BERTH_ENGINES: 'z=/s' })?.map((e) => e.id)).toEqual(['z']);
    expect(configuredEngines({ BERTH_CONFIG: join(dir, 'absent.yaml') })).toBeUndefined();
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'engines: [ {id: a, host: /x}\n');
    expect(code(() => configuredEngines({ BERTH_CONFIG: bad }))).toBe('ENGINE_CONFIG');
    // XDG_CONFIG_HOME locates the default file.
    mkdirSync(join(dir, 'xdg', 'berth'), { recursive: true });
    writeFileSync(join(dir, 'xdg', 'berth', 'config.yaml'), 'engines: ["x=/run/x.sock"]\n');
    expect(configuredEngines({ XDG_CONFIG_HOME: join(dir, 'xdg') })?.map((e) => e.host)).toEqual(['/run/x.sock']);
  });

  it('without configuration, one "default" engine from DOCKER_HOST', () => {
    const set = EngineSet.resolve({ BERTH_CONFIG: join(dir, 'absent.yaml') });
    expect(set.configured).toBe(false);
    expect(set.engines.map((e) => e.id)).toEqual(['default']);
    expect(code(() => set.get('nope'))).toBe('ENGINE_CONFIG');
  });

  it('builds client options per transport, ignoring DOCKER_HOST/DOCKER_CERT_PATH defaults', () => {
    expect(clientOptions({ id: 'a', host: 'unix:///run/x.sock' })).toMatchObject({ socketPath: '/run/x.sock', host: undefined });
    expect(clientOptions({ id: 'a', host: 'tcp://h:2375' })).toMatchObject({ host: 'h', port: '2375', protocol: 'http', ca: undefined });
    const certs = join(dir, 'certs');
    expect(code(() => clientOptions({ id: 'a', host: 'tcp://h', tlsCertPath: certs }))).toBe('ENGINE_CONFIG');
    mkdirSync(certs);
    for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(certs, f), `fake ${f}`);
    expect(clientOptions({ id: 'a', host: 'tcp://h', tlsCertPath: certs })).toMatchObject({ host: 'h', port: '2376', protocol: 'https' });
    const key = join(dir, 'id');
    writeFileSync(key, 'fake key');
    const entry = { id: 'a', host: 'ssh://bob@build:2200', sshIdentityFile: key };
    expect(sshConnectConfig(entry)).toMatchObject({ host: 'build', port: 2200, username: 'bob', privateKey: Buffer.from('fake key') });
    // ssh:// goes through berth's kept-connection agent (docker-modem's 'ssh' protocol would replace it).
    const ssh = clientOptions(entry) as { protocol: string; host: string; agent: unknown };
    expect(ssh).toMatchObject({ protocol: 'http', host: 'build' });
    expect(ssh.agent).toBeInstanceOf(SshDockerAgent);
  });

  it('accepts only host keys listed in known_hosts (plain or hashed), for the exact host:port', () => {
    const key = randomBytes(51);
    const other = randomBytes(51);
    const plain = join(dir, 'known_plain');
    writeFileSync(plain, `# comment\n[127.0.0.1]:2222 ssh-ed25519 ${key.toString('base64')}\nbuild ssh-ed25519 ${other.toString('base64')}\n`);
    expect(knownHostsVerifier(plain, '127.0.0.1', 2222)(key)).toBe(true);
    expect(knownHostsVerifier(plain, '127.0.0.1', 2222)(other)).toBe(false);
    expect(knownHostsVerifier(plain, '127.0.0.1', 22)(key)).toBe(false);
    expect(knownHostsVerifier(plain, 'build', 22)(other)).toBe(true);
    const salt = randomBytes(20);
    const hashed = join(dir, 'known_hashed');
    const h = createHmac('sha1', salt).update('[10.1.1.1]:2200').digest('base64');
    writeFileSync(hashed, `|1|${salt.toString('base64')}|${h} ssh-ed25519 ${key.toString('base64')}\n`);
    expect(knownHostsVerifier(hashed, '10.1.1.1', 2200)(key)).toBe(true);
    expect(knownHostsVerifier(hashed, '10.1.1.2', 2200)(key)).toBe(false);
    expect(knownHostsVerifier(join(dir, 'missing'), '10.1.1.1', 2200)(key)).toBe(false);
  });

  it('classifies transport failures (engine down) apart from API errors', () => {
    expect(isTransportError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isTransportError(Object.assign(new Error('auth'), { level: 'client-authentication' }))).toBe(true);
    expect(isTransportError(new Error('socket hang up'))).toBe(true);
    expect(isTransportError(Object.assign(new Error('no such container'), { statusCode: 404 }))).toBe(false);
  });
});

describe('placement', () => {
  const up = (id: string, sessions: number, maxSessions: number | null): EngineStatus => ({
    id,
    endpoint: `unix:///${id}`,
    remote: false,
    health: { ok: true, version: '1', apiVersion: '1', product: 'docker', error: null },
    sessions,
    maxSessions,
    free: maxSessions === null ? null : maxSessions - sessions,
  });
  const down = (id: string): EngineStatus => ({
    ...up(id, 0, null),
    health: { ok: false, version: null, apiVersion: null, product: null, error: 'refused' },
    sessions: null,
  });

  it('picks the engine with the most free capacity, then fewer sessions, then list order', () => {
    expect(chooseEngine([up('a', 3, 10), up('b', 1, 10)])).toBe('b');
    expect(chooseEngine([up('a', 3, 10), up('b', 3, 10)])).toBe('a');
    expect(chooseEngine([up('a', 3, 10), up('b', 3, 20)])).toBe('b');
    // An unlimited engine ranks with DEFAULT_CAPACITY: a limited one with more room still wins.
    expect(chooseEngine([up('a', DEFAULT_CAPACITY - 2, null), up('b', 0, 10)])).toBe('b');
    expect(chooseEngine([up('a', 0, null), up('b', 0, 10)])).toBe('a');
    // Pending placements of this process count as sessions.
    expect(chooseEngine([up('a', 0, 10), up('b', 0, 10)], new Map([['a', 1]]))).toBe('b');
  });

  it('skips full and down engines; says which when none is left', () => {
    expect(chooseEngine([up('a', 10, 10), up('b', 50, null)])).toBe('b');
    expect(chooseEngine([down('a'), up('b', 5, 6)])).toBe('b');
    expect(() => chooseEngine([up('a', 10, 10), up('b', 2, 2)])).toThrow(expect.objectContaining({ code: 'ENGINES_FULL' }));
    expect(() => chooseEngine([down('a'), down('b')])).toThrow(expect.objectContaining({ code: 'ENGINE_UNAVAILABLE' }));
  });
});

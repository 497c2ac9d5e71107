// Local or remote is an engine's property (issue 15): which engines are remote, as resolved from
// BERTH_ENGINES / the config file / BERTH_REMOTE, and the remote settings the runner applies to
// every remote engine. Pure resolution (no engine is contacted); the behaviour per engine is
// tested for real in test/remote/flow.test.ts and test/remote/mixed.test.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { EngineSet } from '../../docker/engines.js';
import { DEFAULT_MAX_BUNDLE_BYTES, remoteSettings } from '../../runner/session/remote.js';
import { BerthError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-remote-flag-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
/** An environment with no config file, so only what the test sets counts. */
const env = (vars: Record<string, string>): NodeJS.ProcessEnv => ({ BERTH_CONFIG: join(dir, 'none.yaml'), ...vars });
const flags = (set: EngineSet) => set.engines.map((e) => [e.id, e.remote]);

it('BERTH_REMOTE (or the runner option) declares the single default engine remote', () => {
  expect(flags(EngineSet.resolve(env({})))).toEqual([['default', false]]);
  expect(flags(EngineSet.resolve(env({ BERTH_REMOTE: '1' })))).toEqual([['default', true]]);
  expect(flags(EngineSet.resolve(env({ BERTH_REMOTE: 'true' })))).toEqual([['default', true]]);
  // Runner.create({ remote }) passes its flag: it wins over the environment.
  expect(flags(EngineSet.resolve(env({ BERTH_REMOTE: '1' }), false))).toEqual([['default', false]]);
  expect(flags(EngineSet.resolve(env({}), true))).toEqual([['default', true]]);
});

it('configured engines carry their own flag: ssh:// and tcp:// remote, a unix socket local unless declared', () => {
  const list = [
    { id: 'sock', host: 'unix:///var/run/docker.sock' },
    { id: 'declared', host: '/var/run/docker.sock', remote: true },
    { id: 'over-ssh', host: 'ssh://root@127.0.0.1:22' },
    { id: 'over-tcp', host: 'tcp://127.0.0.1:2375' },
    { id: 'ssh-local', host: 'ssh://root@127.0.0.1:2222', remote: false },
  ];
  const expected = [
    ['sock', false],
    ['declared', true],
    ['over-ssh', true],
    ['over-tcp', true],
    ['ssh-local', false],
  ];
  expect(flags(EngineSet.resolve(env({ BERTH_ENGINES: JSON.stringify(list) })))).toEqual(expected);
  // BERTH_REMOTE and the runner's flag are about the single default engine: configured ones ignore them.
  expect(flags(EngineSet.resolve(env({ BERTH_ENGINES: JSON.stringify(list), BERTH_REMOTE: '1' }), true))).toEqual(expected);
});

it('the remote settings apply to every remote engine and are validated once', () => {
  expect(remoteSettings(undefined, {})).toEqual({ maxBundleBytes: DEFAULT_MAX_BUNDLE_BYTES });
  expect(remoteSettings(undefined, { BERTH_REMOTE_MAX_BUNDLE_BYTES: '1024' })).toEqual({ maxBundleBytes: 1024 });
  expect(remoteSettings({ maxBundleBytes: 7 }, { BERTH_REMOTE_MAX_BUNDLE_BYTES: '1024' })).toEqual({ maxBundleBytes: 7 });
  // Resolved even when no engine is remote yet (false only means the default engine is local).
  expect(remoteSettings(false, {})).toEqual({ maxBundleBytes: DEFAULT_MAX_BUNDLE_BYTES });
  expect(() => remoteSettings(undefined, { BERTH_REMOTE_MAX_BUNDLE_BYTES: 'lots' })).toThrow(BerthError);
});

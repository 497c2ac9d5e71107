// docker/client-lazy.ts defers dockerode's gRPC (BuildKit session) and ssh2 (ssh:// transport)
// modules to their first use. Checked in a fresh Node process (this one may have loaded them
// already through another suite's import): loading berth's Docker client must not load them, and
// both deferred entry points must still work when called: an ssh:// client reaches a real (closed)
// loopback port through ssh2, and the session helper forwards to the real one.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const CHILD = `
import { createRequire } from 'node:module';
import { docker, dockerClient } from './docker/client.js';
const require = createRequire(import.meta.url);
const heavy = () => Object.keys(require.cache).filter((k) => /node_modules\\/(@grpc|protobufjs|ssh2)\\//.test(k)).map((k) => k.replace(/.*node_modules\\//, '').split('/')[0]);
const out = { atLoad: heavy().length };
out.engine = (await docker().version()).ApiVersion !== undefined;
// ssh:// to a loopback port that closes at once: ssh2 must load and fail the handshake.
const client = dockerClient({ protocol: 'ssh', host: '127.0.0.1', port: Number(process.argv[1]), username: 'nobody', sshOptions: { readyTimeout: 5000 } });
out.sshError = await client.ping().then(() => 'none', (e) => String(e?.code ?? e?.level ?? e?.message));
out.afterSsh = heavy().filter((p) => p === 'ssh2').length > 0;
const session = require(createRequire(require.resolve('dockerode')).resolve('./session.js'));
out.sessionErr = await new Promise((r) => session({ modem: { dial: (_o, cb) => cb(new Error('dial refused')) } }, undefined, (err) => r(err?.message)));
out.afterSession = heavy().some((p) => p === '@grpc');
console.log(JSON.stringify(out));
`;

describe('dockerode extras load on first use', () => {
  it('loading the client skips gRPC and ssh2; ssh:// and the BuildKit session still work when used', async () => {
    // A port that accepts and closes: a real ssh2 handshake failure, no ssh server needed.
    const server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      // Async: this process must keep accepting on the port while the child runs.
      const { stdout: raw } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD, String(port)], {
        cwd: ROOT,
        encoding: 'utf8',
      });
      const out = JSON.parse(raw.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
      expect(out.atLoad).toBe(0);
      expect(out.engine).toBe(true);
      expect(out.sshError).not.toBe('none');
      expect(out.afterSsh).toBe(true);
      expect(out.sessionErr).toBe('dial refused');
      expect(out.afterSession).toBe(true);
    } finally {
      server.close();
    }
  });
});

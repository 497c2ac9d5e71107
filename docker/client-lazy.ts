/**
 * Keeps dockerode's rarely used transports out of memory until they are used (issue 14: an idle
 * runner's RSS). dockerode 5 requires, at load time, its BuildKit session support (@grpc/grpc-js,
 * @grpc/proto-loader, protobufjs: only for `buildImage({version: '2'})`, which berth never asks
 * for) and docker-modem requires ssh2 (only for ssh:// engines). Together they are ~20 MiB of a
 * runner that talks to a unix socket.
 *
 * We cannot edit node_modules, so before dockerode loads we put a stand-in for each of those two
 * CommonJS files into require's cache: a function with the same signature that loads the real file
 * on its first call and forwards to it. Both files export exactly one function, so the stand-in is
 * indistinguishable to its caller.
 *
 * Import this module before 'dockerode' (client.ts and engines-client.ts do): ES modules run in
 * import order, and a CommonJS module imported statically runs in its turn.
 */
import { createRequire, Module } from 'node:module';

const require = createRequire(import.meta.url);

type Fn = (...args: unknown[]) => unknown;

/** Seed require's cache at `path` with a function that loads and calls the real module on first use. */
function defer(path: string): void {
  if (require.cache[path]?.loaded) return;
  let real: Fn | undefined;
  const load = (): Fn => {
    if (!real) {
      // Drop the stand-in so require reads the real file (and caches it in our place).
      if (require.cache[path]?.exports === stub) delete require.cache[path];
      real = require(path) as Fn;
    }
    return real;
  };
  const stub = function deferred(this: unknown, ...args: unknown[]): unknown {
    return load().apply(this, args);
  };
  const m = new Module(path);
  m.filename = path;
  m.loaded = true;
  m.exports = stub;
  require.cache[path] = m;
}

/** dockerode's own files, resolved the way dockerode resolves them (realpaths, like require's cache keys). */
function deferDockerodeExtras(): void {
  let dockerode: string;
  try {
    dockerode = require.resolve('dockerode');
  } catch {
    return; // not installed: the import of dockerode itself reports it
  }
  // Already run with the real files: too late, and harmless. (Node's ESM loader registers a module
  // it will run in the cache early, not yet `loaded`: that one is still ahead of us.)
  if (require.cache[dockerode]?.loaded) return;
  const fromDockerode = createRequire(dockerode);
  for (const [req, spec] of [
    [fromDockerode, './session.js'], // withSession(docker, auth, handler): BuildKit over gRPC
    [createRequire(fromDockerode.resolve('docker-modem')), './ssh.js'], // ssh(opts) -> http.Agent over ssh2
  ] as const) {
    try {
      defer(req.resolve(spec));
    } catch {
      // A future dockerode without that file: nothing to defer.
    }
  }
}

deferDockerodeExtras();

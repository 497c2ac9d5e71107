/**
 * `berth mcp`: build the Runner for --repo, serve the tools on stdio (default) or Streamable HTTP,
 * to 2025-era clients (SDK v1, `initialize`) and 2026-07-28 clients (SDK v2, stateless) alike,
 * and shut down cleanly. Resolves with the process exit code once everything is closed.
 *
 * Shutdown (stdin EOF in stdio mode, SIGTERM, SIGINT, or the client transport closing):
 *   1. new tool calls are refused and in-flight ones are aborted (running commands are killed,
 *      pipeline containers removed), waiting up to IN_FLIGHT_GRACE_MS for them to finish;
 *   2. the transport closes;
 *   3. the runner stops every session container it opened (stopped, not removed: the next
 *      `berth mcp` resumes them), bounded by SHUTDOWN_TIMEOUT_MS in all.
 * A second SIGINT during shutdown exits at once; a SIGTERM then lets the bounded cleanup finish.
 */
import { assertValidName } from '../../src/workspace/index.js';
import { createLogger, type LogLevel } from '../../src/log.js';
import { Runner } from '../session/index.js';
import { createLifecycle, type McpRunner, type ServerDeps } from './deps.js';
import { chooseToken, isLoopback, parseListen, serveHttp } from './http.js';
import { MODERN_REVISION } from './revisions/era.js';
import { StdioRouter } from './revisions/stdio-router.js';
import { createServer, legacyServer } from './server.js';
import { BoundedStdioServerTransport } from './stdio.js';

const IN_FLIGHT_GRACE_MS = 8_000;
const SHUTDOWN_TIMEOUT_MS = 20_000;

export interface McpMainOptions {
  /** Path inside the user's repository. */
  readonly repo: string;
  readonly workspace?: string;
  readonly logLevel: LogLevel;
  /** `HOST:PORT`, `:PORT` or `PORT`: serve Streamable HTTP instead of stdio. */
  readonly http?: string;
  /** Bearer token for HTTP mode (else BERTH_MCP_TOKEN, else generated). */
  readonly token?: string;
  /** HTTP mode: close a client session after this long without a request (default 15 min). */
  readonly idleTimeoutMs?: number;
  /** HTTP mode: host names besides loopback and the bound address that clients may use (Host / Origin). */
  readonly allowedHosts?: readonly string[];
  readonly version: string;
  /** Lines for a human (listen address, token, warnings): always shown, whatever the log level. */
  readonly notice?: (line: string) => void;
}

export async function runMcp(opts: McpMainOptions): Promise<number> {
  const logger = createLogger({ level: opts.logLevel });
  const notice = opts.notice ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (opts.workspace !== undefined) assertValidName(opts.workspace);
  // Validate the HTTP settings before touching the repository or Docker.
  const listen = opts.http === undefined ? undefined : parseListen(opts.http);
  const auth = listen ? chooseToken(opts.token, process.env.BERTH_MCP_TOKEN) : undefined;
  if (!listen) guardStdout();

  // reconcile=false: start serving even when Docker is down (tools then report DOCKER_UNAVAILABLE
  // with a remedy); orphans are reaped in the background below.
  const runner = await Runner.create({ repo: opts.repo, logger, reconcile: false });
  const controller = new AbortController();
  const lifecycle = createLifecycle(controller.signal);
  const deps: ServerDeps = {
    runner: runner satisfies McpRunner,
    logger,
    lifecycle,
    version: opts.version,
    ...(opts.workspace === undefined ? {} : { workspace: opts.workspace }),
  };

  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  let closeTransport: () => Promise<void> = async () => undefined;
  let shuttingDown = false;

  const shutdown = (reason: string): void => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info('shutting down', { reason });
    const hardStop = setTimeout(() => {
      logger.warn(`shutdown took longer than ${SHUTDOWN_TIMEOUT_MS / 1000}s; exiting anyway (containers may still be running: berth ws list)`);
      resolveDone(0);
    }, SHUTDOWN_TIMEOUT_MS);
    hardStop.unref();
    void (async () => {
      controller.abort(new Error(`berth mcp is shutting down (${reason})`));
      if (!(await lifecycle.settled(IN_FLIGHT_GRACE_MS))) logger.warn('some tool calls did not finish after being cancelled');
      await closeTransport().catch((err: unknown) => logger.warn('closing the transport failed', { error: String(err) }));
      await runner.close().catch((err: unknown) => logger.warn('stopping session containers failed', { error: String(err) }));
      clearTimeout(hardStop);
      resolveDone(0);
    })();
  };

  const onSignal = (sig: NodeJS.Signals) => {
    if (!shuttingDown) return shutdown(sig);
    // Clients commonly follow a stdin close with SIGTERM after a short grace: let the bounded
    // cleanup finish. A second Ctrl-C is a person who does not want to wait.
    if (sig === 'SIGINT') {
      notice('berth mcp: interrupted again, exiting without waiting for cleanup (containers may keep running: berth ws list)');
      resolveDone(130);
    } else {
      logger.info(`${sig} during shutdown; still stopping containers`);
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    if (listen && auth) {
      const http = await serveHttp({
        listen,
        token: auth.token,
        createServer: () => createServer(deps),
        createModernServer: async () => (await import('./revisions/modern.js')).createModernServer(deps),
        logger,
        ...(opts.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: opts.idleTimeoutMs }),
        ...(opts.allowedHosts === undefined ? {} : { allowedHosts: opts.allowedHosts }),
      });
      closeTransport = () => http.close();
      if (!isLoopback(http.address.host)) {
        notice(
          `berth mcp: WARNING: listening on ${http.address.host}, which is reachable from other machines. Anyone with the token can run ` +
            'commands in your workspaces, and plain HTTP is not encrypted: use it only on a trusted network or behind TLS.',
        );
      }
      notice(`berth mcp: listening on ${http.url}`);
      if (auth.generated) notice(`berth mcp: token ${auth.token} (clients send "Authorization: Bearer <token>"; set --token or BERTH_MCP_TOKEN to choose one)`);
    } else {
      // The first message picks the revision: 2025-era (SDK v1) or 2026-07-28 (SDK v2).
      const router = new StdioRouter({
        wire: new BoundedStdioServerTransport({ onRefused: (reason) => logger.warn('refused a message on stdin', { reason }) }),
        createLegacy: () => legacyServer(deps),
        lifecycle,
        // SDK v2 loads only when a 2026-07-28 client connects (era.ts).
        createModern: async () => (await import('./revisions/modern.js')).createModernServer(deps),
        onEra: (era) => logger.info('MCP client connected', { revision: era === 'modern' ? MODERN_REVISION : '2025-06-18/2025-11-25' }),
        onerror: (err) => logger.warn('stdio transport error', { error: err.message }),
      });
      closeTransport = () => router.close();
      // The SDK transport does not watch for EOF: a client that closes our stdin is gone.
      process.stdin.once('end', () => shutdown('stdin closed'));
      process.stdin.once('close', () => shutdown('stdin closed'));
      process.stdout.once('error', (err) => shutdown(`stdout failed: ${err.message}`));
      await router.start();
      logger.info('serving MCP on stdio', { repo: runner.repo.path, ...(opts.workspace ? { workspace: opts.workspace } : {}) });
    }
    void lifecycle.track(runner.gc()).catch((err: unknown) => logger.info('reaping containers of deleted workspaces failed', { error: String(err) }));
    return await done;
  } catch (err) {
    controller.abort();
    await runner.close().catch(() => undefined);
    throw err;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

/**
 * stdout is the JSON-RPC wire: a stray console.log from any library would corrupt it, so the
 * console's stdout methods are pointed at stderr for the life of the process.
 */
function guardStdout(): void {
  const toStderr = (...args: unknown[]) => console.error(...args);
  console.log = toStderr;
  console.info = toStderr;
  console.debug = toStderr;
}

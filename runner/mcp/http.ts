/**
 * Remote mode: the same tools over MCP Streamable HTTP
 * (https://modelcontextprotocol.io/specification/2025-06-18/basic/transports#streamable-http),
 * on node:http, for both revision eras on one endpoint:
 *   - 2025-06-18 / 2025-11-25 (SDK v1 clients): sessionful, the SDK's
 *     StreamableHTTPServerTransport (one transport + McpServer per client session);
 *   - 2026-07-28 (SDK v2 clients): stateless, one SDK v2 McpServer per request
 *     (revisions/http-modern.ts), chosen per POST by the protocol version the request carries.
 * All of them share the process's Runner.
 *
 * Every request must carry `Authorization: Bearer <token>`. The check runs before the body is read
 * and before any MCP object exists, so a missing or wrong token gets 401 and nothing runs. Tokens
 * are compared as SHA-256 digests with timingSafeEqual: constant time, and no length leak.
 * Loopback is the default bind; anything else is announced with a loud warning, because whoever
 * holds the token can run commands in the workspaces and the traffic is plain HTTP.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { BerthError, isBerthError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { createHostGuard, isLoopback } from './http-guard.js';
import { mayBeModern } from './revisions/era.js';
import type { McpServer as ModernMcpServer } from '@modelcontextprotocol/server';
import { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_SESSIONS, SessionTable } from './http-sessions.js';
import { MAX_MESSAGE_BYTES } from './limits.js';

export const MCP_PATH = '/mcp';
const MIN_TOKEN_CHARS = 16;

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** `HOST:PORT`, `[v6]:PORT`, `:PORT` or `PORT`; a missing host is 127.0.0.1. */
export function parseListen(spec: string): ListenAddress {
  const bad = (why: string) => new BerthError('BAD_INPUT', `--http ${JSON.stringify(spec)} ${why}: use HOST:PORT, :PORT or PORT, e.g. --http 127.0.0.1:8765`);
  let host: string;
  let portText: string;
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(spec);
  const v4 = /^([^:[\]]*):(\d{1,5})$/.exec(spec);
  if (v6) [host, portText] = [v6[1] as string, v6[2] as string];
  else if (v4) [host, portText] = [v4[1] || '127.0.0.1', v4[2] as string];
  else if (/^\d{1,5}$/.test(spec)) [host, portText] = ['127.0.0.1', spec];
  else throw bad('is not an address');
  const port = Number(portText);
  if (port > 65535) throw bad('has a port outside 0-65535');
  if (!isIP(host) && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(host)) throw bad('has an invalid host');
  return { host, port };
}

export { isLoopback };

/** The token to require: --token, else BERTH_MCP_TOKEN, else a fresh random one (`generated`). */
export function chooseToken(explicit: string | undefined, env: string | undefined): { token: string; generated: boolean } {
  const given = explicit ?? (env === undefined || env === '' ? undefined : env);
  if (given === undefined) return { token: randomBytes(32).toString('base64url'), generated: true };
  if (given.length < MIN_TOKEN_CHARS || /\s/.test(given)) {
    throw new BerthError(
      'BAD_INPUT',
      `the MCP token (from ${explicit !== undefined ? '--token' : 'BERTH_MCP_TOKEN'}) must be at least ${MIN_TOKEN_CHARS} characters without spaces: use a random one, e.g. \`openssl rand -base64 32\`, or leave it unset to get a generated token`,
    );
  }
  return { token: given, generated: false };
}

/** Constant-time check of an `Authorization` header against the token. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  const given = m?.[1] ?? '';
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b) && given !== '';
}

export interface HttpServeOptions {
  readonly listen: ListenAddress;
  readonly token: string;
  /** A fresh 2025-era McpServer (SDK v1) per client session. */
  readonly createServer: () => McpServer;
  /** A fresh 2026-07-28 McpServer (SDK v2) per request; without it that revision is not served. */
  readonly createModernServer?: () => ModernMcpServer | Promise<ModernMcpServer>;
  readonly logger: Logger;
  /** Close a session after this long without a request (default 15 min). */
  readonly idleTimeoutMs?: number;
  /** Concurrent sessions; a new one evicts the longest-idle session when full (default 64). */
  readonly maxSessions?: number;
  /** Extra host names (Host header, Origin) that mean this server, besides loopback and the bound address. */
  readonly allowedHosts?: readonly string[];
}

export interface HttpHandle {
  readonly url: string;
  readonly address: ListenAddress;
  close(): Promise<void>;
}

export async function serveHttp(opts: HttpServeOptions): Promise<HttpHandle> {
  const { logger, token } = opts;
  const sessions = new SessionTable({
    idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    maxSessions: opts.maxSessions ?? DEFAULT_MAX_SESSIONS,
    logger,
  });
  const guard = createHostGuard({ listenHost: opts.listen.host, ...(opts.allowedHosts ? { allowedHosts: opts.allowedHosts } : {}) });
  // Loaded here, not at import, so CLI commands never pay for SDK v2; and in the background, so
  // neither listening nor 2025-era requests wait for it.
  const createModern = opts.createModernServer;
  const modernLoad = createModern ? import('./revisions/http-modern.js').then((m) => m.createModernHttp({ createServer: createModern, logger })) : undefined;
  modernLoad?.catch((err: unknown) => logger.error('loading the MCP 2026-07-28 server failed', { error: String(err) }));

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // DNS rebinding: refused before the token is even looked at (http-guard.ts).
    if (!guard.hostAllowed(header(req, 'host'))) {
      logger.warn('rejected an MCP request for a foreign Host', { host: header(req, 'host') ?? '' });
      return reply(
        req,
        res,
        421,
        rpcError(-32000, 'misdirected request: the Host header does not name this server (use 127.0.0.1 or localhost, or start berth mcp with --allow-host)'),
      );
    }
    if (!guard.originAllowed(header(req, 'origin'))) {
      logger.warn('rejected an MCP request from a foreign Origin', { origin: header(req, 'origin') ?? '' });
      return reply(req, res, 403, rpcError(-32000, 'forbidden: requests from web pages of other sites are refused (allow a host with --allow-host)'));
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== MCP_PATH) return reply(req, res, 404, rpcError(-32000, `not found: the MCP endpoint is ${MCP_PATH}`));
    if (!bearerMatches(req.headers.authorization, token)) {
      logger.warn('rejected an MCP request without a valid bearer token', { remote: req.socket.remoteAddress ?? '?' });
      res.setHeader('WWW-Authenticate', 'Bearer realm="berth"');
      return reply(
        req,
        res,
        401,
        rpcError(-32001, 'unauthorized: send Authorization: Bearer <token> (printed by berth mcp, or set with --token / BERTH_MCP_TOKEN)'),
      );
    }
    const sid = header(req, 'mcp-session-id');
    const existing = sid === undefined ? undefined : sessions.get(sid);

    if (req.method === 'POST') {
      let body: unknown;
      try {
        body = await readJson(req);
      } catch (err) {
        const tooLarge = isBerthError(err, 'FILE_TOO_LARGE');
        return reply(
          req,
          res,
          tooLarge ? 413 : 400,
          rpcError(-32700, tooLarge ? `request body over ${MAX_MESSAGE_BYTES} bytes` : 'parse error: the body is not JSON'),
        );
      }
      // 2026-07-28 requests carry their revision in every message and have no session.
      if (modernLoad && mayBeModern(header(req, 'mcp-protocol-version'), body, SUPPORTED_PROTOCOL_VERSIONS)) {
        const modern = await modernLoad;
        if (await modern.isModern(req, body)) return modern.serve(req, res, body);
      }
      if (sid !== undefined && !existing) return reply(req, res, 404, rpcError(-32001, 'session not found: start a new session (initialize)'));
      if (existing) {
        sessions.track(existing, closed(res));
        return existing.transport.handleRequest(req, res, body);
      }
      if (!isInitializeRequest(body))
        return reply(req, res, 400, rpcError(-32000, 'bad request: no mcp-session-id header, and the body is not an initialize request'));
      if (!sessions.makeRoom())
        return reply(req, res, 503, rpcError(-32000, `too many MCP sessions, all busy (${sessions.size}): retry later or close some clients`));
      const server = opts.createServer();
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          sessions.add(id, transport, server);
          logger.info('MCP session started', { session: id });
        },
      });
      transport.onclose = () => {
        const id = transport.sessionId;
        if (id !== undefined && sessions.delete(id)) logger.info('MCP session closed', { session: id });
      };
      await server.connect(transport);
      return transport.handleRequest(req, res, body);
    }
    if (sid !== undefined && !existing) return reply(req, res, 404, rpcError(-32001, 'session not found: start a new session (initialize)'));
    if (req.method === 'GET' || req.method === 'DELETE') {
      if (!existing) return reply(req, res, 400, rpcError(-32000, 'bad request: mcp-session-id header required'));
      sessions.track(existing, closed(res));
      return existing.transport.handleRequest(req, res);
    }
    res.setHeader('Allow', 'GET, POST, DELETE');
    return reply(req, res, 405, rpcError(-32000, `method ${req.method ?? '?'} not allowed`));
  };

  const http = createHttpServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.error('HTTP request failed', { error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      if (!res.headersSent) reply(req, res, 500, rpcError(-32603, 'internal error'));
      else res.end();
    });
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        new BerthError(
          'BAD_INPUT',
          `cannot listen on ${opts.listen.host}:${opts.listen.port}: ${err.code ?? err.message}${err.code === 'EADDRINUSE' ? ' (the port is taken: pick another, or 0 for a free one)' : ''}`,
          { cause: err },
        ),
      );
    };
    http.once('error', onError);
    http.listen(opts.listen.port, opts.listen.host, () => {
      http.off('error', onError);
      resolve();
    });
  });
  const addr = http.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.listen.port;
  const shownHost = opts.listen.host.includes(':') ? `[${opts.listen.host}]` : opts.listen.host;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}${MCP_PATH}`,
    address: { host: opts.listen.host, port },
    close() {
      closing ??= (async () => {
        await Promise.all([sessions.closeAll(), modernLoad?.then((m) => m.close()).catch(() => undefined)]);
        await new Promise<void>((resolve) => {
          http.close(() => resolve());
          http.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}

/** Settles when the response is finished or its connection dropped (SSE streams included). */
function closed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => res.once('close', () => resolve()));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_MESSAGE_BYTES) throw new BerthError('FILE_TOO_LARGE', `request body over ${MAX_MESSAGE_BYTES} bytes`);
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function rpcError(code: number, message: string): unknown {
  return { jsonrpc: '2.0', error: { code, message }, id: null };
}

function reply(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
  // Discard an unread request body so the connection stays usable; nothing in it is looked at.
  // After an oversized body, drop the connection instead of reading the rest.
  req.resume();
  res.writeHead(status, { 'Content-Type': 'application/json', ...(status === 413 ? { Connection: 'close' } : {}) });
  res.end(JSON.stringify(body));
}

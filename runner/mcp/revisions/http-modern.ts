/**
 * The 2026-07-28 leg of `berth mcp --http`: stateless, one McpServer (SDK v2) per request from
 * the SDK's createMcpHandler, in strict mode (`legacy: 'reject'`), because 2025-era traffic keeps
 * its sessionful SDK v1 wiring in http.ts. The era of a request is decided by the SDK's own
 * classifier (isLegacyRequest: the per-request `_meta` envelope / MCP-Protocol-Version header),
 * so berth's routing can never disagree with the SDK about which leg answers.
 *
 * http.ts runs the guard (Host, Origin, bearer token) and reads the bounded body before anything
 * here is called: an unauthorized request never reaches this module.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createMcpHandler, isLegacyRequest, type McpServer } from '@modelcontextprotocol/server';
import type { Logger } from '../../../src/log.js';
import { MAX_MESSAGE_BYTES } from '../limits.js';

export interface ModernHttp {
  /** Whether the SDK routes this POST (already parsed into `body`) to the 2026-07-28 leg. */
  isModern(req: IncomingMessage, body: unknown): Promise<boolean>;
  /** Answer one request on the modern leg (streams SSE when the tool sends progress). */
  serve(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void>;
  /** Abort in-flight modern exchanges. */
  close(): Promise<void>;
}

export function createModernHttp(opts: { createServer: () => McpServer | Promise<McpServer>; logger: Logger }): ModernHttp {
  const handler = createMcpHandler(() => opts.createServer(), {
    legacy: 'reject',
    maxRequestBodySize: MAX_MESSAGE_BYTES,
    onerror: (err) => opts.logger.debug('MCP 2026-07-28 request refused or failed', { error: err.message }),
  });
  return {
    isModern: async (req, body) => !(await isLegacyRequest(toWebRequest(req), body, { maxRequestBodySize: MAX_MESSAGE_BYTES })),
    serve: async (req, res, body) => {
      // A client that disconnects mid-call cancels the call (the SDK aborts the tool's signal).
      const abort = new AbortController();
      res.once('close', () => {
        if (!res.writableFinished) abort.abort();
      });
      const response = await handler.fetch(toWebRequest(req, abort.signal), { parsedBody: body });
      await writeResponse(response, res);
    },
    close: () => handler.close(),
  };
}

/** A body-less web Request carrying the node request's method, URL and headers (the body is passed parsed). */
function toWebRequest(req: IncomingMessage, signal?: AbortSignal): Request {
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string);
  const url = new URL(req.url ?? '/', `http://${headers.get('host') ?? 'localhost'}`);
  return new Request(url, { method: req.method ?? 'POST', headers, ...(signal ? { signal } : {}) });
}

async function writeResponse(response: Response, res: ServerResponse): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, key) => (headers[key] = value));
  res.writeHead(response.status, headers);
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  res.once('close', () => void reader.cancel().catch(() => undefined));
  for (;;) {
    const { done, value } = await reader.read().catch(() => ({ done: true as const, value: undefined }));
    if (done) break;
    if (!res.write(value)) await new Promise<void>((resolve) => res.once('drain', resolve).once('close', resolve));
  }
  res.end();
}

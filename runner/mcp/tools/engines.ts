import { z } from 'zod';
import { defineTool } from '../tool.js';

const Engine = z.object({
  id: z.string(),
  endpoint: z.string(),
  remote: z.boolean(),
  up: z.boolean(),
  product: z.string().nullable(),
  version: z.string().nullable(),
  error: z.string().nullable(),
  sessions: z.number().nullable(),
  maxSessions: z.number().nullable(),
  free: z.number().nullable(),
});

export const engines = defineTool({
  name: 'engines',
  title: 'Show Docker engines',
  description:
    'Show the Docker engines berth places workspaces on: whether each answers, its version, how many sessions it holds and how many it ' +
    'can still take. Use it when a workspace fails with ENGINE_UNAVAILABLE, to see which engine is down (its workspaces come back when ' +
    'it does; workspaces on other engines keep working).',
  scope: 'repo',
  input: {},
  output: { engines: z.array(Engine) },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },

  async run(_args, call) {
    const rows = (await call.deps.runner.engineStatus()).map((e) => ({
      id: e.id,
      endpoint: e.endpoint,
      remote: e.remote,
      up: e.health.ok,
      product: e.health.product,
      version: e.health.version,
      error: e.health.error,
      sessions: e.sessions,
      maxSessions: e.maxSessions,
      free: e.free,
    }));
    const lines = rows.map(
      (e) =>
        `${e.id} (${e.endpoint}${e.remote ? ', remote' : ''}): ` +
        (e.up
          ? `up, ${e.product ?? 'docker'} ${e.version ?? '?'}, ${e.sessions ?? '?'} sessions, ${e.maxSessions === null ? 'no limit' : `${e.free ?? '?'} free of ${e.maxSessions}`}`
          : `DOWN: ${e.error ?? 'no answer'}`),
    );
    return { text: lines.join('\n'), structured: { engines: rows } };
  },
});

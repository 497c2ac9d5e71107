/**
 * How tool outcomes reach the model. Success: a readable text block plus `structuredContent` that
 * matches the tool's output schema. Domain failures (BerthError / BerthError) become
 * `isError: true` results: the model reads them and corrects itself, so the text states what went
 * wrong and what to call next. Bad arguments never get here: the SDK validates them against the
 * input schema first.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { agentNextStep, isBerthError, type BerthError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';

export interface ToolReply<S> {
  readonly text: string;
  readonly structured: S;
}

export function successResult<S extends Record<string, unknown>>(reply: ToolReply<S>): CallToolResult {
  return { content: [{ type: 'text', text: reply.text }], structuredContent: reply.structured };
}

/** The next step for the model: the code table's, made specific where the details allow. */
function nextStep(err: BerthError, workspaceArg: boolean): string | undefined {
  if (err.code === 'EDIT_AMBIGUOUS') {
    const ids = matchIds(err.details);
    return `Call file_edit again with the same path and search plus matchId set to one of: ${ids.join(', ') || 'the IDs above'}; or make search longer so it occurs exactly once.`;
  }
  const step = agentNextStep(err);
  if (step && workspaceArg && (err.code === 'WORKSPACE_NOT_FOUND' || err.code === 'NOT_FOUND' || err.code === 'WORKSPACE_EXISTS')) {
    return step.replace(/\.$/, ' (pass its name as `workspace`).');
  }
  return step;
}

function matchIds(details: Readonly<Record<string, unknown>> | undefined): string[] {
  const matches = details?.matches;
  if (!Array.isArray(matches)) return [];
  return matches
    .map((m: unknown) => (m && typeof m === 'object' && typeof (m as { id?: unknown }).id === 'string' ? (m as { id: string }).id : undefined))
    .filter((id): id is string => id !== undefined)
    .slice(0, 20);
}

/**
 * An error as a tool result. berth's own errors keep their code and message and gain a next step;
 * anything else is a bug or an unexpected environment failure: logged with its stack, reported
 * without internals.
 */
export function errorResult(err: unknown, logger: Logger, opts: { tool: string; workspaceArg: boolean }): CallToolResult {
  if (isBerthError(err)) {
    const next = nextStep(err, opts.workspaceArg);
    logger.debug('tool failed', { tool: opts.tool, code: err.code });
    return { isError: true, content: [{ type: 'text', text: `${err.code}: ${err.message}${next ? `\nNext: ${next}` : ''}` }] };
  }
  const message = err instanceof Error ? err.message : String(err);
  logger.error('tool failed unexpectedly', { tool: opts.tool, error: err instanceof Error ? (err.stack ?? message) : message });
  return {
    isError: true,
    content: [
      {
        type: 'text',
        text: `INTERNAL: ${opts.tool} failed unexpectedly: ${message}\nNext: retry once; if it fails again, tell the user (details are in berth's log).`,
      },
    ],
  };
}

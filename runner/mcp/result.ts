/**
 * How tool outcomes reach the model. Success: a readable text block plus `structuredContent` that
 * matches the tool's output schema. Domain failures (BerthError / RunnerError) become
 * `isError: true` results: the model reads them and corrects itself, so the text states what went
 * wrong and what to call next. Bad arguments never get here: the SDK validates them against the
 * input schema first.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { isBerthError } from '../../src/errors.js';
import { isRunnerError } from '../errors.js';
import type { Logger } from '../log.js';

export interface ToolReply<S> {
  readonly text: string;
  readonly structured: S;
}

export function successResult<S extends Record<string, unknown>>(reply: ToolReply<S>): CallToolResult {
  return { content: [{ type: 'text', text: reply.text }], structuredContent: reply.structured };
}

/** The next step for the model, by error code; `undefined` when the message already says it all. */
function nextStep(code: string, details: Readonly<Record<string, unknown>> | undefined, workspaceArg: boolean): string | undefined {
  const ws = workspaceArg ? ' (pass its name as `workspace`)' : '';
  switch (code) {
    case 'EDIT_AMBIGUOUS': {
      const ids = matchIds(details);
      return `Call file_edit again with the same path and search plus matchId set to one of: ${ids.join(', ') || 'the IDs above'}; or make search longer so it occurs exactly once.`;
    }
    case 'EDIT_NO_MATCH':
      return 'Call file_read to see the current text, then retry file_edit with search copied exactly (whitespace and line breaks included).';
    case 'FILE_NOT_FOUND':
      return 'Check the path with file_list; paths are relative to the workspace root (or absolute under the container workdir).';
    case 'FILE_TOO_LARGE':
      return 'Read it in parts with startLine/endLine, or inspect it with exec (e.g. head, grep).';
    case 'PATH_OUTSIDE':
    case 'PATH_INVALID':
      return 'Use a path inside the workspace, relative to its root.';
    case 'PATH_PROTECTED':
      return 'That path is managed by berth (the worktree\'s .git); leave it alone and use checkpoint to commit.';
    case 'WORKSPACE_NOT_FOUND':
    case 'NOT_FOUND':
      return `Call workspace_list to see the workspaces, or workspace_create to make one${ws}.`;
    case 'WORKSPACE_EXISTS':
      return `Use the existing workspace${ws}, or call workspace_create with another name (or no name for a generated one).`;
    case 'INVALID_NAME':
      return 'Pick a name of lowercase letters, digits, ".", "_" or "-", or omit it to get a generated one.';
    case 'PROCESS_NOT_FOUND':
      return 'Call process_list to see the background processes of this workspace.';
    case 'SHELL_BUSY':
      return 'Another command is still running in that shell: wait for it, pass another shell name, or use fresh: true.';
    case 'SESSION_CLOSED':
    case 'CONTAINER_GONE':
    case 'CONTAINER_DIED':
      return 'Retry the call: berth reopens the workspace container on the next call (files in the worktree are intact).';
    case 'STEP_UNDEFINED':
      return 'The step is not defined in the berth.yaml of the user\'s checkout: run the command with exec instead, or ask the user to define the step.';
    case 'SPEC_YAML':
    case 'SPEC_INVALID':
      return 'The berth.yaml in the user\'s checkout is invalid: tell the user; you cannot fix it from the workspace.';
    case 'IMAGE_MISSING':
    case 'IMAGE_BUILD_FAILED':
      return 'The container image is not available: ask the user to run `berth images build` (or `berth doctor`).';
    case 'DOCKER_UNAVAILABLE':
      return 'Docker is not reachable: ask the user to start it (`berth doctor` shows what is wrong).';
    case 'LOCK_TIMEOUT':
      return 'Another berth process is working on this repository: retry in a few seconds.';
    case 'SETUP_FAILED':
      return 'The setup/install commands of berth.yaml failed; the output above says why. Tell the user if it is not something you changed.';
    case 'ABORTED':
      return 'The call was cancelled before it finished.';
    case 'BAD_INPUT':
      return 'Fix the argument named above and retry.';
    default:
      return undefined;
  }
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
  if (isBerthError(err) || isRunnerError(err)) {
    const next = nextStep(err.code, err.details, opts.workspaceArg);
    logger.debug('tool failed', { tool: opts.tool, code: err.code });
    return { isError: true, content: [{ type: 'text', text: `${err.code}: ${err.message}${next ? `\nNext: ${next}` : ''}` }] };
  }
  const message = err instanceof Error ? err.message : String(err);
  logger.error('tool failed unexpectedly', { tool: opts.tool, error: err instanceof Error ? (err.stack ?? message) : message });
  return {
    isError: true,
    content: [{ type: 'text', text: `INTERNAL: ${opts.tool} failed unexpectedly: ${message}\nNext: retry once; if it fails again, tell the user (details are in berth's log).` }],
  };
}

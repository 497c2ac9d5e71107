import { describe, expect, it } from 'vitest';
import { BerthError, ERROR_CODES, agentNextStep, asBerthError, errorJson, isBerthError } from '../../src/errors.js';
import { exitCodeFor, EXIT } from '../../runner/cli/output.js';

describe('the one error class and its code table', () => {
  it('gives every code a kind and a remedy', () => {
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      expect(info.kind, code).toMatch(/^(input|not_found|conflict|environment|failed|cancelled|internal)$/);
      expect(info.remedy.length, code).toBeGreaterThan(5);
    }
  });

  it('renders one JSON shape with code, message, remedy and details', () => {
    const err = new BerthError('WORKSPACE_NOT_FOUND', 'workspace "x" does not exist', { details: { name: 'x' } });
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      code: 'WORKSPACE_NOT_FOUND',
      message: 'workspace "x" does not exist',
      remedy: ERROR_CODES.WORKSPACE_NOT_FOUND.remedy,
      details: { name: 'x' },
    });
    expect(errorJson(new Error('boom'))).toEqual({ code: 'INTERNAL', message: 'boom', remedy: ERROR_CODES.INTERNAL.remedy });
  });

  it('lets a throw site override the remedy and keeps the cause', () => {
    const cause = new Error('root');
    const err = new BerthError('BAD_INPUT', 'bad', { remedy: 'do this', cause });
    expect(err.remedy).toBe('do this');
    expect(err.cause).toBe(cause);
    expect(asBerthError(err)).toBe(err);
    expect(isBerthError(asBerthError('x'), 'INTERNAL')).toBe(true);
  });

  it('maps kinds to CLI exit codes and codes to agent next steps', () => {
    expect(exitCodeFor(new BerthError('DOCKER_UNAVAILABLE', 'no docker'))).toBe(EXIT.environment);
    expect(exitCodeFor(new BerthError('IMAGE_MISSING', 'no image'))).toBe(EXIT.environment);
    expect(exitCodeFor(new BerthError('STORAGE_ERROR', 's3'))).toBe(EXIT.error);
    expect(exitCodeFor(new Error('x'))).toBe(EXIT.error);
    expect(agentNextStep(new BerthError('FILE_NOT_FOUND', 'x'))).toMatch(/file_list/);
    expect(agentNextStep(new BerthError('MERGE_CONFLICT', 'x'))).toBeUndefined();
  });
});

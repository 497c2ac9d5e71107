/**
 * The MCP command registry (runner/mcp/jobs.ts) keeps only what a client can still ask for: a
 * command exec answered in full (no handle given out) is released at once, while one answered
 * with a handle stays readable after it ends. Before, every exec left a job (and a copy of its
 * output) behind for 15 minutes, and every call swept them all.
 */
import { describe, expect, it } from 'vitest';
import { CommandJobs } from '../../runner/mcp/jobs.js';
import type { ExecResult } from '../../runner/session/index.js';

function result(stdout: string): ExecResult {
  return {
    stdout,
    stderr: '',
    exitCode: 0,
    durationMs: 1,
    truncated: false,
    stdoutBytes: stdout.length,
    stderrBytes: 0,
    timedOut: false,
    aborted: false,
    shellRestarted: false,
    shellEnded: false,
    cwd: '/workspace',
    shell: 'main',
    oomKilled: false,
    containerRestarted: false,
  };
}

describe('CommandJobs', () => {
  const never = new AbortController().signal;

  it('keeps no job for commands answered in full, however many ran', async () => {
    const jobs = new CommandJobs();
    for (let i = 0; i < 500; i++) {
      const job = jobs.start(
        { workspace: 'w', command: `echo ${i}`, mode: 'shell' },
        async (_s, onOutput) => {
          onOutput('stdout', `${i}\n`);
          return result(`${i}\n`);
        },
        never,
      );
      expect(await jobs.wait(job, 5_000, never)).toBe(true);
      expect(job.result?.stdout).toBe(`${i}\n`);
      jobs.release(job);
    }
    expect(jobs.size).toBe(0);
  });

  it('keeps a job whose handle was given out, readable after it ends; release does not drop a running one', async () => {
    const jobs = new CommandJobs();
    let finish!: (r: ExecResult) => void;
    const job = jobs.start({ workspace: 'w', command: 'sleep 100', mode: 'shell' }, () => new Promise((r) => (finish = r)), never);
    expect(await jobs.wait(job, 10, never)).toBe(false);
    // Still running: exec answers with the handle, and a stray release must not lose it.
    jobs.release(job);
    expect(jobs.get(job.handle, 'w')).toBe(job);
    finish(result('done\n'));
    expect(await jobs.wait(job, 5_000, never)).toBe(true);
    expect(jobs.get(job.handle, 'w').result?.stdout).toBe('done\n');
    expect(() => jobs.get(job.handle, 'other')).toThrow(/no command with handle/);
    expect(jobs.size).toBe(1);
  });
});

// The persistent shell's transports against a real local engine: the FIFO fast path
// (runner/session/shell-transport.ts) is the one taken, the attach stream still works when asked
// for, and a runner that dies (SIGKILL) leaves no shell behind: its end of the command FIFO was
// the only writer, so the shell reads EOF and exits as it did on the attach stream.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, expect, it } from 'vitest';
import type { ExecResult } from '../../runner/session/index.js';
import { describeDocker } from '../helpers/docker.js';
import { busyboxSpec, nodeSpec, sleep, useRunners } from './helpers.js';

const CHILD = join(import.meta.dirname, 'child-runner.ts');
/** Counts the shell's own fds that are the launcher's (unlinked) FIFOs. */
// 2>/dev/null: the shell's own pipeline fds come and go while ls reads the directory.
const FIFO_FDS = `ls -l /proc/$$/fd/ 2>/dev/null | grep -c 'io\\.[0-9]*\\.[ioe] (deleted)'`;
/** The shell's children while it runs this (builtins only, so the command adds none): relays or none. */
const CHILDREN = `read -r c </proc/$$/task/$$/children; set -- $c; echo "children=$#"`;

describeDocker('shell transport', () => {
  const { runner, fixture } = useRunners('berth-transport-');

  afterAll(() => {
    delete process.env.BERTH_SHELL_TRANSPORT;
  });

  for (const flavour of ['busybox', 'node'] as const) {
    it(`a local shell talks through its FIFOs (${flavour}), with the usual results`, async () => {
      const s = await (await runner(flavour === 'busybox' ? busyboxSpec() : nodeSpec())).open(`fifo-${flavour}`);
      const r = await s.exec(`${FIFO_FDS}; echo err >&2; cd /tmp; export T=1; exit_code() { return 7; }; exit_code`);
      expect(r).toMatchObject({ stdout: '3\n', stderr: 'err\n', exitCode: 7, cwd: '/tmp' });
      expect((await s.exec('echo "$T $PWD"')).stdout).toBe('1 /tmp\n');
      expect(s.shells()[0]).toMatchObject({ attached: true, bash: flavour === 'node' });
    });

    it(`a local shell's output reaches the runner with no relay process (${flavour})`, async () => {
      // Direct mode (protocol.ts): the runner reads the command FIFOs itself. A background job
      // still moves them to drainers (two children then), and the next pair is read directly.
      const s = await (await runner(flavour === 'busybox' ? busyboxSpec() : nodeSpec())).open(`direct-${flavour}`);
      expect((await s.exec(CHILDREN)).stdout).toBe('children=0\n');
      expect((await s.exec('(sleep 1.5; echo late-job) & echo started')).stdout).toBe('started\n');
      const next = await s.exec(`${CHILDREN}; echo err >&2`);
      expect(next).toMatchObject({ stdout: 'children=3\n', stderr: 'err\n' });
      await sleep(2000);
      expect(await s.backgroundLog()).toContain('late-job');
      expect((await s.exec(CHILDREN)).stdout).toBe('children=0\n');
    });

    it(`direct mode: a command's stderr is all its own, to the last byte, with no stderr records (${flavour})`, async () => {
      // The stderr FIFO carries no begin/end records in direct mode: the runner takes what it
      // holds at the stdout end record. A command that floods stderr and ends at once must lose
      // none of it, and interleaved lines must keep their order.
      const s = await (await runner(flavour === 'busybox' ? busyboxSpec() : nodeSpec())).open(`stderr-${flavour}`);
      const cmd = `i=0; while [ $i -lt 200 ]; do echo "o$i"; echo "e$i" >&2; i=$((i+1)); done; head -c 150000 /dev/zero | tr '\\0' x >&2`;
      const lines = Array.from({ length: 200 }, (_, i) => `e${i}\n`).join('');
      for (let k = 0; k < 5; k++) {
        const r = await s.exec(cmd);
        expect(r.stdout).toBe(Array.from({ length: 200 }, (_, i) => `o${i}\n`).join(''));
        expect(r.stderrBytes).toBe(lines.length + 150000);
        expect(r.stderr.startsWith(lines)).toBe(true);
        expect(r.stderr.slice(lines.length)).toBe('x'.repeat(150000));
      }
      // Stderr written last, after stdout was ready: the stdout end record can be read first.
      for (let k = 0; k < 100; k++) expect(await s.exec(`echo o${k}; echo e${k} >&2`)).toMatchObject({ stdout: `o${k}\n`, stderr: `e${k}\n` });
      // A background job's stderr after its command ended is not the next command's.
      expect((await s.exec('(sleep 0.3; echo LATE >&2) & echo started')).stdout).toBe('started\n');
      await sleep(800);
      expect(await s.exec('echo next')).toMatchObject({ stdout: 'next\n', stderr: '' });
    });
  }

  it('the env file is rewritten in place: a shorter save leaves no stale variable to restore', async () => {
    const s = await (await runner()).open('env-shrink');
    await s.exec(`export BIG=$(printf '%4000s' x | tr ' ' y) KEEP=1 && export "LATE=x; echo injected"`);
    await s.exec('unset BIG LATE; export SMALL=2');
    const r = await s.exec('kill -9 $$');
    expect(r.shellEnded).toBe(true);
    const next = await s.exec('echo "${#BIG} ${LATE-none} $KEEP $SMALL"');
    expect(next).toMatchObject({ shellRestarted: true, stdout: '0 none 1 2\n', stderr: '' });
  });

  it('BERTH_SHELL_TRANSPORT=attach keeps the shell on the attach stream', async () => {
    process.env.BERTH_SHELL_TRANSPORT = 'attach';
    try {
      const s = await (await runner()).open('attach-only');
      const r = await s.exec(`${FIFO_FDS}; ${CHILDREN}; echo err >&2; false`);
      // Over attach the shell's bytes leave through the exec's streams, copied by two relays.
      expect(r).toMatchObject({ stdout: '0\nchildren=2\n', stderr: 'err\n', exitCode: 1 });
    } finally {
      delete process.env.BERTH_SHELL_TRANSPORT;
    }
  });

  it('a SIGKILLed runner leaves no shell behind: the command FIFO reaches EOF', async () => {
    const fx = fixture();
    const proc = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        CHILD,
        JSON.stringify({
          repo: fx.repo,
          dataDir: fx.dataDir,
          labels: fx.labels,
          spec: busyboxSpec(),
          workspace: 'crashed',
          commands: [`echo $$; ${FIFO_FDS}`],
          hold: true,
        }),
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const exited = new Promise((resolve) => proc.on('close', resolve));
    const result = await new Promise<ExecResult>((resolve, reject) => {
      createInterface({ input: proc.stdout }).on('line', (line) => {
        const e = JSON.parse(line) as { event: string; result?: ExecResult };
        if (e.event === 'result' && e.result) resolve(e.result);
      });
      void exited.then(() => reject(new Error('the child runner exited before its result')));
    });
    const [pid, fifos] = result.stdout.trim().split('\n');
    expect(fifos).toBe('3');
    proc.kill('SIGKILL');
    await exited;

    const s = await (await runner()).open('crashed');
    let alive = '1';
    for (let i = 0; i < 50 && alive === '1'; i++) {
      // The new runner's shell is another process; the old one must be gone.
      alive = (await s.exec(`[ -d /proc/${pid} ] && echo 1 || echo 0`, { fresh: true })).stdout.trim();
      if (alive === '1') await sleep(100);
    }
    expect(alive).toBe('0');
  });
});

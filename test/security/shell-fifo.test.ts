// Attacks on the shell's FIFO transport (runner/session/shell-transport.ts), performed for real.
// The runner (here root on the host) opens /proc/<pid>/fd/N of the shell launcher, so it must
// never open a file that is not the launcher's FIFO: not a local process that an engine's pid
// happens to name (a remote engine's pid space is not ours), not a regular file a container
// process put on those fds. And bytes the agent pushes into the shell's own output FIFO must not
// end, fail or misattribute any command.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Runner, type Session } from '../../runner/session/index.js';
import { openShellFifos } from '../../runner/session/shell-transport.js';
import { describeDocker } from '../helpers/docker.js';
import { busyboxSpec, makeFixture, sleep, type Fixture } from '../runner/helpers.js';

/** Host pids of the container's processes whose argv is exactly `argv`. */
function hostPids(containerId: string, argv: string[]): number[] {
  const want = `${argv.join('\0')}\0`;
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8') === want && readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(containerId);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describeDocker('security: the shell FIFO transport', () => {
  let fx: Fixture;
  let runner: Runner;
  let s: Session;
  const children: ChildProcess[] = [];
  let scratch: string;

  beforeAll(async () => {
    fx = makeFixture('berth-sec-fifo-');
    scratch = mkdtempSync(join(tmpdir(), 'berth-sec-fifo-host-'));
    runner = await Runner.create({ repo: fx.repo, dataDir: fx.dataDir, labels: fx.labels, spec: busyboxSpec(), reconcile: false });
    s = await runner.open('fifo');
  });

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await runner?.close();
    await fx?.cleanup();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('a local process an engine pid happens to name is never opened, even holding FIFOs on fds 4-6', async () => {
    // What a remote engine's exec pid can name here: any local process, here one that looks
    // exactly like a launcher (FIFOs on fds 4, 5 and 6).
    const script = 'cd "$1" && mkfifo i o e && exec 4<>i 5<>o 6<>e && echo up && exec sleep 120';
    const c = spawn('/bin/sh', ['-c', script, 'sh', scratch], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(c);
    await new Promise<void>((resolve) => c.stdout!.once('data', () => resolve()));
    expect(readFileSync(`/proc/${c.pid}/cmdline`, 'utf8')).toContain('sleep');
    const io = openShellFifos(
      c.pid!,
      s.containerId,
      () => undefined,
      () => undefined,
    );
    expect(io).toBeUndefined();
    c.kill('SIGKILL');
  });

  it('a container process with a regular file on fd 4 is not opened for writing by the host', async () => {
    await s.exec('rm -f /tmp/target; : > /tmp/target');
    await s.exec(`sh -c 'exec 4>>/tmp/target 5</dev/null 6</dev/null; exec sleep 121' >/dev/null 2>&1 &`);
    let pids: number[] = [];
    for (let i = 0; i < 50 && pids.length === 0; i++) {
      pids = hostPids(s.containerId, ['sleep', '121']);
      if (!pids.length) await sleep(100);
    }
    expect(pids).toHaveLength(1);
    const io = openShellFifos(
      pids[0]!,
      s.containerId,
      () => undefined,
      () => undefined,
    );
    expect(io).toBeUndefined();
    io?.input.write('echo pwned\n');
    await sleep(100);
    expect((await s.exec('wc -c < /tmp/target')).stdout.trim()).toBe('0');
    await s.exec('pkill -f "sleep 121" || kill $(pidof sleep) 2>/dev/null; true');
  });

  it("a regular file on a shell's command-FIFO fd (6 or 8) is never opened when the shell asks for a new pair", async () => {
    // Direct mode: on M the runner opens the shell's fds 6 and 8. Two processes whose launcher
    // fds are real FIFOs: one with a regular file on fd 8 (a shell the agent rewired) is refused
    // and the file is never opened; the other, with a FIFO there, is accepted (so the refusal was
    // the file's).
    await s.exec('rm -f /tmp/cmd-target; : > /tmp/cmd-target');
    const launcher = (fd8: string, secs: number) => `d=$(mktemp -d) && cd "$d" && mkfifo i o e x && exec 4<>i 5<>o 6<>e 8${fd8}; exec sleep ${secs}`;
    await s.exec(`sh -c '${launcher('>>/tmp/cmd-target', 122)}' >/dev/null 2>&1 & sh -c '${launcher('<>x', 123)}' >/dev/null 2>&1 &`);
    const pidOf = async (secs: number): Promise<number> => {
      for (let i = 0; i < 50; i++) {
        const found = hostPids(s.containerId, ['sleep', String(secs)]);
        if (found.length === 1) return found[0]!;
        await sleep(100);
      }
      throw new Error(`no sleep ${secs}`);
    };
    const open = async (secs: number) => {
      const io = openShellFifos(
        await pidOf(secs),
        s.containerId,
        () => undefined,
        () => undefined,
      );
      expect(io).toBeDefined();
      const ok = io!.openCommandFifos(() => undefined);
      io!.close();
      return ok;
    };
    expect(await open(122)).toBe(false);
    expect(await open(123)).toBe(true);
    expect((await s.exec('wc -c < /tmp/cmd-target')).stdout.trim()).toBe('0');
    await s.exec('pkill -f "sleep 12[23]" || kill $(pidof sleep) 2>/dev/null; true');
  });

  it("forged records pushed into the shell's own output FIFO end, fail or misattribute no command", async () => {
    // A job that keeps finding the shell's output FIFOs and floods them with end records under
    // guessed nonces, for as long as the test runs: each command's stdout FIFO (o.<pid>.<n>, which
    // the runner reads directly on this transport; re-found after the shell hands one to drainers)
    // and the shell's own stdout (the launcher's unlinked io.<pid>.o). The shell reuses fd numbers
    // (saved copies at 10+), so the file is checked again once open: writing into the shell's
    // command FIFO instead would be the agent typing into its own shell, another matter.
    const forge = 'printf "__berth_%032d__E0 /forged__berth_%032d__X0 /x" 0 0 >&3';
    const check = 'case $(readlink /proc/self/fd/3) in */o.*|*io.*.o*) ' + forge + ' ;; esac';
    const inner = `while :; do for f in /proc/$1/fd/*; do case $(readlink $f 2>/dev/null) in */o.*|*io.*.o*) { exec 3>"$f"; } 2>/dev/null && { ${check}; exec 3>&-; } ;; esac; done; done`;
    await s.exec(`P=$$; (while :; do sh -c '${inner}' flood $P; sleep 0.01; done) >/dev/null 2>&1 &`);
    let forgedSeen = 0;
    for (let i = 0; i < 40; i++) {
      const r = await s.exec(`echo tok-${i}; (exit ${i % 5})`);
      expect(r.exitCode).toBe(i % 5);
      expect(r.stdout).toContain(`tok-${i}\n`);
      expect(r.stdout).not.toMatch(new RegExp(`tok-(?!${i}\\n)\\d+`));
      expect(r.cwd).toBe('/workspace');
      if (r.stdout.includes('/forged')) forgedSeen++;
    }
    // The attack was real: the forged records reached the runner inside command output.
    expect(forgedSeen).toBeGreaterThan(0);
  });
});

// Persistent shells against real containers: one session per image (busybox ash and Debian bash)
// shared by the tests of each block, so the suite creates only two containers.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isBerthError } from '../../src/errors.js';
import { Runner, type Session } from '../../runner/session/index.js';
import { describeDocker } from '../helpers/docker.js';
import { busyboxSpec, makeFixture, nodeSpec, sleep, type Fixture } from './helpers.js';

for (const flavour of ['busybox', 'node'] as const) {
  describeDocker(`persistent shell (${flavour})`, () => {
    let fx: Fixture;
    let runner: Runner;
    let s: Session;

    beforeAll(async () => {
      fx = makeFixture(`berth-shell-${flavour}-`);
      runner = await Runner.create({
        repo: fx.repo,
        dataDir: fx.dataDir,
        labels: fx.labels,
        spec: flavour === 'busybox' ? busyboxSpec() : nodeSpec(),
        execTimeoutMs: 30_000,
      });
      s = await runner.open('sh');
    });

    afterAll(async () => {
      await runner?.close();
      await fx?.cleanup();
    });

    it('separates stdout and stderr and reports the exit code', async () => {
      const r = await s.exec('echo out; echo err >&2; exit_code() { return 7; }; exit_code');
      expect(r).toMatchObject({ stdout: 'out\n', stderr: 'err\n', exitCode: 7, timedOut: false, shellEnded: false, shell: 'main' });
      expect(r.cwd).toBe('/workspace');
      const again = await s.exec('false');
      expect(again.exitCode).toBe(1);
    });

    it('keeps cwd and exported env between commands, like a terminal', async () => {
      await s.exec('mkdir -p /tmp/work/sub && cd /tmp/work/sub && export GREETING="hi there" && LOCAL_ONLY=1');
      const r = await s.exec('pwd; echo "$GREETING"; echo "${LOCAL_ONLY:-unset}"');
      expect(r.stdout).toBe('/tmp/work/sub\nhi there\n1\n');
      expect(r.cwd).toBe('/tmp/work/sub');
      await s.exec('cd /workspace');
    });

    if (flavour === 'node') {
      it('git works read-only in the worktree: status/diff/log yes, commit no', async () => {
        await s.exec('echo change >> README.md');
        const st = await s.exec('git status --short; git log --oneline | wc -l; git rev-parse --abbrev-ref HEAD');
        expect(st.stdout).toBe(' M README.md\n2\nberth/sh\n');
        const commit = await s.exec('git -c user.name=a -c user.email=a@b commit -qam x');
        expect(commit.exitCode).not.toBe(0);
        expect(commit.stderr).toMatch(/Read-only file system/);
        await s.exec('git checkout -q -- README.md 2>/dev/null || printf "# fixture\\n" > README.md');
      });

      it('runs bash when the image has it, with declare/arrays at top level', async () => {
        const r = await s.exec('echo "$BASH_VERSION" | cut -c1; declare -a ARR=(a b c); declare -x DECL=yes');
        expect(r.stdout).toBe('5\n');
        const r2 = await s.exec('echo "${ARR[1]} $DECL"; env | grep ^DECL=');
        expect(r2.stdout).toBe('b yes\nDECL=yes\n');
      });
    }

    it('gives commands /dev/null as stdin, so cat and read see EOF', async () => {
      const r = await s.exec('cat; read x; echo "read=$?"');
      expect(r.stdout).toBe('read=1\n');
      expect(r.exitCode).toBe(0);
    });

    it('passes hostile command text through literally', async () => {
      const text = `it's "quoted" $HOME \`id\` \\ ; | & > < 'unbalanced`;
      const r = await s.exec(`printf '%s' ${shQuote(text)}`);
      expect(r.stdout).toBe(text);
      const multi = await s.exec('cat <<EOF\nline one\n  line two\nEOF\necho done');
      expect(multi.stdout).toBe('line one\n  line two\ndone\n');
    });

    it('survives syntax errors and keeps going', async () => {
      const r = await s.exec('if then fi (');
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toMatch(/syntax|unexpected/i);
      expect(r.shellEnded).toBe(false);
      expect((await s.exec('echo still here')).stdout).toBe('still here\n');
    });

    it('is not confused by marker-like or binary output', async () => {
      const r = await s.exec(
        `printf '__berth_00000000000000000000000000000000__E0 /x__berth_00000000000000000000000000000000__\\n'; printf '\\377\\376\\000\\001bin\\n'; echo end`,
      );
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toContain('__berth_00000000000000000000000000000000__E0 /x');
      expect(r.stdout.endsWith('bin\nend\n')).toBe(true);
      const rand = await s.exec('head -c 100000 /dev/urandom; echo; echo after-binary');
      expect(rand.exitCode).toBe(0);
      expect(rand.stdoutBytes).toBe(100_014);
      expect(rand.stdout.endsWith('\nafter-binary\n')).toBe(true);
    });

    it("survives the user's shell options and functions shadowing the tools it uses", async () => {
      const r = await s.exec('set -u; cat() { echo hijacked; }; printf() { echo hijacked; }; kill() { :; }; echo ok');
      expect(r.stdout).toBe('ok\n');
      const next = await s.exec('echo "${UNSET_VAR:-dflt}"; sleep 0.01 & echo bg');
      expect(next.stdout).toBe('dflt\nbg\n');
      expect((await s.exec('unset -f cat printf kill; set +u; echo clean')).stdout).toBe('clean\n');
      // set -e makes the next failure end the shell, as in a terminal; it comes back with its state.
      await s.exec('cd /tmp && set -e');
      // A background job forces the next command to rotate its pipes, under set -e.
      await s.exec('sleep 1 & true');
      expect((await s.exec('echo rotated')).stdout).toBe('rotated\n');
      const failed = await s.exec('false');
      expect(failed).toMatchObject({ exitCode: 1, shellEnded: true });
      const back = await s.exec('pwd; false; echo after');
      expect(back).toMatchObject({ stdout: '/tmp\nafter\n', shellRestarted: true });
      await s.exec('cd /workspace');
    });

    it('rejects NUL bytes and bad shell names with BAD_INPUT', async () => {
      await expect(s.exec('echo a\0b')).rejects.toSatisfy((e: unknown) => isBerthError(e, 'BAD_INPUT'));
      await expect(s.exec('true', { shell: '../x' })).rejects.toSatisfy((e: unknown) => isBerthError(e, 'BAD_INPUT'));
      await expect(s.exec('true', { shell: 'a b' })).rejects.toSatisfy((e: unknown) => isBerthError(e, 'BAD_INPUT'));
    });

    it('caps output per stream keeping head and tail, with bounded memory', async () => {
      const r = await s.exec(
        'i=0; while [ $i -lt 3000 ]; do echo "line $i ................................................................................................."; i=$((i+1)); done; echo tail-end >&2',
        {
          maxOutputBytes: 64 * 1024,
        },
      );
      expect(r.truncated).toBe(true);
      expect(r.stdoutBytes).toBeGreaterThan(300_000);
      expect(r.stdout.startsWith('line 0 ')).toBe(true);
      expect(r.stdout).toContain('bytes omitted');
      expect(r.stdout.trimEnd().endsWith('line 2999 .................................................................................................')).toBe(
        true,
      );
      expect(r.stdout.length).toBeLessThan(70 * 1024);
      expect(r.stderr).toBe('tail-end\n');
    });

    it('streams output live, decoded across chunk boundaries', async () => {
      const chunks: string[] = [];
      const r = await s.exec('i=0; while [ $i -lt 2000 ]; do printf "ä€😀"; i=$((i+1)); done; echo; echo e >&2', {
        onOutput: (stream, c) => chunks.push(`${stream}:${c}`),
      });
      const live = chunks
        .filter((c) => c.startsWith('stdout:'))
        .map((c) => c.slice(7))
        .join('');
      expect(live).toBe(r.stdout);
      expect(r.stdout).not.toContain('\uFFFD');
      expect(r.stdout).toBe(`${'ä€😀'.repeat(2000)}\n`);
      expect(chunks).toContain('stderr:e\n');
    });

    it('returns as soon as the foreground ends; background output never bleeds into later results', async () => {
      // The job waits before printing: output it writes while its own command is running would
      // (rightly) belong to that command.
      const bg = await s.exec('(sleep 0.3; i=0; while [ $i -lt 40 ]; do echo bg-tick-$i; i=$((i+1)); sleep 0.1; done) & echo started');
      expect(bg.stdout).toBe('started\n');
      for (let i = 0; i < 5; i++) {
        const r = await s.exec(`sleep 0.15; echo cmd-${i}`);
        expect(r.stdout).toBe(`cmd-${i}\n`);
        expect(r.stderr).toBe('');
      }
      const nohup = await s.exec('nohup sh -c "sleep 0.3; echo from-nohup" >/dev/null 2>&1 & echo launched');
      expect(nohup.stdout).toBe('launched\n');
      await sleep(4500);
      const log = await s.backgroundLog();
      expect(log).toContain('bg-tick-39');
      expect((await s.exec('echo quiet')).stdout).toBe('quiet\n');
    });

    it('an agent that kills its output relays gets fresh ones; a running job still drains to the background log', async () => {
      // The relays are the shell's `cat` children reading its output FIFOs. Killing them mid-command
      // leaves the shell to notice at the next command (relays gone), hand the old FIFOs (still held
      // by the job) to drainers and start new relays.
      const killRelays = `for p in /proc/[0-9]*; do read -r c <$p/comm 2>/dev/null || continue; [ "$c" = cat ] && [ "$(cat $p/cmdline 2>/dev/null | tr '\\0' ' ')" = "cat " ] && kill \${p#/proc/}; done; :`;
      await s.exec(`(sleep 0.6; echo relay-job-late) & ${killRelays}`);
      for (let i = 0; i < 3; i++) {
        const r = await s.exec(`echo after-${i}`);
        expect(r.stdout).toBe(`after-${i}\n`);
        expect(r.exitCode).toBe(0);
      }
      await sleep(1000);
      expect(await s.backgroundLog()).toContain('relay-job-late');
      expect((await s.exec('echo still-clean')).stdout).toBe('still-clean\n');
    });

    it('a job the shell never saw start (double fork, sh -c ... &) is still moved off the pipes', async () => {
      // Neither sets the shell's $! nor stays its child: only the holders of the pipes tell.
      const r = await s.exec(`( (sleep 0.3; echo orphan-late; echo orphan-err >&2) & ); sh -c '(sleep 0.3; echo sh-c-late) &'; echo spawned`);
      expect(r.stdout).toBe('spawned\n');
      for (let i = 0; i < 4; i++) {
        const next = await s.exec(`sleep 0.2; echo next-${i}`);
        expect(next.stdout).toBe(`next-${i}\n`);
        expect(next.stderr).toBe('');
      }
      const log = await s.backgroundLog();
      expect(log).toContain('orphan-late');
      expect(log).toContain('orphan-err');
      expect(log).toContain('sh-c-late');
    });

    it('runs commands on one shell strictly in order', async () => {
      const results = await Promise.all(Array.from({ length: 15 }, (_, i) => s.exec(`echo ${i} >> /tmp/order; echo ${i}`)));
      results.forEach((r, i) => expect(r.stdout).toBe(`${i}\n`));
      const order = await s.exec('cat /tmp/order; rm /tmp/order');
      expect(order.stdout).toBe(`${Array.from({ length: 15 }, (_, i) => i).join('\n')}\n`);
    });

    it('runs different named shells in parallel, each with its own state', async () => {
      await s.exec('rm -f /tmp/flag');
      const waiter = s.exec('while [ ! -f /tmp/flag ]; do sleep 0.05; done; echo got-flag', { shell: 'waiter', timeoutMs: 20_000 });
      const setter = await s.exec('cd /tmp && touch /tmp/flag && echo set', { shell: 'setter' });
      expect(setter.stdout).toBe('set\n');
      const w = await waiter;
      expect(w.stdout).toBe('got-flag\n');
      expect(w.timedOut).toBe(false);
      expect((await s.exec('pwd', { shell: 'setter' })).stdout).toBe('/tmp\n');
      expect((await s.exec('pwd', { shell: 'waiter' })).stdout).toBe('/workspace\n');
      expect(
        s
          .shells()
          .map((x) => x.name)
          .sort(),
      ).toEqual(['main', 'setter', 'waiter']);
    });

    it('times out: kills the command, keeps the shell and its state', async () => {
      await s.exec('cd /tmp && export KEEP=kept');
      const r = await s.exec('echo before; sleep 60; echo never', { timeoutMs: 500 });
      expect(r.timedOut).toBe(true);
      expect(r.stdout).toBe('before\n');
      expect(r.stdout).not.toContain('never');
      const next = await s.exec('pwd; echo $KEEP');
      expect(next.stdout).toBe('/tmp\nkept\n');
      expect(next.shellRestarted).toBe(false);
      await s.exec('cd /workspace');
    });

    it('timeout stops a whole command list and its background children', async () => {
      const r = await s.exec('sleep 100 & echo $! > /tmp/bgpid; sleep 50; sleep 50; echo never', { timeoutMs: 500 });
      expect(r.timedOut).toBe(true);
      expect(r.stdout).toBe('');
      const alive = await s.exec('kill -0 $(cat /tmp/bgpid) 2>/dev/null && echo alive || echo gone');
      expect(alive.stdout).toBe('gone\n');
    });

    it('timeout stops a forked subshell that never execs (found by session and start time, not by tag)', async () => {
      // A `( ... ) &` subshell is a fork of the shell: its /proc environ has no job tag, so only
      // "in the shell's session and started after the command began" finds it. A wrong start time
      // (the command's, taken by the shell or passed in by the runner) leaves it running.
      await s.exec('rm -f /tmp/forked.alive');
      const r = await s.exec('( while :; do : > /tmp/forked.alive; done ) & sleep 60', { timeoutMs: 500 });
      expect(r.timedOut).toBe(true);
      const check = await s.exec('rm -f /tmp/forked.alive; sleep 0.3; [ -e /tmp/forked.alive ] && echo alive || echo gone');
      expect(check.stdout).toBe('gone\n');
    });

    it('abort signal kills the command like a timeout', async () => {
      const ac = new AbortController();
      const p = s.exec('sleep 60', { signal: ac.signal });
      await sleep(300);
      ac.abort();
      const r = await p;
      expect(r.aborted).toBe(true);
      expect(r.timedOut).toBe(false);
      expect((await s.exec('echo ok')).stdout).toBe('ok\n');
    });

    it('interrupts a builtin loop without losing the shell', async () => {
      await s.exec('cd /tmp/work && export LOOPVAR=survives');
      const r = await s.exec('while :; do :; done; echo never', { timeoutMs: 500 });
      expect(r.timedOut).toBe(true);
      expect(r.shellEnded).toBe(false);
      expect(r.stdout).toBe('');
      expect(r.exitCode).toBe(130);
      const next = await s.exec('pwd; echo $LOOPVAR');
      expect(next.shellRestarted).toBe(false);
      expect(next.stdout).toBe('/tmp/work\nsurvives\n');
      await s.exec('cd /workspace');
    });

    it('kills and restarts a shell that ignores the interrupt, restoring cwd and env', async () => {
      await s.exec('cd /tmp/work && export LOOPVAR=restored');
      const r = await s.exec("trap '' USR1; while :; do :; done", { timeoutMs: 500 });
      expect(r.timedOut).toBe(true);
      expect(r.shellEnded).toBe(true);
      const next = await s.exec('pwd; echo $LOOPVAR');
      expect(next.shellRestarted).toBe(true);
      expect(next.stdout).toBe('/tmp/work\nrestored\n');
      await s.exec('cd /workspace');
    });

    it('a stuck shell killed while a job holds its output pipes: the job keeps writing, to bg.log', async () => {
      // A job that escapes the command's kill (another session, no tag) still holds the pipes.
      // It writes once the shell is gone.
      const job = `setsid env -u __BERTH_JOB sh -c 'while kill -0 "$1" 2>/dev/null; do sleep 0.1; done; echo after-the-kill' sh $$ &`;
      const r = await s.exec(`${job} trap '' USR1; while :; do :; done`, { timeoutMs: 500 });
      expect(r).toMatchObject({ timedOut: true, shellEnded: true });
      let log = '';
      for (let i = 0; i < 50 && !log.includes('after-the-kill'); i++) {
        await sleep(100);
        log = await s.backgroundLog();
      }
      expect(log).toContain('after-the-kill');
      expect((await s.exec('echo next')).stdout).toBe('next\n');
    });

    it('exit ends the shell; the next command gets a fresh one with state restored', async () => {
      const r = await s.exec('cd /tmp/work && export BEFORE_EXIT=1 && unset GREETING && echo bye && exit 3');
      expect(r).toMatchObject({ exitCode: 3, shellEnded: true, stdout: 'bye\n', cwd: '/tmp/work' });
      const next = await s.exec('pwd; echo "$BEFORE_EXIT ${GREETING:-gone}"');
      expect(next.shellRestarted).toBe(true);
      expect(next.stdout).toBe('/tmp/work\n1 gone\n');
      expect((await s.exec('true')).shellRestarted).toBe(false);
    });

    it('kill -9 of the shell itself: reported, then restarted with state', async () => {
      await s.exec('cd /tmp');
      const r = await s.exec('kill -9 $$');
      expect(r.shellEnded).toBe(true);
      expect(r.exitCode).toBe(137);
      const next = await s.exec('pwd');
      expect(next.shellRestarted).toBe(true);
      expect(next.stdout).toBe('/tmp\n');
      await s.exec('cd /workspace');
    });

    it('fresh exec: one-shot, no shell state, same result shape', async () => {
      await s.exec('cd /tmp && export ONLY_IN_SHELL=1');
      const r = await s.exec('pwd; echo "${ONLY_IN_SHELL:-none} $EXTRA"; echo e >&2; exit 4', { fresh: true, env: { EXTRA: 'x' } });
      expect(r).toMatchObject({ stdout: '/workspace\nnone x\n', stderr: 'e\n', exitCode: 4, shell: null, cwd: null });
      const cwd = await s.exec('pwd', { fresh: true, cwd: '/tmp' });
      expect(cwd.stdout).toBe('/tmp\n');
      const t = await s.exec('sleep 60', { fresh: true, timeoutMs: 500 });
      expect(t.timedOut).toBe(true);
      await s.exec('cd /workspace');
    });

    it('background processes: start, list, log, kill, replace', async () => {
      const p = await s.startProcess('ticker', 'echo started-in-$(pwd); while :; do echo tick; sleep 0.2; done', { cwd: '/tmp' });
      expect(p).toMatchObject({ name: 'ticker', running: true, cwd: '/tmp' });
      expect(p.pid).toBeGreaterThan(1);
      await expect(s.startProcess('ticker', 'true')).rejects.toSatisfy((e: unknown) => isBerthError(e, 'BAD_INPUT'));
      await sleep(700);
      const log = await s.processLog('ticker');
      expect(log.text).toMatch(/^started-in-\/tmp\ntick\n/);
      expect(log.bytes).toBeGreaterThan(10);
      const tail = await s.processLog('ticker', { tailBytes: 5 });
      expect(tail.text).toBe('tick\n');
      expect(tail.truncated).toBe(true);
      const killed = await s.killProcess('ticker');
      expect(killed.running).toBe(false);
      expect(killed.exitCode).toBe(143);
      // Nothing of it is left (the bookkeeping wrapper names the command in its argv: skip it).
      const gone = await s.exec('sleep 0.3; ps -o pid,args 2>/dev/null | grep -v berth-proc | grep "[e]cho tick" || true');
      expect(gone.stdout).toBe('');
      const quick = await s.startProcess('ticker', 'exit 5', { replace: true });
      expect(quick.name).toBe('ticker');
      await sleep(500);
      const list = await s.listProcesses();
      expect(list.find((x) => x.name === 'ticker')).toMatchObject({ running: false, exitCode: 5 });
      await expect(s.processLog('nope')).rejects.toSatisfy((e: unknown) => isBerthError(e, 'PROCESS_NOT_FOUND'));
      await expect(s.startProcess('../evil', 'true')).rejects.toSatisfy((e: unknown) => isBerthError(e, 'BAD_INPUT'));
    });
  });
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

// Where a persistent shell keeps its cwd/env between shells (runner/session/protocol.ts): after
// every command on the container's tmpfs, which outlives the shell (kill -9) but not the
// container; in the state dir on the writable layer once the shell has been idle a moment
// (PERSIST_MS) and when it reads EOF, which outlives a container kill and a stop.
import { expect, it } from 'vitest';
import { SHELLS_DIR, tmpEnvPath, type Session } from '../../runner/session/index.js';
import { PERSIST_MS } from '../../runner/session/shell-persist.js';
import { describeDocker, docker } from '../helpers/docker.js';
import { busyboxSpec, nodeSpec, sleep, useRunners } from './helpers.js';

describeDocker('shell state between shells', () => {
  const { runner } = useRunners('berth-shell-state-');

  /** The state dir's env file as the container holds it (a one-shot exec, not the shell). */
  async function persisted(s: Session): Promise<string> {
    return (await s.exec(`cat ${SHELLS_DIR}/main/env 2>/dev/null || :`, { fresh: true })).stdout;
  }

  for (const flavour of ['busybox', 'node'] as const) {
    const spec = () => (flavour === 'busybox' ? busyboxSpec() : nodeSpec());

    it(`a command's state outlives kill -9 of its shell at once, and a killed container once the shell was idle (${flavour})`, async () => {
      const r = await runner(spec());
      const s = await r.open(`state-kill-${flavour}`);
      await s.exec('cd /tmp && export KEPT=1');
      // Straight after the command: the tmpfs copy is all there is, and it is enough for a new shell.
      const died = await s.exec('kill -9 $$');
      expect(died.shellEnded).toBe(true);
      expect(await s.exec('echo "$PWD ${KEPT-none}"')).toMatchObject({ shellRestarted: true, stdout: '/tmp 1\n' });

      await s.exec('export IDLE=2 && unset KEPT');
      await sleep(PERSIST_MS * 3);
      expect(await persisted(s)).toMatch(/ IDLE=['"]2['"]/);
      // A killed container loses its tmpfs and every process: only the state dir is left.
      await docker().getContainer(s.containerId).kill();
      await s.close().catch(() => undefined);
      const again = await (await runner(spec())).open(`state-kill-${flavour}`);
      expect((await again.exec('echo "$PWD ${IDLE-none} ${KEPT-gone}"')).stdout).toBe('/tmp 2 gone\n');
    });

    it(`a shell that reads EOF writes its state to the state dir before it exits (${flavour})`, async () => {
      const r = await runner(spec());
      const s = await r.open(`state-eof-${flavour}`);
      // The first command writes the state dir (nothing written yet); the next, within PERSIST_MS,
      // does not, and the close comes before the shell is idle that long: EOF is what writes it.
      await s.exec('true');
      await s.exec('export AT_EOF=3');
      await s.closeShell('main');
      expect(await persisted(s)).toMatch(/ AT_EOF=['"]3['"]/);
    });
  }

  it('resetShell removes the tmpfs copy too: nothing comes back', async () => {
    const s = await (await runner()).open('state-reset');
    await s.exec('cd /tmp && export GONE=1');
    await s.resetShell('main');
    expect((await s.exec('echo "$PWD ${GONE-none}"')).stdout).toBe('/workspace none\n');
  });

  it('a tmpfs that cannot take the save: the state dir takes every save, and no stale copy wins', async () => {
    const s = await (await runner()).open('state-no-tmpfs');
    await s.exec('export OLD=1');
    // The agent makes the tmpfs copy read-only (the shell is not root here): the next save falls
    // back to the state dir, and the stale copy must not be what a new shell restores.
    await s.exec(`chmod 444 ${tmpEnvPath('main')} && export NEW=2`);
    await s.exec('unset OLD');
    expect((await s.exec('kill -9 $$')).shellEnded).toBe(true);
    expect((await s.exec('echo "${OLD-none} ${NEW-none}"')).stdout).toBe('none 2\n');
  });
});

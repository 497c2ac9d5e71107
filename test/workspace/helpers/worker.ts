/**
 * A separate OS process for the lock tests, started with `node --import tsx`:
 *   worker.ts churn <repo> <dataDir> <prefix> <count>   create/checkpoint/updateExtra/delete in a loop
 *   worker.ts hold  <repo> <dataDir> <staleMs>          take the repo lock, print "locked", wait forever
 * Prints one JSON line with its result on stdout; errors go to stderr with a non-zero exit.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Workspaces } from '../../../src/workspace/index.js';

const [mode, repo, dataDir, ...rest] = process.argv.slice(2);
if (!mode || !repo || !dataDir) throw new Error('usage: worker.ts <churn|hold> <repo> <dataDir> ...');

if (mode === 'churn') {
  const [prefix = 'p', countText = '3'] = rest;
  const ws = await Workspaces.open(repo, { dataDir, lockTimeoutMs: 60_000 });
  const kept: string[] = [];
  const deleted: string[] = [];
  for (let i = 0; i < Number(countText); i++) {
    const name = `${prefix}-${i}`;
    const { workspace } = await ws.create(name);
    writeFileSync(join(workspace.worktree, `${name}.txt`), `${name}\n`);
    const cp = await ws.checkpoint(name, `work in ${name}`);
    if (!cp.committed) throw new Error(`checkpoint of ${name} committed nothing`);
    await ws.updateExtra(name, { owner: prefix });
    await ws.updateExtra(name, { index: i });
    if (i % 2 === 1) {
      await ws.delete(name);
      deleted.push(name);
    } else kept.push(name);
  }
  process.stdout.write(`${JSON.stringify({ kept, deleted })}\n`);
} else if (mode === 'hold') {
  const staleMs = Number(rest[0] ?? '3000');
  const ws = await Workspaces.open(repo, { dataDir, lockStaleMs: staleMs });
  await ws.withLock(async () => {
    process.stdout.write('locked\n');
    await new Promise(() => setInterval(() => undefined, 60_000));
  });
} else {
  throw new Error(`unknown mode ${mode}`);
}

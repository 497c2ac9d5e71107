// The corpus suite's lookup and scheduling, without the corpus: where it looks (no absolute path of
// any machine in the repository), and that a case marked alone never overlaps another.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findCorpus } from './corpus-location.js';
import { CaseScheduler } from './corpus-schedule.js';

describe('corpus lookup', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  async function tree(corpusAt: string | undefined): Promise<string> {
    const root = await mkdtemp(join(tmpdir(), 'berth-corpus-find-'));
    dirs.push(root);
    if (corpusAt) {
      await mkdir(join(root, corpusAt), { recursive: true });
      await writeFile(join(root, corpusAt, 'manifest.tsv'), '# name\n');
    }
    return root;
  }

  it('finds shared/corpus next to a clone and next to a worktree folder', async () => {
    const clone = await tree('shared/corpus');
    expect(findCorpus(join(clone, 'berth'), {}).dir).toBe(join(clone, 'shared', 'corpus'));
    expect(findCorpus(join(clone, 'wt', 'corpus'), {}).dir).toBe(join(clone, 'shared', 'corpus'));
  });

  it('BERTH_CORPUS_DIR wins and is the only place looked at; a miss lists what was tried', async () => {
    const root = await tree('shared/corpus');
    const other = await tree('elsewhere');
    expect(findCorpus(join(root, 'berth'), { BERTH_CORPUS_DIR: join(other, 'elsewhere') }).dir).toBe(join(other, 'elsewhere'));
    const miss = findCorpus(join(root, 'berth'), { BERTH_CORPUS_DIR: join(other, 'nope') });
    expect(miss).toEqual({ dir: undefined, tried: [join(other, 'nope')] });
    const none = await tree(undefined);
    expect(findCorpus(join(none, 'berth'), {}).tried).toEqual([join(none, 'shared', 'corpus'), join(none, '..', 'shared', 'corpus')].map((p) => join(p)));
  });
});

describe('CaseScheduler', () => {
  it('runs up to N shared cases at once and an alone case with nothing else in flight', async () => {
    const s = new CaseScheduler(2);
    let inFlight = 0;
    let maxShared = 0;
    const overlapsWithAlone: string[] = [];
    let aloneRunning = false;
    const gates: (() => void)[] = [];
    const task = (name: string, alone: boolean) =>
      s.run(alone, async () => {
        inFlight++;
        if (alone) {
          if (inFlight !== 1) overlapsWithAlone.push(name);
          aloneRunning = true;
        } else if (aloneRunning) overlapsWithAlone.push(name);
        maxShared = Math.max(maxShared, inFlight);
        await new Promise<void>((r) => gates.push(r));
        if (alone) aloneRunning = false;
        inFlight--;
      });
    const all = [task('a', false), task('b', false), task('c', false), task('alone', true), task('d', false), task('e', false)];
    let done = false;
    const finished = Promise.all(all).then(() => (done = true));
    // Release whatever is running, one at a time, until everything finished.
    while (!done) {
      await new Promise((r) => setImmediate(r));
      gates.shift()?.();
    }
    await finished;
    expect(maxShared).toBe(2);
    expect(overlapsWithAlone).toEqual([]);
  });
});

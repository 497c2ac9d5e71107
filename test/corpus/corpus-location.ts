/**
 * Where the corpus is: BERTH_CORPUS_DIR when set (and only there: an explicit path that is wrong
 * should say so, not silently use another corpus), else `shared/corpus` next to the checkout or one
 * level further up (a worktree under `<root>/wt/<name>` and a CI clone under `<root>/<name>` both
 * find `<root>/shared/corpus`). A directory counts when it holds manifest.tsv.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface CorpusLookup {
  /** The corpus directory, or undefined when none of the candidates holds a manifest. */
  readonly dir: string | undefined;
  /** Every candidate looked at, in order (for the skipped test's name). */
  readonly tried: readonly string[];
}

export function corpusCandidates(checkout: string, env: NodeJS.ProcessEnv): string[] {
  if (env.BERTH_CORPUS_DIR) return [resolve(env.BERTH_CORPUS_DIR)];
  return [resolve(checkout, '..', 'shared', 'corpus'), resolve(checkout, '..', '..', 'shared', 'corpus')];
}

export function findCorpus(checkout: string, env: NodeJS.ProcessEnv): CorpusLookup {
  const tried = corpusCandidates(checkout, env);
  return { dir: tried.find((d) => existsSync(join(d, 'manifest.tsv'))), tried };
}

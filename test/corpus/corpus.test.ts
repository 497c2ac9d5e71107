/**
 * The real-world corpus: real public repositories (git bundles with a manifest of test commands and
 * expected output), each run the two ways a user would, through the real CLI and the real engine:
 *   1. `berth test --source=.` (detection picks the toolchain image, installs, runs the test step);
 *   2. `berth ws create` + `berth exec <ws> -- <the manifest's test command>`.
 * Both must exit 0 and print what the manifest's regex expects.
 *
 * Part of the default run whenever the corpus is found (corpus-location.ts says where it looks);
 * BERTH_TEST_CORPUS=0 turns it off. When it is off or absent, a skipped test's name says so.
 *
 * Network: only the install phase of Node repositories needs the npm registry, and this engine has
 * no bridge network, so the suite opts those repositories in with `network: {install: host}` for
 * `berth test` (run phases stay on none). A workspace container has one network for its life, and
 * the manifest's command runs `npm ci` inside it, so the workspace path opts in with `network: host`.
 *
 * Time: every case runs in its own clone, so cases run concurrently (BERTH_CORPUS_CONCURRENCY, default
 * 2 on a 2-core machine: one case's install or container start overlaps another's CPU-bound tests).
 * `http-server` runs alone (see corpus-schedule.ts). The afterAll prints each case's wall time.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL } from '../../docker/labels.js';
import { repoKey } from '../../pipelines/index.js';
import { runBerth } from '../helpers/cli.js';
import { describeDocker, removeKeptFor } from '../helpers/docker.js';
import { findCorpus } from './corpus-location.js';
import { CaseScheduler, runsAlone } from './corpus-schedule.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** One case's own budget (the slowest, commander's jest run, takes about 3 minutes alone). */
const STEP_MS = 15 * 60_000;
/** Waiting for a slot counts against vitest's per-test timeout, so the timeout covers the queue too. */
const CASE_TIMEOUT_MS = 40 * 60_000;

interface Entry {
  name: string;
  command: string;
  /** undefined: exit 0 is enough. */
  pattern: RegExp | undefined;
  expected: string;
}

/** manifest.tsv: name, command, regex (POSIX classes allowed; "-" = none), origin, license, expected. */
function readManifest(dir: string): Entry[] {
  return readFileSync(join(dir, 'manifest.tsv'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => {
      const [name, command, regex, , , expected] = l.split('\t') as [string, string, string, string, string, string];
      const js = regex.replace(/\[\[:space:\]\]/g, '\\s').replace(/\[:space:\]/g, '\\s');
      return { name, command, pattern: regex === '-' ? undefined : new RegExp(js, 'm'), expected };
    });
}

const berth = (args: string[], cwd: string, env: NodeJS.ProcessEnv) => runBerth(args, { cwd, env: { ...process.env, NO_COLOR: '1', ...env } });

function git(args: string[], cwd?: string): Promise<void> {
  return new Promise((res, rej) => {
    const child = spawn('git', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => (code === 0 ? res() : rej(new Error(`git ${args.join(' ')}: ${err}`))));
  });
}

const tail = (s: string) => s.slice(-3000);

/** The package-cache volumes and dependency snapshots this run's clones got: pipelines label them by repo key, sessions by path. */
async function removeCacheVolumes(dirs: readonly string[]): Promise<void> {
  for (const label of dirs.flatMap((d) => [`${LABEL.pipelineRepo}=${repoKey(d)}`, `${LABEL.repo}=${d}`])) await removeKeptFor(label);
}
const found = findCorpus(ROOT, process.env);

if (process.env.BERTH_TEST_CORPUS === '0') {
  describe('corpus', () => {
    it.skip('corpus suite turned off by BERTH_TEST_CORPUS=0', () => {});
  });
} else if (!found.dir) {
  describe('corpus', () => {
    it.skip(`corpus not found (looked in ${found.tried.join(', ')}): set BERTH_CORPUS_DIR to the directory with manifest.tsv and the bundles`, () => {});
  });
} else {
  const corpus = found.dir;
  // BERTH_CORPUS_ONLY=markupsafe,six runs only those repositories.
  const only = (process.env.BERTH_CORPUS_ONLY ?? '').split(',').filter(Boolean);
  const entries = readManifest(corpus).filter((e) => only.length === 0 || only.includes(e.name));
  const concurrency = Number(process.env.BERTH_CORPUS_CONCURRENCY ?? 2);
  const scheduler = new CaseScheduler(Number.isInteger(concurrency) && concurrency > 0 ? concurrency : 2);

  describeDocker('corpus: real repositories through the real CLI', () => {
    let work: string;
    let dataDir: string;
    const created: { repo: string; ws: string }[] = [];
    const times: { name: string; ms: number; ok: boolean }[] = [];
    const started = Date.now();

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'berth-corpus-'));
      dataDir = await mkdtemp(join(tmpdir(), 'berth-corpus-data-'));
      // One clone per path, so the two paths of a repository never share a checkout (or a berth.yaml).
      for (const path of ['test', 'ws']) {
        await mkdir(join(work, path));
        for (const e of entries) await git(['clone', '-q', join(corpus, `${e.name}.bundle`), join(work, path, e.name)]);
      }
    }, 5 * 60_000);

    afterAll(async () => {
      for (const { repo, ws } of created) {
        const r = await berth(['ws', 'delete', ws], repo, { BERTH_DATA_DIR: dataDir });
        if (r.code !== 0) console.error(`cleanup: berth ws delete ${ws} in ${repo} failed:\n${tail(r.output)}`);
      }
      await removeCacheVolumes(entries.flatMap((e) => [join(work, 'test', e.name), join(work, 'ws', e.name)]));
      await rm(work, { recursive: true, force: true });
      await rm(dataDir, { recursive: true, force: true });
      const rows = times.map((t) => `  ${t.name.padEnd(34)} ${(t.ms / 1000).toFixed(1).padStart(6)} s${t.ok ? '' : '  FAILED'}`);
      console.error(
        `corpus wall times (concurrency ${scheduler.slots}, ${corpus}):\n${rows.join('\n')}\n  total ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    }, 5 * 60_000);

    /** Run one case in a scheduler slot, recording its own wall time (not its time in the queue). */
    const timed = (name: string, alone: boolean, fn: () => Promise<void>) => async () => {
      await scheduler.run(alone, async () => {
        const t0 = Date.now();
        let ok = false;
        try {
          await fn();
          ok = true;
        } finally {
          times.push({ name, ms: Date.now() - t0, ok });
        }
      });
    };

    const isNode = (dir: string) => existsSync(join(dir, 'package.json'));

    for (const e of entries) {
      const alone = runsAlone(e.name);
      it.concurrent(
        `${e.name}: berth test --source=. (expects ${e.expected})`,
        timed(`${e.name} (berth test)`, alone, async () => {
          const dir = join(work, 'test', e.name);
          if (isNode(dir)) await writeFile(join(dir, 'berth.yaml'), 'network:\n  install: host\n');
          const r = await berth(['test', '--source=.', '--timeout', `${STEP_MS / 60_000}m`], dir, { BERTH_DATA_DIR: dataDir });
          expect(r.code, tail(r.output)).toBe(0);
          if (e.pattern) expect(r.output, tail(r.output)).toMatch(e.pattern);
        }),
        CASE_TIMEOUT_MS,
      );

      it.concurrent(
        `${e.name}: berth ws create + berth exec -- ${e.command}`,
        timed(`${e.name} (ws create + exec)`, alone, async () => {
          const dir = join(work, 'ws', e.name);
          // Untracked in the checkout: the runner reads the spec from the repository root.
          if (isNode(dir)) await writeFile(join(dir, 'berth.yaml'), 'network: host\n');
          const ws = `corpus-${e.name}`;
          const c = await berth(['ws', 'create', ws], dir, { BERTH_DATA_DIR: dataDir });
          expect(c.code, tail(c.output)).toBe(0);
          created.push({ repo: dir, ws });
          const r = await berth(['exec', ws, '--timeout', `${STEP_MS / 60_000}m`, '--', e.command], dir, { BERTH_DATA_DIR: dataDir });
          expect(r.code, tail(r.output)).toBe(0);
          if (e.pattern) expect(r.output, tail(r.output)).toMatch(e.pattern);
          // Passed: remove it now, so later cases do not share the machine with its container.
          const d = await berth(['ws', 'delete', ws], dir, { BERTH_DATA_DIR: dataDir });
          expect(d.code, tail(d.output)).toBe(0);
          created.splice(
            created.findIndex((x) => x.ws === ws),
            1,
          );
        }),
        CASE_TIMEOUT_MS,
      );
    }
  });
}

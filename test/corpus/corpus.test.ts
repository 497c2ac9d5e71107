/**
 * The real-world corpus: real public repositories (git bundles with a manifest of test commands and
 * expected output), each run the two ways a user would, through the real CLI and the real engine:
 *   1. `berth test --source=.` (detection picks the toolchain image, installs, runs the test step);
 *   2. `berth ws create` + `berth exec <ws> -- <the manifest's test command>`.
 * Both must exit 0 and print what the manifest's regex expects.
 *
 * The corpus lives outside the repository: BERTH_CORPUS_DIR, else ../shared/corpus next to the
 * checkout. When it is absent the suite says so in a skipped test's name, never silently.
 *
 * Network: only the install phase of Node repositories needs the npm registry, and this engine has
 * no bridge network, so the suite opts those repositories in with `network: {install: host}` for
 * `berth test` (run phases stay on none). A workspace container has one network for its life, and
 * the manifest's command runs `npm ci` inside it, so the workspace path opts in with `network: host`.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeDocker } from '../helpers/docker.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'berth.js');
const CORPUS = resolve(process.env.BERTH_CORPUS_DIR ?? join(ROOT, '..', 'shared', 'corpus'));
const STEP_MS = 15 * 60_000;

interface Entry {
  name: string;
  command: string;
  /** undefined: exit 0 is enough. */
  pattern: RegExp | undefined;
  expected: string;
}

/** manifest.tsv: name, command, regex (POSIX classes allowed; "-" = none), origin, license, expected. */
function readManifest(): Entry[] {
  return readFileSync(join(CORPUS, 'manifest.tsv'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => {
      const [name, command, regex, , , expected] = l.split('\t') as [string, string, string, string, string, string];
      const js = regex.replace(/\[\[:space:\]\]/g, '\\s').replace(/\[:space:\]/g, '\\s');
      return { name, command, pattern: regex === '-' ? undefined : new RegExp(js, 'm'), expected };
    });
}

interface Run {
  code: number | null;
  out: string;
}

function berth(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', rej);
    child.on('close', (code) => res({ code, out }));
  });
}

function git(args: string[], cwd?: string): Promise<void> {
  return new Promise((res, rej) => {
    const child = spawn('git', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => (code === 0 ? res() : rej(new Error(`git ${args.join(' ')}: ${err}`))));
  });
}

const tail = (s: string) => s.slice(-3000);

if (process.env.BERTH_TEST_CORPUS !== '1') {
  describe('corpus', () => {
    // About 10 minutes and every toolchain image: opt in with `npm run test:corpus`.
    it.skip('corpus suite not enabled: run `npm run test:corpus` (BERTH_TEST_CORPUS=1)', () => {});
  });
} else if (!existsSync(join(CORPUS, 'manifest.tsv'))) {
  describe('corpus', () => {
    it.skip(`corpus not found at ${CORPUS}: set BERTH_CORPUS_DIR to the directory with manifest.tsv and the bundles`, () => {});
  });
} else {
  // BERTH_CORPUS_ONLY=markupsafe,six runs only those repositories (the whole suite takes ~10 min).
  const only = (process.env.BERTH_CORPUS_ONLY ?? '').split(',').filter(Boolean);
  const entries = readManifest().filter((e) => only.length === 0 || only.includes(e.name));

  describeDocker('corpus: real repositories through the real CLI', () => {
    let work: string;
    let dataDir: string;
    const created: { repo: string; ws: string }[] = [];

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'berth-corpus-'));
      dataDir = await mkdtemp(join(tmpdir(), 'berth-corpus-data-'));
      for (const e of entries) await git(['clone', '-q', join(CORPUS, `${e.name}.bundle`), join(work, e.name)]);
    }, 5 * 60_000);

    afterAll(async () => {
      for (const { repo, ws } of created) {
        const r = await berth(['ws', 'delete', ws], repo, { BERTH_DATA_DIR: dataDir });
        if (r.code !== 0) console.error(`cleanup: berth ws delete ${ws} in ${repo} failed:\n${tail(r.out)}`);
      }
      await rm(work, { recursive: true, force: true });
      await rm(dataDir, { recursive: true, force: true });
    }, 5 * 60_000);

    const isNode = (e: Entry) => existsSync(join(work, e.name, 'package.json'));

    for (const e of entries) {
      it(
        `${e.name}: berth test --source=. (expects ${e.expected})`,
        async () => {
          const dir = join(work, e.name);
          if (isNode(e)) await writeFile(join(dir, 'berth.yaml'), 'network:\n  install: host\n');
          const r = await berth(['test', '--source=.'], dir, { BERTH_DATA_DIR: dataDir });
          await rm(join(dir, 'berth.yaml'), { force: true });
          expect(r.code, tail(r.out)).toBe(0);
          if (e.pattern) expect(r.out, tail(r.out)).toMatch(e.pattern);
        },
        STEP_MS,
      );

      it(
        `${e.name}: berth ws create + berth exec -- ${e.command}`,
        async () => {
          const dir = join(work, e.name);
          // Untracked in the checkout: the runner reads the spec from the repository root.
          if (isNode(e)) await writeFile(join(dir, 'berth.yaml'), 'network: host\n');
          try {
            const ws = `corpus-${e.name}`;
            const c = await berth(['ws', 'create', ws], dir, { BERTH_DATA_DIR: dataDir });
            expect(c.code, tail(c.out)).toBe(0);
            created.push({ repo: dir, ws });
            const r = await berth(['exec', ws, '--timeout', '15m', '--', e.command], dir, { BERTH_DATA_DIR: dataDir });
            expect(r.code, tail(r.out)).toBe(0);
            if (e.pattern) expect(r.out, tail(r.out)).toMatch(e.pattern);
          } finally {
            await rm(join(dir, 'berth.yaml'), { force: true });
          }
        },
        STEP_MS,
      );
    }
  });
}

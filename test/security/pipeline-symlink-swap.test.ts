// Attack: while berth copies an agent's tree into a pipeline, the agent swaps a directory of that
// tree for a symlink to a host directory holding a secret, and back, as fast as it can (a real
// child process looping rename/symlink). berth must never read through the link: the secret may
// appear neither in a produced archive nor inside a real pipeline container, across many races.
// Every copy either succeeds (the link archived as a link) or fails with FS_ERROR ("changed").
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listSource, packSource, repoKey, runPipeline } from '../../pipelines/index.js';
import { describeDocker } from '../helpers/docker.js';
import { pipelineContainers, pipelineSpec } from '../pipelines/helpers.js';
import { readTarEntries } from '../storage/tarball.js';

const FILES = 40;
const SECRET = `HOSTSECRET-${randomBytes(8).toString('hex')}`;
let tmp: string;
let src: string;
let secretDir: string;
let swapper: ChildProcess | undefined;

/** The swapper: d ⇄ symlink(secretDir), in batches so SIGTERM is handled; prints its swap count on exit. */
const SWAPPER = `
const fs = require('node:fs');
const [src, secret] = process.argv.slice(1);
let n = 0;
process.on('SIGTERM', () => { process.stdout.write(String(n)); process.exit(0); });
const batch = () => {
  for (let i = 0; i < 20; i++) {
    try {
      fs.renameSync(src + '/d', src + '/d.real');
      fs.symlinkSync(secret, src + '/d');
      for (let k = 0; k < 2000; k++);
      fs.unlinkSync(src + '/d');
      fs.renameSync(src + '/d.real', src + '/d');
      n++;
    } catch {}
  }
  setImmediate(batch);
};
batch();
`;

function startSwapper(): ChildProcess {
  const child = spawn(process.execPath, ['-e', SWAPPER, src, secretDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  return child;
}

async function stopSwapper(child: ChildProcess): Promise<number> {
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await done;
  return Number(out);
}

/** Every file body in the archive, and whether `d` was archived as a symlink. */
async function readArchive(stream: NodeJS.ReadableStream): Promise<{ bodies: string[]; dAsLink: boolean }> {
  const entries = await readTarEntries(stream);
  return {
    bodies: entries.map((e) => e.body.toString()),
    dAsLink: entries.some((e) => e.path.replace(/^\.\//, '').replace(/\/$/, '') === 'd' && e.type === 'SymbolicLink'),
  };
}

beforeAll(async () => {
  tmp = await realpath(await mkdtemp(join(tmpdir(), 'berth-swap-')));
  secretDir = join(tmp, 'host-secret');
  src = join(tmp, 'src');
  await mkdir(secretDir);
  await mkdir(join(src, 'd'), { recursive: true });
  for (let i = 0; i < FILES; i++) {
    const name = `f${String(i).padStart(2, '0')}.txt`;
    await writeFile(join(secretDir, name), `${SECRET} ${name}\n`);
    await writeFile(join(src, 'd', name), `public ${name}\n`);
  }
});

afterAll(async () => {
  if (swapper && swapper.exitCode === null) await stopSwapper(swapper);
  await rm(tmp, { recursive: true, force: true });
});

describe('pipeline source copy vs a racing directory→symlink swap', () => {
  it('never archives a host file through a swapped directory (300 copies)', async () => {
    swapper = startSwapper();
    let copies = 0;
    let changed = 0;
    let links = 0;
    let swaps: number;
    const leaks: string[] = [];
    const otherErrors: string[] = [];
    try {
      for (let i = 0; i < 300; i++) {
        try {
          const listing = await listSource(src);
          const { bodies, dAsLink } = await readArchive(packSource(src, listing));
          copies++;
          if (dAsLink) links++;
          leaks.push(...bodies.filter((b) => b.includes(SECRET)));
        } catch (err) {
          if ((err as { code?: unknown }).code === 'FS_ERROR') changed++;
          else otherErrors.push(String(err));
        }
      }
    } finally {
      swaps = await stopSwapper(swapper);
    }
    expect(leaks.slice(0, 3), `${leaks.length} host files leaked into ${copies} archives`).toEqual([]);
    expect(otherErrors.slice(0, 3)).toEqual([]);
    // The attack really ran, and the race was really met (a link archived, or a copy refused).
    expect(swaps).toBeGreaterThan(100);
    expect(links + changed, `copies ${copies}, links ${links}, refused ${changed}`).toBeGreaterThan(0);
  }, 240_000);
});

describeDocker('pipeline runs vs a racing directory→symlink swap (real containers)', () => {
  it('the secret never reaches a pipeline container (25 runs), and no container is left', async () => {
    const spec = pipelineSpec({
      // Print every file the container got; exit 99 if any holds the secret (pattern split so the command itself never matches).
      steps: { build: [], test: ['find . -type f -exec cat {} +; if grep -rq "HOSTSECRE[T]" .; then exit 99; fi'], lint: [] },
    });
    swapper = startSwapper();
    const outcomes: string[] = [];
    const leaks: string[] = [];
    try {
      for (let i = 0; i < 25; i++) {
        const r = await runPipeline({ kind: 'local', dir: src }, spec, 'test');
        outcomes.push(r.outcome === 'error' ? `error:${r.error?.code}` : `${r.outcome}:${r.exitCode}`);
        const text = JSON.stringify(r);
        if (text.includes(SECRET) || r.exitCode === 99) leaks.push(`run ${i}: ${text.slice(0, 300)}`);
      }
    } finally {
      await stopSwapper(swapper);
    }
    expect(leaks).toEqual([]);
    // Each run either passed or was refused because the tree changed under the copy.
    expect(
      outcomes.filter((o) => o !== 'passed:0' && o !== 'error:FS_ERROR'),
      outcomes.join(' '),
    ).toEqual([]);
    expect(
      outcomes.some((o) => o === 'passed:0'),
      outcomes.join(' '),
    ).toBe(true);
    expect(await pipelineContainers(repoKey(src))).toEqual([]);
  }, 300_000);
});

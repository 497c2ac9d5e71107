/**
 * Group "deps": ready dependencies on a real corpus Node project with real dependencies
 * (`colors` from ../shared/corpus: `npm ci` installs eslint and its tree from the npm registry,
 * and its test runs in about a second, so the install is what a second run can save).
 *   - `berth test` cold (installs on network.install: host, saves the snapshot) vs warm (the
 *     snapshot: no install), goal warm <= 0.3x cold;
 *   - `ws create` to the first exec with node_modules ready: the first workspace (install in a
 *     helper + snapshot) vs later ones (from the snapshot), goal <= 1 s p50;
 *   - the same-run baseline: `docker run --rm` of the same image doing a manual `npm ci && npm test`.
 * The shared npm cache volume is warm after the first install in this run (as on any machine that
 * ran berth before), so "cold" is a cold snapshot, not a cold registry; the project's toolchain
 * image is made ready before any clock starts for the same reason (its one-time build, ~12 s on
 * a fresh machine, once landed in the cold time and flattered the ratio 4x). Skipped in --quick: one
 * install from the registry takes longer than the whole quick budget.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureImageRef } from '../docker/index.js';
import { runPipeline, type PipelineResult } from '../pipelines/index.js';
import { Runner } from '../runner/session/index.js';
import { resolveSpec, type SpecInput } from '../src/project/index.js';
import { LocalSourceReader } from '../src/source-reader.js';
import type { GroupContext } from './config.js';
import { unavailable, type Row } from './report.js';
import { summarize } from './stats.js';
import { timeOnce } from './timing.js';

const PROJECT = 'colors';
const CORPUS = resolve(process.env.BERTH_CORPUS_DIR ?? fileURLToPath(new URL('../../shared/corpus', import.meta.url)));
/** Install may fetch (the registry is the one network target here); steps and sessions stay offline. */
const OVERRIDES: SpecInput = { network: { install: 'host', run: 'none' }, resources: { cpus: 2, memoryMb: 2048, pids: 1024 } };
/** Row ids and labels (also the placeholders when the group cannot run). */
export const DEPS_ROWS: readonly [string, string][] = [
  ['deps.test.cold', `berth test, ${PROJECT}: cold`],
  ['deps.test.warm', `berth test, ${PROJECT}: warm`],
  ['deps.docker', `docker run --rm + manual install, ${PROJECT}`],
  ['deps.ws.cold', `ws create -> exec, ${PROJECT}: first`],
  ['deps.ws.warm', `ws create -> exec, ${PROJECT}: node_modules ready`],
];
const READY = 'test -f node_modules/eslint/package.json && echo ready';

export async function depsGroup(ctx: GroupContext): Promise<Row[]> {
  const { cfg } = ctx;
  const bundle = join(CORPUS, `${PROJECT}.bundle`);
  if (cfg.mode === 'quick')
    return DEPS_ROWS.map(([id, l]) => unavailable(id, 'deps', l, 'skipped in --quick (a registry install takes longer than the quick budget)'));
  if (!existsSync(bundle)) return DEPS_ROWS.map(([id, l]) => unavailable(id, 'deps', l, `no corpus bundle ${bundle} (set BERTH_CORPUS_DIR)`));
  const tmp = mkdtempSync(join(tmpdir(), 'berth-bench-deps-'));
  const src = join(tmp, PROJECT);
  try {
    // The corpus's own unpack does the same (clone of the bundle on its default branch).
    const clone = spawnSync('git', ['clone', '-q', bundle, src], { stdio: ['ignore', 'ignore', 'pipe'] });
    if (clone.status !== 0) throw new Error(`git clone ${bundle}: ${clone.stderr.toString()}`);
    const rows = await pipelineRows(ctx, src);
    rows.push(...(await workspaceRows(ctx, src)));
    return rows;
  } finally {
    await removeSnapshots(ctx);
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function berthTest(ctx: GroupContext, src: string): Promise<PipelineResult> {
  const resolved = await resolveSpec(new LocalSourceReader(src), { overrides: OVERRIDES });
  const r = await runPipeline({ kind: 'local', dir: src }, resolved.spec, 'test', { labels: ctx.fx.labels, signal: ctx.fx.signal });
  if (!r.ok)
    throw new Error(`berth test on ${PROJECT}: ${r.outcome} (exit ${r.exitCode}) in ${r.failedPhase}: ${JSON.stringify(r.phases.at(-1)?.tail.slice(-300))}`);
  return r;
}

/** The image the project's pipeline runs in, built or pulled now if missing (untimed: see the header). */
async function readyImage(ctx: GroupContext, src: string): Promise<void> {
  const { spec } = await resolveSpec(new LocalSourceReader(src), { overrides: OVERRIDES });
  const t0 = Date.now();
  if (await ensureImageRef(spec.image, { signal: ctx.fx.signal, onProgress: (line) => /: present$/.test(line) || ctx.log(`deps: ${line}`) }))
    ctx.log(`deps: ${spec.image} made first, untimed (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

async function pipelineRows(ctx: GroupContext, src: string): Promise<Row[]> {
  await readyImage(ctx, src);
  ctx.log(`deps: berth test on corpus ${PROJECT}, cold (npm ci from the registry, snapshot saved) ...`);
  let first: PipelineResult | undefined;
  const cold = await timeOnce(async () => {
    first = await berthTest(ctx, src);
  });
  const install = first?.phases.find((p) => p.name === 'install');
  if (install?.cache?.hit !== false) throw new Error(`the cold run should miss the deps cache, got ${JSON.stringify(install?.cache)}`);
  const warm: number[] = [];
  for (let i = 0; i < 3 && !ctx.fx.signal.aborted; i++) {
    let r: PipelineResult | undefined;
    warm.push(
      await timeOnce(async () => {
        r = await berthTest(ctx, src);
      }),
    );
    const hit = r?.phases.find((p) => p.name === 'install')?.cache;
    if (!hit?.hit) throw new Error(`a warm run should hit the deps cache, got ${JSON.stringify(hit)}`);
  }
  ctx.log('deps: docker run --rm with a manual npm ci && npm test (the baseline) ...');
  const docker = await timeOnce(() => manualInstallRun(ctx, src, first?.image ?? ''));
  return [
    { id: 'deps.test.cold', group: 'deps', label: `berth test, ${PROJECT}: cold (npm ci + save snapshot)`, ms: summarize([cold]) },
    {
      id: 'deps.test.warm',
      group: 'deps',
      label: `berth test, ${PROJECT}: warm (deps ready, install skipped)`,
      ms: summarize(warm),
      baseline: 'deps.test.cold',
      note: `install ${install?.durationMs ?? '?'} ms in the cold run`,
    },
    { id: 'deps.docker', group: 'deps', label: `docker run --rm: manual npm ci && npm test, ${PROJECT}`, ms: summarize([docker]), baseline: 'deps.test.cold' },
  ];
}

/** The plain way: one container that copies the source, installs and tests, then goes. */
async function manualInstallRun(ctx: GroupContext, src: string, image: string): Promise<void> {
  const client = ctx.fx.docker;
  const c = await client.createContainer({
    Image: image,
    Cmd: ['sh', '-c', 'cp -a /src/. /w && cd /w && npm ci --no-audit --no-fund --cache /tmp/npm >/dev/null && npm test >/dev/null'],
    Labels: { ...ctx.fx.labels },
    HostConfig: {
      NetworkMode: 'host',
      Init: true,
      NanoCpus: 2e9,
      Memory: 2048 * 1024 * 1024,
      SecurityOpt: ['no-new-privileges'],
      Mounts: [{ Type: 'bind', Source: src, Target: '/src', ReadOnly: true }],
    },
  });
  try {
    await c.start();
    const w = (await c.wait()) as { StatusCode?: number };
    if (w.StatusCode !== 0) throw new Error(`docker run --rm baseline exited ${w.StatusCode}`);
  } finally {
    await c.remove({ force: true, v: true });
  }
}

async function workspaceRows(ctx: GroupContext, src: string): Promise<Row[]> {
  const { fx } = ctx;
  const runner = await Runner.create({ repo: src, dataDir: fx.dataDir, labels: fx.labels, spec: OVERRIDES, pool: { size: 0 } });
  const names: string[] = [];
  const openReady = async (name: string, hit: boolean): Promise<number> => {
    names.push(name);
    return timeOnce(async () => {
      const s = await runner.open(name, { create: true });
      const r = await s.exec(READY);
      if (!r.stdout.includes('ready') || s.setup.deps?.hit !== hit)
        throw new Error(`ws ${name}: expected node_modules ready (${hit ? 'hit' : 'miss'}), got ${JSON.stringify(r.stdout)} ${JSON.stringify(s.setup.deps)}`);
    });
  };
  try {
    ctx.log(`deps: ws create -> first exec on ${PROJECT}: the first workspace installs in a helper ...`);
    const cold = await openReady('deps-0', false);
    const warm: number[] = [];
    for (let i = 1; i <= 5 && !fx.signal.aborted; i++) warm.push(await openReady(`deps-${i}`, true));
    return [
      {
        id: 'deps.ws.cold',
        group: 'deps',
        label: `ws create -> exec, ${PROJECT}: first (install in helper + snapshot)`,
        ms: summarize([cold]),
        baseline: 'deps.docker',
      },
      {
        id: 'deps.ws.warm',
        group: 'deps',
        label: `ws create -> exec, ${PROJECT}: node_modules ready (snapshot)`,
        ms: summarize(warm),
        baseline: 'deps.docker',
      },
    ];
  } finally {
    for (const n of names) await runner.delete(n).catch(() => undefined);
    await runner.close().catch(() => undefined);
  }
}

/** Ready-deps images this run made (they carry the run's label, merged in by the commit). */
async function removeSnapshots(ctx: GroupContext): Promise<void> {
  const client = ctx.fx.docker;
  const [k, v] = Object.entries(ctx.fx.labels)[0] ?? [];
  if (!k) return;
  const imgs = await client.listImages({ filters: { label: [`${k}=${v}`, 'dev.berth.role=deps'] } }).catch(() => []);
  for (const i of imgs)
    await client
      .getImage(i.Id)
      .remove({ force: true })
      .catch(() => undefined);
}

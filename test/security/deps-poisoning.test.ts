// Attack: poison another repository's ready dependencies. An install runs code the agent controls
// (a dependency's install script), and that code can read files the deps key does not cover. Here
// the attacker's repository has exactly the victim's package.json, lockfile and tarball, plus a
// `.poison` file the install script copies into node_modules. If snapshots were shared across
// repositories by (image, lockfile, install) alone, the victim's run would start from the
// attacker's node_modules. berth scopes every snapshot to its repository, so the victim installs
// for itself and never sees the marker. A second case: a source that already ships a node_modules
// (which `npm install` would build on, outside the key) is never cached.
import { rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { runPipeline, type PipelineResult } from '../../pipelines/index.js';
import { LocalSourceReader } from '../../src/source-reader.js';
import { resolveSpec } from '../../src/project/index.js';
import { LABEL } from '../../docker/labels.js';
import { describeDocker } from '../helpers/docker.js';
import { cleanup, copyFixture, docker, type FixtureCopy } from '../pipelines/helpers.js';

const copies: FixtureCopy[] = [];
const MARK = `PWNED-${randomUUID()}`;

async function test(copy: FixtureCopy, infos: string[] = []): Promise<PipelineResult> {
  const resolved = await resolveSpec(new LocalSourceReader(copy.dir));
  return runPipeline({ kind: 'local', dir: copy.dir }, resolved.spec, 'test', {
    onOutput: (e) => {
      if (e.type === 'info') infos.push(e.message);
    },
  });
}
const tail = (r: PipelineResult) => r.phases.find((p) => p.name === 'test')?.tail ?? '';

describeDocker('security: ready-deps poisoning across repositories', () => {
  afterAll(async () => {
    for (const c of copies) await cleanup(c);
  });

  it("an attacker's snapshot with the victim's exact lockfile is never used for the victim", async () => {
    const attacker = await copyFixture('deps-poison');
    const victim = await copyFixture('deps-poison');
    copies.push(attacker, victim);
    await writeFile(join(attacker.dir, '.poison'), `${MARK}\n`);

    const a = await test(attacker);
    expect(a.ok, JSON.stringify(a.phases)).toBe(true);
    expect(tail(a)).toContain(MARK);
    expect(a.phases.find((p) => p.name === 'install')?.cache).toMatchObject({ hit: false, saved: true });

    const v = await test(victim);
    expect(v.ok, JSON.stringify(v.phases)).toBe(true);
    // The victim installed for itself (a miss), and its dependencies carry no trace of the attacker.
    expect(v.phases.find((p) => p.name === 'install')?.cache).toMatchObject({ hit: false });
    expect(tail(v)).not.toContain(MARK);
    expect(tail(v)).toMatch(/^stamp \d+ *$/m);
    // And the victim's own next run reuses its own clean snapshot.
    const v2 = await test(victim);
    expect(v2.phases.find((p) => p.name === 'install')?.cache).toMatchObject({ hit: true });
    expect(tail(v2)).not.toContain(MARK);
  }, 300_000);

  it('a source that ships node_modules is installed but never saved', async () => {
    const copy = await copyFixture('deps-poison');
    copies.push(copy);
    await rm(join(copy.dir, '.gitignore'));
    await mkdir(join(copy.dir, 'node_modules', 'x'), { recursive: true });
    await writeFile(join(copy.dir, 'node_modules', 'x', 'stamp'), `${MARK}\n`);
    const infos: string[] = [];
    const r = await test(copy, infos);
    expect(r.ok, JSON.stringify(r.phases)).toBe(true);
    expect(infos.some((m) => m.startsWith('install: not cached (the source already contains node_modules'))).toBe(true);
    expect(r.phases.find((p) => p.name === 'install')?.cache).toBeUndefined();
    expect(await docker.listImages({ filters: { label: [`${LABEL.depsScope}=${copy.repo}`] } })).toEqual([]);
  }, 300_000);
});

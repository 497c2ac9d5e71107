// MCP progress for image pulls, through the SDK's Client over the in-process tier, against a real
// registry (Debian's docker-registry on 127.0.0.1): the workspace's image is pushed there and its
// local copy deleted, so workspace_create and pipeline_run must pull it, and a client that passed
// a progressToken (the SDK's onprogress) gets notifications whose progress/total are byte counts
// and whose message names the layer and its bytes.
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { docker, imageExists } from '../../docker/client.js';
import { describeDocker } from '../helpers/docker.js';
import { ensureRegistryTools, pushAndForget, startRegistry, type Registry } from '../registry/registry.js';
import { startInProcess, textOf, type InProcess } from './inprocess.js';

/** busybox plus a 2 MB layer of random bytes, pushed, then deleted locally. */
async function pushRandom(host: string, name: string): Promise<string> {
  const ref = `${host}/berth-test/${name}:t${process.pid}`;
  await pushAndForget(ref, 2_000_000);
  return ref;
}

async function forget(ref: string): Promise<void> {
  await docker()
    .getImage(ref)
    .remove({ force: true })
    .catch(() => undefined);
  expect(await imageExists(ref)).toBe(false);
}

/** Notifications that carry pull bytes: a byte total, a layer line with MB, progress within the total. */
function byteNotes(notes: Progress[], ref: string): Progress[] {
  return notes.filter((n) => n.total !== undefined && n.message?.startsWith(`pull ${ref}: layer `) && /[\d.]+\/[\d.]+ MB/.test(n.message));
}

describeDocker('MCP progress notifications for image pulls (in-process, real registry)', () => {
  let registry: Registry;
  let ip: InProcess;
  let ref: string;
  /** A second image for pipeline_run: the first stays in use by the workspace's container. */
  let ref2: string;

  beforeAll(async () => {
    ensureRegistryTools();
    registry = await startRegistry();
    ref = await pushRandom(registry.host, 'mcp-progress-ws');
    ref2 = await pushRandom(registry.host, 'mcp-progress-pipeline');
    ip = await startInProcess({ prefix: 'berth-mcp-pull-' });
    ip.fx.write('berth.yaml', `image: ${ref}\ntest: sh tests/run.sh\n`);
    ip.fx.git('commit', '-q', '-am', 'image from the test registry');
  }, 180_000);

  afterAll(async () => {
    await ip?.close();
    if (ref) await forget(ref);
    if (ref2) await forget(ref2);
    await registry?.stop();
  }, 120_000);

  it('workspace_create pulls the missing image and reports per-layer bytes as progress', async () => {
    const notes: Progress[] = [];
    const r = await ip.client.callTool({ name: 'workspace_create', arguments: { name: 'pulled' } }, undefined, {
      onprogress: (p) => notes.push(p),
      timeout: 170_000,
    });
    expect(r.isError, textOf(r as never)).toBeFalsy();
    expect(await imageExists(ref)).toBe(true);
    const bytes = byteNotes(notes, ref);
    expect(bytes.length, JSON.stringify(notes)).toBeGreaterThan(0);
    const last = bytes[bytes.length - 1] as Progress;
    // The pushed layer alone is 2 MB (compressed random bytes stay that size).
    expect(last.total).toBeGreaterThanOrEqual(2_000_000);
    expect(last.progress).toBe(last.total);
    for (const n of bytes) expect(n.progress).toBeLessThanOrEqual(n.total as number);
    // The spec: progress increases with every notification of the request.
    for (let i = 1; i < notes.length; i++) expect(notes[i]?.progress).toBeGreaterThan(notes[i - 1]?.progress as number);
  }, 180_000);

  it('pipeline_run pulls a missing image with the same byte progress', async () => {
    // The checkout's spec is read per call: the pipeline now needs the second image.
    ip.fx.write('berth.yaml', `image: ${ref2}\ntest: sh tests/run.sh\n`);
    ip.fx.git('commit', '-q', '-am', 'pipeline image from the test registry');
    const notes: Progress[] = [];
    const r = await ip.client.callTool({ name: 'pipeline_run', arguments: { workspace: 'pulled', step: 'test' } }, undefined, {
      onprogress: (p) => notes.push(p),
      timeout: 170_000,
    });
    expect(r.isError, textOf(r as never)).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ ok: true, outcome: 'passed' });
    expect(await imageExists(ref2)).toBe(true);
    const bytes = byteNotes(notes, ref2);
    expect(bytes.length, JSON.stringify(notes)).toBeGreaterThan(0);
    expect(bytes[bytes.length - 1]?.total).toBeGreaterThanOrEqual(2_000_000);
    for (let i = 1; i < notes.length; i++) expect(notes[i]?.progress).toBeGreaterThan(notes[i - 1]?.progress as number);
  }, 180_000);
});

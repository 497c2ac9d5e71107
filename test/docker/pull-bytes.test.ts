// pullByteCounter: the running byte totals MCP progress carries. Pure: fed engine-shaped events.
import { describe, expect, it } from 'vitest';
import { pullByteCounter, type PullBytes, type PullProgress } from '../../docker/pull.js';

const ev = (layer: string | undefined, status: string, current?: number, total?: number): PullProgress => ({
  layer,
  status,
  currentBytes: current,
  totalBytes: total,
});

describe('pullByteCounter', () => {
  it('sums download bytes over layers, never counts extraction twice, and ignores layers the engine has', () => {
    const out: PullBytes[] = [];
    const feed = pullByteCounter('reg/img:1', (b) => out.push(b));
    for (const e of [
      ev(undefined, 'Pulling from reg/img'),
      ev('aaa', 'Already exists'),
      ev('bbb', 'Pulling fs layer'),
      ev('ccc', 'Pulling fs layer'),
      ev('bbb', 'Downloading', 100, 1000),
      ev('ccc', 'Downloading', 50, 500),
      ev('bbb', 'Downloading', 600, 1000),
      ev('bbb', 'Download complete'),
      ev('bbb', 'Extracting', 200, 1000),
      ev('ccc', 'Downloading', 500, 500),
      ev('ccc', 'Pull complete'),
    ])
      feed(e);
    expect(out.map((b) => [b.layer, b.status, b.downloadedBytes, b.totalBytes])).toEqual([
      ['bbb', 'Downloading', 100, 1000],
      ['ccc', 'Downloading', 150, 1500],
      ['bbb', 'Downloading', 650, 1500],
      ['bbb', 'Download complete', 1050, 1500],
      ['bbb', 'Extracting', 1050, 1500],
      ['ccc', 'Downloading', 1500, 1500],
      ['ccc', 'Pull complete', 1500, 1500],
    ]);
    expect(out[2]).toMatchObject({ ref: 'reg/img:1', layerCurrentBytes: 600, layerTotalBytes: 1000 });
    for (let i = 1; i < out.length; i++) expect(out[i]!.downloadedBytes).toBeGreaterThanOrEqual(out[i - 1]!.downloadedBytes);
  });
});

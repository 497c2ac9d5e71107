// The output of image build steps: lines reach the progress callback whole, however the chunks
// fall, and a failing host command's error quotes its last 30 lines, the unterminated last one too.
import { describe, expect, it } from 'vitest';
import { run } from '../../docker/images.js';
import { LineTail } from '../../docker/lines.js';

describe('LineTail', () => {
  it('joins lines split across chunks, keeps the last `keep`, and flushes an unterminated last line', () => {
    const seen: string[] = [];
    const t = new LineTail((l) => seen.push(l), 3);
    t.push('one\ntw');
    t.push('o\n');
    t.push('three\nfour\nfi');
    expect(seen).toEqual(['one', 'two', 'three', 'four']);
    t.end();
    expect(seen).toEqual(['one', 'two', 'three', 'four', 'fi']);
    expect(t.text()).toBe('three\nfour\nfi');
    t.end();
    expect(seen).toHaveLength(5);
  });
});

describe('run (host commands of the image builds)', () => {
  it('streams lines and, on failure, quotes the last 30 of stdout and stderr', async () => {
    const lines: string[] = [];
    const script = 'for i in $(seq 1 40); do echo "line $i"; done; printf "no newline at the end" >&2; exit 3';
    const err = await run('sh', ['-c', script], { onLine: (l) => lines.push(l) }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/^sh -c .* exited 3:\n/);
    const quoted = err?.message.split('\n').slice(1) ?? [];
    expect(quoted).toHaveLength(30);
    expect(quoted[0]).toBe('line 12');
    expect(quoted.at(-1)).toBe('no newline at the end');
    expect(lines).toHaveLength(41);
  });

  it('returns the captured output of a command that succeeds', async () => {
    expect(await run('sh', ['-c', 'echo hello; echo world'], { capture: true })).toBe('hello\nworld');
  });
});

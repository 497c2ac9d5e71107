// Pure units of the shell protocol: the bounded collector, the nonce-record scanner, quoting and
// the Docker label/name helpers.
import { describe, expect, it } from 'vitest';
import { buildLabels, LABEL, labelFilter, namePart, sessionContainerName, workspaceFromContainerName } from '../../docker/labels.js';
import { OutputCollector, RecordScanner } from '../../runner/session/output.js';
import { commandLine, quoteSh, token } from '../../runner/session/protocol.js';

describe('OutputCollector', () => {
  it('keeps everything under the cap', () => {
    const c = new OutputCollector(100);
    c.push(Buffer.from('hello '));
    c.push(Buffer.from('world'));
    expect(c.text()).toBe('hello world');
    expect(c.truncated).toBe(false);
    expect(c.totalBytes).toBe(11);
  });

  it('keeps head and tail with an omission marker, counting every byte', () => {
    const c = new OutputCollector(20);
    for (let i = 0; i < 1000; i++) c.push(Buffer.from(`${String(i).padStart(4, '0')}\n`));
    const t = c.text();
    expect(c.truncated).toBe(true);
    expect(c.totalBytes).toBe(5000);
    expect(t.startsWith('0000\n0001\n')).toBe(true);
    expect(t.endsWith('0998\n0999\n')).toBe(true);
    expect(t).toMatch(/4980 bytes omitted/);
  });

  it('never splits a UTF-8 character at the cut points', () => {
    const c = new OutputCollector(11);
    // "€" is 3 bytes; 11-byte cap → head 6 bytes, tail 5 bytes: both cuts fall inside characters.
    c.push(Buffer.from('€€€€€€€€€€'));
    const t = c.text();
    expect(t).not.toContain('\uFFFD');
    const [head, tail] = t.split(/\n\[\.\.\. berth: .* \.\.\.\]\n/);
    expect(head).toBe('€€');
    expect(tail).toBe('€');
  });

  it('decodes live chunks across multi-byte boundaries', () => {
    const seen: string[] = [];
    const c = new OutputCollector(1000, (s) => seen.push(s));
    const bytes = Buffer.from('añb€c😀d');
    for (let i = 0; i < bytes.length; i++) c.push(bytes.subarray(i, i + 1));
    c.endLive();
    expect(seen.join('')).toBe('añb€c😀d');
    expect(c.text()).toBe('añb€c😀d');
  });

  it('with a zero cap keeps nothing but still counts', () => {
    const c = new OutputCollector(0);
    c.push(Buffer.from('abc'));
    expect(c.totalBytes).toBe(3);
    expect(c.truncated).toBe(true);
  });
});

describe('RecordScanner', () => {
  const t = token('0123456789abcdef0123456789abcdef');

  function scanAll(input: Buffer, chunk: number): { payload: string; records: string[] } {
    const s = new RecordScanner(t);
    let payload = '';
    const records: string[] = [];
    for (let i = 0; i < input.length; i += chunk) {
      s.push(
        input.subarray(i, i + chunk),
        (b) => (payload += b.toString('latin1')),
        (r) => {
          records.push(r);
          return true;
        },
      );
    }
    s.flush((b) => (payload += b.toString('latin1')));
    return { payload, records };
  }

  it('finds records split at every possible chunk boundary', () => {
    const input = Buffer.from(`junk${t}B1 2 3${t}out put __berth_ partial ${t}E0 /x y${t}tail`, 'latin1');
    for (const chunk of [1, 2, 3, 7, 41, 42, 43, 1000]) {
      const r = scanAll(input, chunk);
      expect(r.records).toEqual(['B1 2 3', 'E0 /x y']);
      expect(r.payload).toBe('junkout put __berth_ partial tail');
    }
  });

  it('treats a token with a different nonce as payload', () => {
    const other = token('ffffffffffffffffffffffffffffffff');
    const r = scanAll(Buffer.from(`a${other}Bfake${other}b`, 'latin1'), 5);
    expect(r.records).toEqual([]);
    expect(r.payload).toBe(`a${other}Bfake${other}b`);
  });

  it('stops when onRecord returns false and hands back the rest', () => {
    const s = new RecordScanner(t);
    const rest = s.push(
      Buffer.from(`${t}R1${t}after`, 'latin1'),
      () => {},
      () => false,
    );
    expect(rest?.toString()).toBe('after');
  });
});

describe('shell quoting', () => {
  it('single-quotes anything', () => {
    expect(quoteSh(`it's "x" $HOME \`id\` \\`)).toBe(`'it'\\''s "x" $HOME \`id\` \\'`);
  });

  it('builds one command line that keeps the command literal', () => {
    const line = commandLine('n', 't', "echo 'a'\nexit");
    expect(line).toBe(
      `__b_pre n t && for __b_i in 1; do command eval 'echo '\\''a'\\''\nexit' </dev/null >&6 2>&8 6>&- 8>&-; __b_rc=$?; done; __b_post "$__b_rc"\n`,
    );
  });

  it('passes the start time only in /proc/uptime form (anything else: the shell reads its own)', () => {
    expect(commandLine('n', 't', 'true', '123.45')).toMatch(/^__b_pre n t 123\.45 && /);
    for (const bad of ['', '1e9', '12', '1.2; rm -rf /', '$(id)']) expect(commandLine('n', 't', 'true', bad)).toMatch(/^__b_pre n t && /);
  });
});

describe('labels', () => {
  const repo = { path: '/home/u/proj', id: 'proj-0123456789' };

  it('builds the label map with berth keys winning over extras', () => {
    const l = buildLabels({ role: 'session', repo, workspace: 'demo', extra: { [LABEL.managed]: '0', 'x.test': '1' } });
    expect(l[LABEL.managed]).toBe('1');
    expect(l[LABEL.role]).toBe('session');
    expect(l[LABEL.repoId]).toBe('proj-0123456789');
    expect(l[LABEL.workspace]).toBe('demo');
    expect(l['x.test']).toBe('1');
  });

  it('filters by managed, role, repo id and extras', () => {
    expect(labelFilter({ role: 'pool', repo, extra: { a: 'b' } }).label).toEqual([
      'dev.berth.managed=1',
      'dev.berth.role=pool',
      'dev.berth.repo-id=proj-0123456789',
      'a=b',
    ]);
  });

  it('round-trips workspace names through container names', () => {
    const n = sessionContainerName(repo, 'feat.x_1');
    expect(n).toBe('berth-ws-proj-0123456789-feat.x_1');
    expect(workspaceFromContainerName(repo, `/${n}`)).toBe('feat.x_1');
    expect(workspaceFromContainerName({ ...repo, id: 'other-1' }, n)).toBeUndefined();
    expect(namePart('a b/c')).toBe('a_b_c');
  });
});

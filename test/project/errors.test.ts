import { describe, expect, it } from 'vitest';
import { BerthError, isBerthError } from '../../src/errors.js';
import { MAX_SPEC_FILE_CHARS, parseSpecFile, resolveSpec, type SpecProblem } from '../../src/project/index.js';
import { reader } from './tree.js';

/** Resolve a real tree whose berth.yaml is `yaml` and return the error it must raise. */
async function specError(yaml: string): Promise<BerthError> {
  const r = await reader({ 'berth.yaml': yaml });
  try {
    await resolveSpec(r);
  } catch (e) {
    if (e instanceof BerthError) return e;
    throw e;
  }
  throw new Error(`expected berth.yaml to be rejected:\n${yaml}`);
}

function problems(e: BerthError): SpecProblem[] {
  return (e.details?.problems ?? []) as SpecProblem[];
}

describe('berth.yaml errors name the file, line, column and field', () => {
  it('YAML syntax error → SPEC_YAML with the line', async () => {
    const e = await specError('image: a\nenv:\n  A: "unterminated\nnetwork: none\nbuild: [a, b\n');
    expect(e.code).toBe('SPEC_YAML');
    expect(e.message).toMatch(/^berth\.yaml:\d+:\d+: invalid YAML: /);
    expect(e.details?.line).toBeGreaterThanOrEqual(3);
    expect(e.message).toContain(`berth.yaml:${e.details?.line as number}:`);
  });

  it('a bad flow sequence is reported at its line', async () => {
    const e = await specError('image: a\nbuild: [a, b\n');
    expect(e.code).toBe('SPEC_YAML');
    expect(e.message).toMatch(/^berth\.yaml:3:1: invalid YAML: .*\]/);
  });

  it('duplicate keys, several documents and unknown tags are YAML errors too', async () => {
    expect((await specError('network: none\nnetwork: host\n')).message).toMatch(/^berth\.yaml:2:1: invalid YAML: Map keys must be unique/);
    expect((await specError('network: none\n---\nnetwork: host\n')).code).toBe('SPEC_YAML');
    const tag = await specError('image: !sneaky foo\n');
    expect(tag.code).toBe('SPEC_YAML');
    expect(tag.message).toMatch(/^berth\.yaml:1:8: invalid YAML: Unresolved tag: !sneaky/);
  });

  it('unknown top-level key → SPEC_INVALID with a suggestion', async () => {
    const e = await specError('image: a\nimgae: b\n');
    expect(e.code).toBe('SPEC_INVALID');
    expect(e.message).toMatch(/^berth\.yaml:2:1: imgae: unknown field; did you mean "image"\?/);
    expect(problems(e)).toEqual([{ file: 'berth.yaml', line: 2, col: 1, field: 'imgae', message: 'unknown field; did you mean "image"?' }]);
  });

  it('unknown key far from any field lists the valid ones; nested typos are caught too', async () => {
    const e = await specError('resources:\n  memoryMB: 512\ncolour: blue\n');
    expect(e.message).toContain('berth.yaml:2:3: resources.memoryMB: unknown field; did you mean "memoryMb"?');
    expect(e.message).toMatch(/berth\.yaml:3:1: colour: unknown field; valid fields: image, workdir, env/);
  });

  it('wrong type → SPEC_INVALID quoting the value', async () => {
    const e = await specError('image: a\ntest:\n  run: npm test\n');
    expect(e.code).toBe('SPEC_INVALID');
    expect(e.message).toMatch(/^berth\.yaml:3:3: test: expected a shell command or a list of shell commands, got a mapping/);
    const el = await specError('build:\n  - make\n  - 42\n');
    expect(el.message).toMatch(/^berth\.yaml:3:5: build\[1\]: expected a shell command \(a string\), got 42/);
  });

  it('non-integer memory → the message from the brief', async () => {
    const e = await specError('image: a\nresources:\n  cpus: 1\n  memoryMb: lots\n');
    expect(e.code).toBe('SPEC_INVALID');
    expect(e.message).toMatch(/^berth\.yaml:4:13: resources\.memoryMb: expected an integer >= 16\b.*, got "lots"/);
  });

  it('negative resources', async () => {
    const e = await specError('resources:\n  cpus: -1\n  pids: -5\n');
    expect(e.code).toBe('SPEC_INVALID');
    expect(e.message).toContain('berth.yaml:2:9: resources.cpus: expected a number of CPUs > 0 (e.g. 1.5), got -1');
    expect(e.message).toMatch(/berth\.yaml:3:9: resources\.pids: expected an integer >= 16.*got -5/);
  });

  it('bad network value', async () => {
    const e = await specError('network: internet\n');
    expect(e.code).toBe('SPEC_INVALID');
    expect(e.message).toMatch(/^berth\.yaml:1:10: network: expected one of none, bridge, host, got "internet"/);
  });

  it('relative workdir, "..", and system directories', async () => {
    const rel = await specError('\nworkdir: src/app\n');
    expect(rel.code).toBe('SPEC_INVALID');
    expect(rel.message).toMatch(/^berth\.yaml:2:10: workdir: expected the workdir to be an absolute container path \(starting with \/\), got "src\/app"/);
    expect((await specError('workdir: /a/../etc\n')).message).toMatch(/^berth\.yaml:1:10: workdir: .*"\." or "\.\."/);
    expect((await specError('workdir: /etc/\n')).message).toMatch(/^berth\.yaml:1:10: workdir: .*not a system directory/);
    expect((await specError('caches:\n  c: "/x:/y"\n')).message).toMatch(/^berth\.yaml:2:6: caches\.c: .*letters, digits/);
  });

  it('bad duration', async () => {
    const e = await specError('idleTimeout: 90 minutes\ntimeout: 0s\n');
    expect(e.code).toBe('SPEC_INVALID');
    expect(e.message).toMatch(/^berth\.yaml:1:14: idleTimeout: expected a duration: .*got "90 minutes"/);
    expect(e.message).toMatch(/berth\.yaml:2:10: timeout: expected a duration between 1s and 7d, got "0s"/);
    expect((await specError('timeout: 30d\n')).message).toContain('timeout: expected a duration between 1s and 7d');
  });

  it('bad env key, and an empty env value', async () => {
    const e = await specError('env:\n  GOOD: 1\n  1BAD: x\n  "WITH SPACE": y\n  EMPTY:\n');
    expect(e.code).toBe('SPEC_INVALID');
    expect(e.message).toContain('berth.yaml:3:3: env["1BAD"]: expected an environment variable name');
    expect(e.message).toContain('berth.yaml:4:3: env["WITH SPACE"]: expected an environment variable name');
    expect(e.message).toMatch(/berth\.yaml:5:3: env\.EMPTY: expected a string, number or boolean value.*got an empty value/);
  });

  it('collects every problem, in file order, not just the first', async () => {
    const e = await specError('network: internet\nresources:\n  memoryMb: 1\npool:\n  size: 99\nimgae: x\nuser: "root; rm -rf /"\n');
    expect(e.code).toBe('SPEC_INVALID');
    expect(problems(e).map((p) => [p.line, p.field])).toEqual([
      [1, 'network'],
      [3, 'resources.memoryMb'],
      [5, 'pool.size'],
      [6, 'imgae'],
      [7, 'user'],
    ]);
    expect(e.message).toContain('(5 problems in berth.yaml)');
    expect(e.message).toMatch(/berth init --force/); // the remedy
  });

  it('a missing field in a list entry points at the entry', async () => {
    const e = await specError('volumes:\n  - name: data\n  - name: data\n    path: /d\n');
    expect(e.message).toContain('berth.yaml:2:5: volumes[0].path: expected a mount path (an absolute container path such as /workspace), but it is missing');
    const dup = await specError('volumes:\n  - name: data\n    path: /a\n  - name: data\n    path: /d\n');
    expect(dup.message).toContain('berth.yaml:4:11: volumes[1].name: duplicate name "data" (also used by entry 0); give each its own name');
  });

  it('hostile values: shell-ish image, huge file, top-level list', async () => {
    expect((await specError('image: "alpine --privileged"\n')).message).toMatch(/^berth\.yaml:1:8: image: expected an image reference/);
    expect((await specError('- a\n- b\n')).message).toMatch(/^berth\.yaml:1:1: expected a mapping of berth\.yaml fields.*got a list/);
    const big = await specError(`# ${'x'.repeat(MAX_SPEC_FILE_CHARS)}\n`);
    expect(big.code).toBe('SPEC_INVALID');
    expect(big.message).toMatch(/^berth\.yaml: file is \d+ characters/);
  });

  it('an empty or comment-only file is an empty spec', () => {
    expect(parseSpecFile('', 'berth.yaml').spec).toEqual({});
    expect(parseSpecFile('# nothing yet\n', 'berth.yaml').spec).toEqual({});
  });

  it('uses the label it is given', () => {
    try {
      parseSpecFile('network: x\n', 'sub/berth.yaml');
      expect.unreachable();
    } catch (e) {
      expect(isBerthError(e, 'SPEC_INVALID')).toBe(true);
      expect((e as Error).message).toMatch(/^sub\/berth\.yaml:1:10: network:/);
    }
  });
});

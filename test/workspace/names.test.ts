import { describe, expect, it } from 'vitest';
import { isBerthError } from '../../src/errors.js';
import { assertValidName, formatAge, isValidName, parseDuration } from '../../src/workspace/index.js';

describe('workspace names', () => {
  it.each([
    ['--upload-pack=x'],
    ['..'],
    ['a..b'],
    ['a/b'],
    ['foo bar'],
    ['café'],
    [''],
    ['a'.repeat(64)],
    ['Upper'],
    ['-x'],
    ['x.lock'],
    ['x.'],
    ['.hidden'],
    ['_x'],
    ['a\nb'],
    ['a\0b'],
    ['@{-1}'],
    ['HEAD~1'],
  ])('rejects %j with INVALID_NAME quoting the value and the rule', (name) => {
    expect(isValidName(name)).toBe(false);
    let err: unknown;
    try {
      assertValidName(name);
    } catch (e) {
      err = e;
    }
    expect(isBerthError(err, 'INVALID_NAME')).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toContain(`workspace ${JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name)} is not a valid name`);
    expect(msg).toContain("use a-z, 0-9, '.', '_' or '-' (max 63), starting with a letter or digit");
  });

  it.each([['demo'], ['a'], ['9lives'], ['fix-login_2.v3'], ['a'.repeat(63)], ['x.lockx']])('accepts %j', (name) => {
    expect(isValidName(name)).toBe(true);
    expect(() => assertValidName(name)).not.toThrow();
  });

  it('rejects non-strings', () => {
    expect(isValidName(undefined)).toBe(false);
    expect(isValidName(42)).toBe(false);
  });
});

describe('durations', () => {
  it.each([
    ['30m', 30 * 60_000],
    ['12h', 12 * 3_600_000],
    ['7d', 7 * 86_400_000],
    ['45s', 45_000],
    ['2w', 14 * 86_400_000],
    ['1d12h', 36 * 3_600_000],
    ['0s', 0],
  ])('parses %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([['7'], ['7x'], ['d7'], [''], ['-1d'], ['1.5h'], ['7d junk']])('rejects %j with BAD_INPUT', (text) => {
    expect(() => parseDuration(text)).toThrowError(/is not valid: use a number and a unit/);
  });

  it('formats ages with the largest unit', () => {
    expect(formatAge(3 * 86_400_000 + 5)).toBe('3d');
    expect(formatAge(90 * 60_000)).toBe('1h');
    expect(formatAge(5_000)).toBe('5s');
  });
});

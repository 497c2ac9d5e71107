// The CLI's shared argument parsers: a good value becomes a number, a bad one is commander's usage
// error quoting it (so `berth` exits 1 with the message, not a stack).
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { bytesArg, positiveIntArg } from '../../runner/cli/args.js';

describe('bytesArg (exec --max-output, ws import --max-bytes)', () => {
  it('takes plain byte counts and binary units', () => {
    expect(bytesArg('65536')).toBe(65536);
    expect(bytesArg('0')).toBe(0);
    expect(bytesArg('64k')).toBe(64 * 1024);
    expect(bytesArg('500M')).toBe(500 * 1024 ** 2);
    expect(bytesArg('8g')).toBe(8 * 1024 ** 3);
    expect(bytesArg('2GiB')).toBe(2 * 1024 ** 3);
    expect(bytesArg(' 1t ')).toBe(1024 ** 4);
  });

  it('refuses what is not a size, and sizes past 2^53 bytes', () => {
    for (const bad of ['', 'x', '-1', '1.5g', '10 mb', '12p', '99999999t']) {
      expect(() => bytesArg(bad), bad).toThrow(InvalidArgumentError);
    }
    expect(() => bytesArg('lots')).toThrow('"lots" is not a size');
  });
});

describe('positiveIntArg', () => {
  it('takes whole numbers from 1', () => {
    expect(positiveIntArg('200000')).toBe(200000);
    for (const bad of ['0', '-3', '1e3', 'x']) expect(() => positiveIntArg(bad), bad).toThrow(InvalidArgumentError);
  });
});

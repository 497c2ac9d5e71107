// docs/scale.md maps every method of the Runtime seam (docker/runtime.ts) onto Kubernetes, and
// names no method the seam does not have: the doc and the code change together.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

function runtimeMethods(): string[] {
  const src = readFileSync(resolve(root, 'docker/runtime.ts'), 'utf8');
  const body = src.slice(src.indexOf('export interface Runtime {'), src.indexOf('\n}\n', src.indexOf('export interface Runtime {')));
  return [...body.matchAll(/^ {2}(\w+)\(/gm)].map((m) => m[1]!);
}

it('docs/scale.md maps exactly the methods of the Runtime interface', () => {
  const methods = runtimeMethods();
  expect(methods.length).toBeGreaterThanOrEqual(10);
  const doc = readFileSync(resolve(root, 'docs/scale.md'), 'utf8');
  const header = doc.indexOf('| `Runtime` method |');
  expect(header).toBeGreaterThan(0);
  // The rows after the header and its | --- | separator, up to the blank line ending the table.
  const rowsStart = doc.indexOf('\n', doc.indexOf('| --- |', header)) + 1;
  const table = doc.slice(rowsStart, doc.indexOf('\n\n', rowsStart));
  const documented = new Set([...table.matchAll(/^\| ([^|]+) \|/gm)].flatMap((m) => [...m[1]!.matchAll(/`(\w+)/g)].map((x) => x[1]!)));
  expect([...documented].sort()).toEqual([...methods].sort());
});

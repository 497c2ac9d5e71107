// The Dagger module as the Dagger TypeScript SDK itself sees it: its own introspector (the code the
// SDK runtime runs to register a module's functions with the engine) over src/index.ts. No Dagger
// engine can run here, so this is how we know `dagger functions` lists every function with its
// description, and that `dagger call test` needs no flags (every source defaults to the repo root).
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SDK = join(ROOT, 'node_modules/@dagger.io/dagger/dist/src');

interface TypeDef {
  readonly kind: string;
  readonly name?: string;
}
interface Arg {
  readonly name: string;
  readonly description: string;
  readonly type?: TypeDef;
  readonly isOptional: boolean;
  readonly defaultPath?: string;
  readonly ignore?: string[];
}
interface Fn {
  readonly name: string;
  readonly description: string;
  readonly arguments: Record<string, Arg>;
  readonly returnType?: TypeDef;
}
interface Obj {
  readonly name: string;
  readonly description: string;
  readonly methods: Record<string, Fn>;
}
interface ScannedModule {
  readonly name: string;
  readonly description: string;
  readonly objects: Record<string, Obj>;
}
type Scan = (files: string[], moduleName?: string, loadModule?: boolean) => Promise<ScannedModule>;

const FUNCTIONS = ['build', 'test', 'lint', 'check', 'run', 'workspace'];
let work: string;
let mod: ScannedModule;

beforeAll(async () => {
  // In a real module the SDK's sources sit next to it (sdk/src/api/client.gen.ts), and the
  // introspector resolves core types (Directory, Container) by finding their classes in a file
  // named client.gen.ts. The npm package ships that file as declarations only, which a .ts file
  // can hold verbatim, so the test supplies it under the name the introspector looks for.
  work = await mkdtemp(join(tmpdir(), 'berth-introspect-'));
  await copyFile(join(SDK, 'api/client.gen.d.ts'), join(work, 'client.gen.ts'));
  const { scan } = (await import(join(SDK, 'module/introspector/index.js'))) as { scan: Scan };
  // loadModule=false: the SDK runtime would also import the module to bind the decorated class,
  // which needs its TypeScript loader; the function and argument definitions come from the AST.
  mod = await scan([join(ROOT, 'src/index.ts'), join(work, 'client.gen.ts')], 'berth', false);
}, 60_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('src/index.ts through the Dagger SDK introspector', () => {
  it('declares one object, Berth, with a description', () => {
    expect(mod.name).toBe('Berth');
    expect(mod.description).toMatch(/Dagger module/);
    expect(Object.keys(mod.objects)).toEqual(['Berth']);
    expect(mod.objects.Berth?.description).toMatch(/build, test and lint steps/);
  });

  it('exposes every function, each with a description and its return type', () => {
    const methods = mod.objects.Berth?.methods ?? {};
    expect(Object.keys(methods)).toEqual(FUNCTIONS);
    for (const fn of Object.values(methods)) {
      expect(fn.description.length, `${fn.name} has no description`).toBeGreaterThan(20);
      expect(fn.returnType, fn.name).toEqual(fn.name === 'workspace' ? { kind: 'OBJECT_KIND', name: 'Container' } : { kind: 'STRING_KIND' });
    }
  });

  it('every source is a Directory defaulting to the repository root, with dependency and build dirs ignored', () => {
    for (const fn of Object.values(mod.objects.Berth?.methods ?? {})) {
      const source = fn.arguments.source;
      expect(source, `${fn.name} has no source argument`).toBeDefined();
      expect(source?.type).toEqual({ kind: 'OBJECT_KIND', name: 'Directory' });
      expect(source?.defaultPath, fn.name).toBe('/');
      expect(source?.ignore).toEqual(expect.arrayContaining(['**/.git', '**/node_modules', '**/dist', '**/target', '**/.venv']));
      expect(source?.description).toMatch(/project directory/);
    }
  });

  it('every argument has a description; run takes the command as a required string', () => {
    const methods = mod.objects.Berth?.methods ?? {};
    for (const fn of Object.values(methods)) {
      for (const arg of Object.values(fn.arguments)) expect(arg.description.length, `${fn.name}(${arg.name})`).toBeGreaterThan(10);
    }
    expect(Object.keys(methods.run?.arguments ?? {})).toEqual(['source', 'cmd']);
    expect(methods.run?.arguments.cmd).toMatchObject({ type: { kind: 'STRING_KIND' }, isOptional: false });
    expect(methods.test?.arguments).not.toHaveProperty('cmd');
  });
});

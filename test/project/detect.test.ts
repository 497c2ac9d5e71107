import { describe, expect, it } from 'vitest';
import { DEFAULT_NODE_MAJOR, nodeImage } from '../../src/images.js';
import type { SourceReader } from '../../src/source-reader.js';
import { CACHE_ROOT, detect, makeTargets, TOOLCHAIN_IMAGES } from '../../src/project/index.js';
import { pkg, reader } from './tree.js';

describe('detect: node', () => {
  it('npm with package-lock.json: npm ci, scripts that exist, npm cache', async () => {
    const d = await detect(await reader({ 'package.json': pkg({ build: 'tsc', test: 'vitest run', lint: 'eslint .' }), 'package-lock.json': '{}' }));
    expect(d.toolchain).toBe('node');
    expect(d.packageManager).toBe('npm');
    expect(d.evidence).toEqual(['package.json', 'package-lock.json']);
    expect(d.spec.image).toBe(TOOLCHAIN_IMAGES.node);
    expect(d.spec.image).toBe(nodeImage(DEFAULT_NODE_MAJOR).ref);
    expect(d.spec.install).toEqual(['npm ci']);
    expect(d.spec.build).toEqual(['npm run build']);
    expect(d.spec.test).toEqual(['npm test']);
    expect(d.spec.lint).toEqual(['npm run lint']);
    expect(d.spec.caches).toEqual([{ name: 'npm', path: `${CACHE_ROOT}/npm` }]);
    expect(d.spec.env).toEqual({ npm_config_cache: `${CACHE_ROOT}/npm` });
  });

  it('npm without a lockfile: npm install; missing scripts and the npm-init placeholder are not steps', async () => {
    const d = await detect(await reader({ 'package.json': pkg({ test: 'echo "Error: no test specified" && exit 1', start: 'node .' }) }));
    expect(d.packageManager).toBe('npm');
    expect(d.spec.install).toEqual(['npm install']);
    expect(d.spec.build).toBeUndefined();
    expect(d.spec.test).toBeUndefined();
    expect(d.spec.lint).toBeUndefined();
  });

  it('pnpm-lock.yaml → pnpm', async () => {
    const d = await detect(await reader({ 'package.json': pkg({ build: 'vite build', test: 'vitest' }), 'pnpm-lock.yaml': "lockfileVersion: '9.0'\n" }));
    expect(d.packageManager).toBe('pnpm');
    expect(d.spec.install).toEqual(['pnpm install --frozen-lockfile']);
    expect(d.spec.build).toEqual(['pnpm run build']);
    expect(d.spec.test).toEqual(['pnpm test']);
    expect(d.spec.caches?.map((c) => c.name)).toEqual(['pnpm']);
    expect(d.spec.env?.npm_config_store_dir).toBe(`${CACHE_ROOT}/pnpm`);
  });

  it('yarn.lock → yarn (classic), and --immutable for yarn berry', async () => {
    const classic = await detect(await reader({ 'package.json': pkg({ lint: 'eslint .' }), 'yarn.lock': '' }));
    expect(classic.packageManager).toBe('yarn');
    expect(classic.spec.install).toEqual(['yarn install --frozen-lockfile']);
    expect(classic.spec.lint).toEqual(['yarn run lint']);
    expect(classic.spec.env?.YARN_CACHE_FOLDER).toBe(`${CACHE_ROOT}/yarn`);

    const berry = await detect(await reader({ 'package.json': pkg({}), 'yarn.lock': '', '.yarnrc.yml': 'nodeLinker: node-modules\n' }));
    expect(berry.spec.install).toEqual(['yarn install --immutable']);
  });

  it('the packageManager field (corepack) wins over a stale lockfile of another manager', async () => {
    const d = await detect(await reader({ 'package.json': pkg({}, { packageManager: 'pnpm@9.1.0' }), 'package-lock.json': '{}' }));
    expect(d.packageManager).toBe('pnpm');
    expect(d.spec.install).toEqual(['pnpm install']);
  });

  it('an unparseable package.json still means node, with a warning and no steps', async () => {
    const d = await detect(await reader({ 'package.json': '{ "scripts": { "test": ', 'package-lock.json': '{}' }));
    expect(d.toolchain).toBe('node');
    expect(d.warnings.join()).toMatch(/package\.json is not valid JSON/);
    expect(d.spec.test).toBeUndefined();
    expect(d.spec.install).toEqual(['npm ci']);
  });

  it('ignores non-string scripts', async () => {
    const d = await detect(await reader({ 'package.json': JSON.stringify({ scripts: { build: 42, test: ['x'], lint: 'eslint .' } }) }));
    expect(d.spec.build).toBeUndefined();
    expect(d.spec.test).toBeUndefined();
    expect(d.spec.lint).toEqual(['npm run lint']);
  });

  it('node wins over a Makefile in the same tree', async () => {
    const d = await detect(await reader({ 'package.json': pkg({ test: 'vitest' }), Makefile: 'test:\n\tmake-test\n' }));
    expect(d.toolchain).toBe('node');
    expect(d.spec.test).toEqual(['npm test']);
  });
});

describe('detect: python', () => {
  it('requirements.txt → pip install -r, pytest, pip cache', async () => {
    const d = await detect(await reader({ 'requirements.txt': 'requests\n' }));
    expect(d.toolchain).toBe('python');
    expect(d.packageManager).toBeUndefined();
    expect(d.spec.install).toEqual(['python3 -m pip install -r requirements.txt']);
    expect(d.spec.test).toEqual(['python3 -m pytest']);
    expect(d.spec.lint).toBeUndefined();
    expect(d.spec.caches).toEqual([{ name: 'pip', path: `${CACHE_ROOT}/pip` }]);
    expect(d.spec.env?.PIP_CACHE_DIR).toBe(`${CACHE_ROOT}/pip`);
    expect(d.spec.image).toBe(TOOLCHAIN_IMAGES.python);
  });

  it('pyproject.toml with [project] dependencies and ruff config → editable install and ruff lint', async () => {
    const d = await detect(await reader({ 'pyproject.toml': '[project]\nname = "x"\ndependencies = ["attrs"]\n\n[tool.ruff]\nline-length = 100\n' }));
    expect(d.spec.install).toEqual(['python3 -m pip install -e .']);
    expect(d.spec.lint).toEqual(['ruff check .']);
    expect(d.evidence).toEqual(['pyproject.toml']);
  });

  it('setup.py + requirements-dev.txt + .flake8', async () => {
    const d = await detect(
      await reader({
        'setup.py': 'from setuptools import setup\nsetup(install_requires=["attrs"])\n',
        'requirements-dev.txt': 'pytest\n',
        '.flake8': '[flake8]\n',
      }),
    );
    expect(d.toolchain).toBe('python');
    expect(d.spec.install).toEqual(['python3 -m pip install -r requirements-dev.txt', 'python3 -m pip install -e .']);
    expect(d.spec.lint).toEqual(['flake8']);
  });

  it('a package with no dependencies is not installed; a src layout gets PYTHONPATH=src', async () => {
    const flat = await detect(await reader({ 'setup.py': 'from setuptools import setup\nsetup(name="six")\n' }));
    expect(flat.spec.install).toEqual([]);
    expect(flat.spec.test).toEqual(['python3 -m pytest']);
    const src = await detect(await reader({ 'pyproject.toml': '[project]\nname = "x"\ndependencies = []\n', 'src/x/__init__.py': '' }));
    expect(src.spec.install).toEqual([]);
    expect(src.spec.env?.PYTHONPATH).toBe('src');
  });

  it('poetry projects use poetry; uv.lock falls back to pip with a warning (the offline image has no uv)', async () => {
    const poetry = await detect(await reader({ 'pyproject.toml': '[tool.poetry]\nname = "x"\n', 'poetry.lock': '' }));
    expect(poetry.spec.install).toEqual(['poetry install --no-interaction']);
    expect(poetry.spec.test).toEqual(['poetry run pytest']);
    const uv = await detect(await reader({ 'pyproject.toml': '[project]\nname = "x"\ndependencies = ["a"]\n', 'uv.lock': '' }));
    expect(uv.spec.install).toEqual(['python3 -m pip install -e .']);
    expect(uv.spec.test).toEqual(['python3 -m pytest']);
    expect(uv.warnings.join('\n')).toMatch(/uv\.lock found.*no uv/);
  });
});

describe('detect: go, rust', () => {
  it('go.mod → go build/test/vet with GOMODCACHE and GOCACHE caches', async () => {
    const d = await detect(await reader({ 'go.mod': 'module example.com/x\n\ngo 1.22\n', 'main.go': 'package main\n' }));
    expect(d.toolchain).toBe('go');
    expect(d.spec.build).toEqual(['go build ./...']);
    expect(d.spec.test).toEqual(['go test ./...']);
    expect(d.spec.lint).toEqual(['go vet ./...']);
    expect(d.spec.install).toEqual(['go mod download']);
    expect(d.spec.env).toEqual({ GOMODCACHE: `${CACHE_ROOT}/go-mod`, GOCACHE: `${CACHE_ROOT}/go-build` });
    expect(d.spec.caches?.map((c) => c.path).sort()).toEqual([`${CACHE_ROOT}/go-build`, `${CACHE_ROOT}/go-mod`]);
    expect(d.spec.image).toBe(TOOLCHAIN_IMAGES.go);
  });

  it('Cargo.toml → cargo build/test/clippy with the cargo registry cached', async () => {
    const d = await detect(await reader({ 'Cargo.toml': '[package]\nname = "x"\nversion = "0.1.0"\n', 'Cargo.lock': '' }));
    expect(d.toolchain).toBe('rust');
    expect(d.spec.build).toEqual(['cargo build']);
    expect(d.spec.test).toEqual(['cargo test']);
    expect(d.spec.lint?.[0]).toMatch(/^cargo clippy/);
    expect(d.spec.caches).toEqual([{ name: 'cargo', path: `${CACHE_ROOT}/cargo` }]);
    expect(d.spec.env?.CARGO_HOME).toBe(`${CACHE_ROOT}/cargo`);
    expect(d.evidence).toEqual(['Cargo.toml', 'Cargo.lock']);
  });
});

describe('detect: make, generic', () => {
  const makefile = [
    '# build: not a target, a comment',
    'CC := gcc',
    'FLAGS ::= -O2',
    'URL = http://example.com:8080',
    '.PHONY: build test',
    'build: deps',
    '\tlint: this is a recipe line, not a target',
    'test check:: build',
    '\t$(CC) -o t t.c',
    '%.o: %.c',
    '',
  ].join('\n');

  it('uses only the targets the Makefile defines', async () => {
    const d = await detect(await reader({ Makefile: makefile }));
    expect(d.toolchain).toBe('make');
    expect(d.evidence).toEqual(['Makefile']);
    expect(d.spec.build).toEqual(['make build']);
    expect(d.spec.test).toEqual(['make test']);
    expect(d.spec.lint).toBeUndefined();
    expect(d.spec.caches).toBeUndefined();
  });

  it('makeTargets parses rules and skips variables, recipes and comments', () => {
    const t = makeTargets(`${makefile}lint \\\n  fmt: ; echo\n`);
    expect([...t].sort()).toEqual(['build', 'check', 'fmt', 'lint', 'test']);
    expect(t.has('.PHONY')).toBe(false); // special targets are not steps
    expect(t.has('CC')).toBe(false);
    expect(t.has('URL')).toBe(false);
  });

  it('an empty tree is generic: default image, no steps', async () => {
    const d = await detect(await reader({ 'README.md': '# hi\n' }));
    expect(d.toolchain).toBe('generic');
    expect(d.packageManager).toBeUndefined();
    expect(d.spec).toEqual({ image: TOOLCHAIN_IMAGES.generic });
  });

  it('reads only through the SourceReader (works on a tree that is not on disk)', async () => {
    const files: Record<string, string> = { 'go.mod': 'module m\n' };
    const memory: SourceReader = {
      label: 'in-memory',
      listRoot: async () => Object.keys(files),
      readFile: async (p) => files[p],
    };
    expect((await detect(memory)).toolchain).toBe('go');
  });
});

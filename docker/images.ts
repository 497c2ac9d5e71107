/**
 * Builds berth's images without a registry: busybox-static imported as a rootfs, and a Debian
 * bookworm rootfs made by debootstrap (mirror read from this machine's apt sources). Existing images
 * are never rebuilt. Building needs root (debootstrap, chroot, mount) and Debian's apt.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile, copyFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IMAGES, type BuiltinImageKey } from '../src/images.js';
import { BerthError } from '../src/errors.js';
import { call, docker, imageExists, type Docker } from './client.js';
import { LineTail } from './lines.js';
import { followProgress } from './progress.js';

export type Progress = (line: string) => void;

export interface ImageStatus {
  key: BuiltinImageKey;
  ref: string;
  present: boolean;
}

export async function imageStatus(client: Docker = docker()): Promise<ImageStatus[]> {
  return Promise.all(
    (Object.keys(IMAGES) as BuiltinImageKey[]).map(async (key) => ({
      key,
      ref: IMAGES[key],
      present: await imageExists(IMAGES[key], client),
    })),
  );
}

/** Ensure every builtin image exists; returns the ones that were built. */
export async function ensureImages(opts: { only?: BuiltinImageKey[]; onProgress?: Progress; signal?: AbortSignal } = {}): Promise<BuiltinImageKey[]> {
  const built: BuiltinImageKey[] = [];
  const keys = opts.only ?? (Object.keys(IMAGES) as BuiltinImageKey[]);
  for (const key of keys) {
    if (await ensureImage(key, opts)) built.push(key);
  }
  return built;
}

/** Build `key` unless it already exists. Returns true if it was built. */
export async function ensureImage(key: BuiltinImageKey, opts: { onProgress?: Progress; signal?: AbortSignal } = {}): Promise<boolean> {
  const ref = IMAGES[key];
  const say = opts.onProgress ?? (() => {});
  if (await imageExists(ref)) {
    say(`${ref}: present`);
    return false;
  }
  const started = Date.now();
  say(`${ref}: building ...`);
  const work = await mkdtemp(join(tmpdir(), `berth-image-${key}-`));
  try {
    const rootfs = join(work, 'rootfs');
    await mkdir(rootfs);
    if (key === 'busybox') await busyboxRootfs(rootfs, say, opts.signal);
    else await debianRootfs(rootfs, say, { withNode: key === 'node', signal: opts.signal });
    say(`${ref}: importing rootfs into Docker ...`);
    await importRootfs(rootfs, ref, key === 'busybox' ? '/bin/sh' : '/bin/bash');
  } catch (err) {
    throw err instanceof BerthError ? err : new BerthError('IMAGE_BUILD_FAILED', `building ${ref} failed: ${(err as Error).message}`, { cause: err });
  } finally {
    await run('umount', ['-l', join(work, 'rootfs', 'proc')], { allowFail: true });
    await rm(work, { recursive: true, force: true });
  }
  say(`${ref}: built in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return true;
}

function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    throw new BerthError(
      'IMAGE_BUILD_FAILED',
      `${what} needs root (debootstrap/chroot/apt). Re-run as root, or build/pull an image yourself and set 'image' in berth.yaml.`,
    );
  }
}

async function aptInstall(pkgs: string[], say: Progress, signal?: AbortSignal): Promise<void> {
  requireRoot(`installing ${pkgs.join(', ')}`);
  say(`apt-get install ${pkgs.join(' ')} ...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await run('apt-get', ['update', '-qq'], { env, signal });
  await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { env, signal });
}

async function busyboxRootfs(rootfs: string, say: Progress, signal?: AbortSignal): Promise<void> {
  const bin = '/bin/busybox';
  if (!existsSync(bin) || !(await isStatic(bin))) await aptInstall(['busybox-static'], say, signal);
  for (const d of ['bin', 'etc', 'tmp', 'root', 'proc', 'sys', 'dev', 'workspace']) {
    await mkdir(join(rootfs, d), { recursive: true });
  }
  await chmod(join(rootfs, 'tmp'), 0o1777);
  await copyFile(bin, join(rootfs, 'bin', 'busybox'));
  await chmod(join(rootfs, 'bin', 'busybox'), 0o755);
  const applets = (await run(bin, ['--list'], { capture: true })).split('\n').filter(Boolean);
  for (const a of applets) {
    if (a === 'busybox' || a.includes('/')) continue;
    await symlink('busybox', join(rootfs, 'bin', a)).catch(() => {});
  }
  await writeFile(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  await writeFile(join(rootfs, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
}

async function isStatic(path: string): Promise<boolean> {
  // A dynamically linked busybox (package "busybox") would not run in an empty rootfs.
  const out = await run('file', ['-b', path], { capture: true, allowFail: true });
  return out === '' ? true : /static/i.test(out);
}

/** The first Debian mirror in this machine's apt sources that serves bookworm. */
export function debianMirror(): string {
  const fromEnv = process.env.BERTH_DEBIAN_MIRROR;
  if (fromEnv) return fromEnv;
  return aptSourceFor('bookworm');
}

/**
 * The URI this machine's apt sources use for `suite`. A suite the machine does not list
 * (bookworm-backports) lives in the same archive as bookworm itself.
 */
export function aptSourceFor(suite: string): string {
  const found = aptSourceFiles()
    .map((f) => parseMirror(readFileSync(f, 'utf8'), suite))
    .find((m) => m !== undefined);
  if (found) return found;
  if (suite === 'bookworm-backports') return debianMirror();
  throw new BerthError(
    'IMAGE_BUILD_FAILED',
    `no Debian mirror serving ${JSON.stringify(suite)} was found in /etc/apt/sources.list{,.d}. ${suite === 'bookworm' ? 'Set BERTH_DEBIAN_MIRROR to a Debian mirror URL.' : `Add ${suite} to this machine's apt sources.`}`,
  );
}

function aptSourceFiles(): string[] {
  const files: string[] = [];
  if (existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list');
  if (existsSync('/etc/apt/sources.list.d')) {
    for (const f of readdirSync('/etc/apt/sources.list.d')) {
      if (f.endsWith('.list') || f.endsWith('.sources')) files.push(join('/etc/apt/sources.list.d', f));
    }
  }
  return files;
}

/** Parses one-line (`deb URL bookworm main`) and deb822 (`URIs:`/`Suites:`) apt source formats. */
export function parseMirror(text: string, suite = 'bookworm'): string | undefined {
  const esc = suite.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  for (const line of text.split('\n')) {
    const m = new RegExp(`^\\s*deb\\s+(?:\\[[^\\]]*\\]\\s+)?(\\S+)\\s+${esc}\\s`).exec(line);
    if (m?.[1]) return m[1];
  }
  for (const stanza of text.split(/\n\s*\n/)) {
    const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'mi').exec(stanza)?.[1]?.trim().split(/\s+/) ?? [];
    if (!field('Types').includes('deb')) continue;
    if (!field('Suites').includes(suite)) continue;
    const uri = field('URIs')[0];
    if (uri) return uri;
  }
  return undefined;
}

async function debianRootfs(rootfs: string, say: Progress, opts: { withNode: boolean; signal?: AbortSignal | undefined }): Promise<void> {
  const signal = opts.signal;
  requireRoot('building the Debian image');
  if (!existsSync('/usr/sbin/debootstrap')) await aptInstall(['debootstrap'], say, signal);
  const mirror = debianMirror();
  say(`debootstrap bookworm (minbase + git, ca-certificates, procps) from the apt sources' mirror ...`);
  await run('debootstrap', ['--variant=minbase', '--include=git,ca-certificates,procps', 'bookworm', rootfs, mirror], { onLine: (l) => say(`  ${l}`), signal });
  if (opts.withNode) await chrootNode(rootfs, say, signal);
  await rm(join(rootfs, 'var', 'lib', 'apt', 'lists'), { recursive: true, force: true });
  await mkdir(join(rootfs, 'var', 'lib', 'apt', 'lists', 'partial'), { recursive: true });
  await writeFile(join(rootfs, 'etc', 'resolv.conf'), '');
  await mkdir(join(rootfs, 'workspace'), { recursive: true });
}

/** Stage two: npm cannot be configured by debootstrap itself (--include=npm fails), but installs fine with apt inside a chroot that has /proc. */
async function chrootNode(rootfs: string, say: Progress, signal?: AbortSignal): Promise<void> {
  say('installing nodejs and npm in a chroot ...');
  await copyFile('/etc/resolv.conf', join(rootfs, 'etc', 'resolv.conf')).catch(() => {});
  await run('mount', ['-t', 'proc', 'proc', join(rootfs, 'proc')]);
  try {
    const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', DEBIAN_FRONTEND: 'noninteractive', HOME: '/root' };
    const onLine = (l: string) => say(`  ${l}`);
    await run('chroot', [rootfs, 'apt-get', 'update', '-qq'], { env, onLine, signal });
    await run('chroot', [rootfs, 'apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'nodejs', 'npm'], { env, onLine, signal });
    await run('chroot', [rootfs, 'apt-get', 'clean'], { env });
  } finally {
    await run('umount', ['-l', join(rootfs, 'proc')], { allowFail: true });
  }
}

async function importRootfs(rootfs: string, ref: string, cmd: string): Promise<void> {
  const client = docker();
  const tar = spawn('tar', ['--numeric-owner', '-C', rootfs, '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let tarErr = '';
  tar.stderr.on('data', (d: Buffer) => (tarErr += d.toString()));
  const [repo, tag] = ref.split(':') as [string, string];
  const stream = await call(`import ${ref}`, () =>
    client.importImage(
      tar.stdout as unknown as string,
      {
        repo,
        tag,
        changes: [`CMD ["${cmd}"]`, 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      } as object,
    ),
  );
  await followProgress(client, stream, (detail) => new Error(detail));
  const code = await new Promise<number | null>((r) => (tar.exitCode !== null ? r(tar.exitCode) : tar.on('close', r)));
  if (code !== 0) throw new Error(`tar exited ${code}: ${tarErr.trim()}`);
}

export interface RunOpts {
  env?: NodeJS.ProcessEnv;
  capture?: boolean;
  allowFail?: boolean;
  onLine?: (line: string) => void;
  signal?: AbortSignal;
}

/** Run a host command; collects output for the error message, never throws for allowFail. */
export function run(cmd: string, args: string[], opts: RunOpts = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], signal: opts.signal });
    let out = '';
    const lines = new LineTail(opts.onLine);
    const onData = (d: Buffer) => {
      const s = d.toString();
      if (opts.capture) out += s;
      lines.push(s);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) => (opts.allowFail ? resolve('') : reject(new Error(`${cmd}: ${err.message}`))));
    child.on('close', (code) => {
      lines.end();
      if (code === 0 || opts.allowFail) resolve(out.trim());
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${lines.text()}`));
    });
  });
}

/**
 * Fixtures for the MCP suites: a real temp repository whose berth.yaml picks the small busybox
 * image, a client transport that spawns the real `bin/berth.js mcp` and keeps every raw stdout
 * line (to prove stdout carries only JSON-RPC) and lets a test write raw bytes to its stdin, and
 * Docker queries scoped to the temp repository so cleanup never touches anyone else's objects.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import { Dockerode } from '../helpers/docker.js';
import { IMAGES } from '../../src/images.js';
import { repoKey } from '../../pipelines/plan.js';
import { LABEL } from '../../docker/labels.js';

export const BIN = fileURLToPath(new URL('../../bin/berth.js', import.meta.url));
export const docker = new Dockerode();

export interface McpFixture {
  readonly root: string;
  /** Real path of the repository (what berth puts in its labels). */
  readonly repo: string;
  readonly dataDir: string;
  git(...args: string[]): string;
  write(rel: string, content: string): void;
  /** Environment for a spawned berth: the temp data dir, no GIT_* leaking in from the caller. */
  env(extra?: Record<string, string>): Record<string, string>;
  cleanup(): Promise<void>;
}

export function makeFixture(prefix = 'berth-mcp-'): McpFixture {
  const root = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  const repo = join(root, 'repo');
  const dataDir = join(root, 'data');
  mkdirSync(repo, { recursive: true });
  const base = ['-c', 'user.name=Fixture', '-c', 'user.email=fixture@example.invalid', '-c', 'core.hooksPath=/dev/null', '-c', 'commit.gpgSign=false'];
  const env = (extra: Record<string, string> = {}): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('GIT_') && k !== 'BERTH_MCP_TOKEN') out[k] = v;
    return { ...out, LC_ALL: 'C', BERTH_DATA_DIR: dataDir, ...extra };
  };
  const git = (...args: string[]) => execFileSync('git', [...base, ...args], { cwd: repo, env: env(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const write = (rel: string, content: string) => {
    const p = join(repo, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  };
  git('init', '-q', '-b', 'main');
  write('README.md', '# fixture\n');
  write('src/app.txt', 'alpha\nbeta\nalpha\n');
  // busybox keeps container start and the pipeline fast; the test step is a tiny shell test.
  write('berth.yaml', `image: ${IMAGES.busybox}\ntest: sh tests/run.sh\n`);
  write('tests/run.sh', 'set -e\n[ -f README.md ]\necho "1 test passed"\n');
  git('add', '-A');
  git('commit', '-q', '--no-verify', '-m', 'initial commit');
  return {
    root,
    repo,
    dataDir,
    git,
    write,
    env,
    cleanup: async () => {
      await removeRepoObjects(repo);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Session containers (by repo label) and pipeline containers (by the repo's cache key) of `repo`. */
export async function repoContainers(repo: string): Promise<Dockerode.ContainerInfo[]> {
  const [sessions, pipelines] = await Promise.all([
    docker.listContainers({ all: true, filters: { label: [`${LABEL.managed}=1`, `${LABEL.repo}=${repo}`] } }),
    docker.listContainers({ all: true, filters: { label: [`${LABEL.managed}=1`, `${LABEL.pipelineRepo}=${repoKey(repo)}`] } }),
  ]);
  const seen = new Map<string, Dockerode.ContainerInfo>();
  for (const c of [...sessions, ...pipelines]) seen.set(c.Id, c);
  return [...seen.values()];
}

export async function removeRepoObjects(repo: string): Promise<void> {
  for (const c of await repoContainers(repo))
    await docker
      .getContainer(c.Id)
      .remove({ force: true, v: true })
      .catch(() => undefined);
  for (const label of [`${LABEL.repo}=${repo}`, `${LABEL.pipelineRepo}=${repoKey(repo)}`]) {
    const { Volumes } = await docker.listVolumes({ filters: { label: [`${LABEL.managed}=1`, label] } });
    for (const v of Volumes ?? [])
      await docker
        .getVolume(v.Name)
        .remove()
        .catch(() => undefined);
  }
  const images = await docker.listImages({ filters: { label: [`${LABEL.managed}=1`, `${LABEL.repo}=${repo}`] } });
  for (const i of images)
    await docker
      .getImage(i.Id)
      .remove({ force: true })
      .catch(() => undefined);
}

/** `ps -o pid,args` output of the session container of `workspace`. */
export async function psIn(repo: string, workspace: string): Promise<string> {
  const [c] = await docker.listContainers({ filters: { label: [`${LABEL.repo}=${repo}`, `${LABEL.workspace}=${workspace}`] } });
  if (!c) throw new Error(`no running container for workspace ${workspace}`);
  return execFileSync('docker', ['exec', c.Id, 'ps', '-o', 'pid,args'], { encoding: 'utf8' });
}

export async function waitFor(what: string, fn: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A client-side stdio transport over a process we spawn ourselves, so the test sees the bytes:
 * every stdout line is recorded in `rawLines`, stderr in `stderr`, and `writeRaw` puts arbitrary
 * bytes on the server's stdin.
 */
export class TappedStdioTransport implements Transport {
  readonly rawLines: string[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  readonly #child: ChildProcessWithoutNullStreams;
  #buffer = '';

  constructor(args: readonly string[], env: Record<string, string>) {
    this.#child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stdout.setEncoding('utf8');
    this.#child.stderr.setEncoding('utf8');
    this.#child.stderr.on('data', (s: string) => (this.stderr += s));
    this.#child.stdout.on('data', (s: string) => this.#onData(s));
    this.exited = new Promise((resolve) => this.#child.once('exit', (code, signal) => resolve({ code, signal })));
    void this.exited.then(() => this.onclose?.());
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  async start(): Promise<void> {}

  async send(message: JSONRPCMessage): Promise<void> {
    this.writeRaw(`${JSON.stringify(message)}\n`);
  }

  writeRaw(text: string): void {
    this.#child.stdin.write(text);
  }

  /** Close the server's stdin (EOF), like a client that went away. */
  endStdin(): void {
    this.#child.stdin.end();
  }

  kill(signal: NodeJS.Signals): void {
    this.#child.kill(signal);
  }

  async close(): Promise<void> {
    this.endStdin();
  }

  #onData(s: string): void {
    this.#buffer += s;
    for (let i = this.#buffer.indexOf('\n'); i !== -1; i = this.#buffer.indexOf('\n')) {
      const line = this.#buffer.slice(0, i);
      this.#buffer = this.#buffer.slice(i + 1);
      this.rawLines.push(line);
      try {
        this.onmessage?.(JSONRPCMessageSchema.parse(JSON.parse(line)));
      } catch (err) {
        this.onerror?.(err as Error);
      }
    }
  }

  /** Bytes written after the last newline (must be empty once the server has exited). */
  get partialLine(): string {
    return this.#buffer;
  }
}

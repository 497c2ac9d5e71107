/**
 * The baselines berth is compared to, written the plain way a program would use Docker without
 * berth: a dockerode exec (create, start, demux, inspect), `docker exec` / `docker run --rm` via
 * the CLI, and a dockerode `run --rm` (create, attach, start, wait, remove). They use the same
 * shared dockerode client as berth (docker/client.ts), so both sides pay the same HTTP
 * agent and socket costs.
 */
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import type { Docker } from '../docker/index.js';

export interface RawResult {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly stdoutBytes: number;
}

/** A sink that keeps at most `keep` bytes but counts all of them. */
function collector(keep: number): { sink: Writable; text(): string; bytes(): number } {
  const parts: Buffer[] = [];
  let kept = 0;
  let total = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      total += chunk.length;
      if (kept < keep) {
        parts.push(chunk);
        kept += chunk.length;
      }
      cb();
    },
  });
  return { sink, text: () => Buffer.concat(parts).subarray(0, keep).toString('utf8'), bytes: () => total };
}

/** One exec the dockerode way: create, start (no stdin), demux to the end, inspect for the code. */
export async function dockerodeExec(
  client: Docker,
  containerId: string,
  argv: readonly string[],
  opts: { user?: string; keepBytes?: number } = {},
): Promise<RawResult> {
  const exec = await client.getContainer(containerId).exec({
    Cmd: [...argv],
    AttachStdout: true,
    AttachStderr: true,
    ...(opts.user === undefined ? {} : { User: opts.user }),
  });
  const stream = await exec.start({ hijack: false, stdin: false });
  const out = collector(opts.keepBytes ?? 64 * 1024);
  const err = collector(64 * 1024);
  await new Promise<void>((resolve, reject) => {
    client.modem.demuxStream(stream, out.sink, err.sink);
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', reject);
  });
  const info = await exec.inspect();
  return { exitCode: info.ExitCode ?? null, stdout: out.text(), stderr: err.text(), stdoutBytes: out.bytes() };
}

/** Run a CLI to completion, collecting its output. */
export function runCli(cmd: string, args: readonly string[], opts: { signal?: AbortSignal } = {}): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(opts.signal ? { signal: opts.signal } : {}) });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.once('error', reject);
    child.once('close', (code) => {
      const stdout = Buffer.concat(out);
      resolve({ exitCode: code, stdout: stdout.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes: stdout.length });
    });
  });
}

export interface RunSpec {
  readonly image: string;
  readonly argv: readonly string[];
  readonly workdir: string;
  /** Host directory bind-mounted read-only at workdir. */
  readonly source: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly cpus: number;
  readonly memoryMb: number;
  readonly pids: number;
}

/** `docker run --rm --network none` the dockerode way: create, attach, start, wait, remove. */
export async function dockerodeRun(client: Docker, spec: RunSpec): Promise<RawResult> {
  const c = await client.createContainer({
    Image: spec.image,
    Cmd: [...spec.argv],
    WorkingDir: spec.workdir,
    Labels: { ...spec.labels },
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: {
      NetworkMode: 'none',
      Init: true,
      NanoCpus: Math.round(spec.cpus * 1e9),
      Memory: spec.memoryMb * 1024 * 1024,
      PidsLimit: spec.pids,
      SecurityOpt: ['no-new-privileges'],
      Mounts: [{ Type: 'bind', Source: spec.source, Target: spec.workdir, ReadOnly: true }],
    },
  });
  try {
    // Attach before start, as `docker run` does, so no output is missed.
    const stream = await c.attach({ stream: true, stdout: true, stderr: true });
    const out = collector(64 * 1024);
    const err = collector(64 * 1024);
    const ended = new Promise<void>((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
    });
    client.modem.demuxStream(stream, out.sink, err.sink);
    await c.start();
    const waited = (await c.wait()) as { StatusCode?: number };
    await ended;
    return { exitCode: waited.StatusCode ?? null, stdout: out.text(), stderr: err.text(), stdoutBytes: out.bytes() };
  } finally {
    await c.remove({ force: true, v: true });
  }
}

/** The same container as dockerodeRun, as `docker run --rm ...` arguments. */
export function dockerRunArgs(spec: RunSpec): string[] {
  return [
    'run',
    '--rm',
    '--network',
    'none',
    '--init',
    '--security-opt',
    'no-new-privileges',
    '--cpus',
    String(spec.cpus),
    '--memory',
    `${spec.memoryMb}m`,
    '--pids-limit',
    String(spec.pids),
    '--mount',
    `type=bind,source=${spec.source},target=${spec.workdir},readonly`,
    '-w',
    spec.workdir,
    ...Object.entries(spec.labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    spec.image,
    ...spec.argv,
  ];
}

/** The machine a run measured: for the table's header and the JSON file (no host names, no paths). */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import os from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Docker } from '../docker/index.js';
import type { Environment } from './report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The docker CLI on PATH, if any. */
export function findDockerCli(): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, 'docker');
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return null;
}

function distro(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    return m?.[1] ? `${m[1]}, ` : '';
  } catch {
    return '';
  }
}

function quiet(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim() || null;
  } catch {
    return null;
  }
}

export async function environment(client: Docker, dockerCli: string | null): Promise<Environment> {
  const v = await client.version();
  const cpus = os.cpus();
  return {
    os: `${distro()}${os.type()} ${os.release()} ${os.arch()}`,
    cpu: cpus[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown',
    cores: os.availableParallelism?.() ?? cpus.length,
    memoryGiB: os.totalmem() / 1024 ** 3,
    docker: v.Version,
    dockerApi: v.ApiVersion,
    dockerCli: dockerCli ? quiet(dockerCli, ['version', '--format', '{{.Client.Version}}']) : null,
    node: process.version,
    berthCommit: quiet('git', ['describe', '--always', '--dirty', '--abbrev=12']),
    loadAvgStart: os.loadavg(),
  };
}

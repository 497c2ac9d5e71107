import { execFile } from 'node:child_process';
import { access, mkdir } from 'node:fs/promises';
import { constants } from 'node:fs';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { dataDir } from '../../../src/data-dir.js';
import { docker, translateDockerError } from '../../../docker/index.js';
import { imageStatus } from '../../../docker/index.js';
import { action, printJson } from '../output.js';

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  remedy?: string;
}

async function checks(): Promise<Check[]> {
  const out: Check[] = [];
  let engineOk = false;
  try {
    const v = await docker().version();
    engineOk = true;
    out.push({ name: 'engine', ok: true, detail: `Docker ${v.Version} (API ${v.ApiVersion}) at ${process.env.DOCKER_HOST ?? 'the default socket'}` });
  } catch (err) {
    out.push({
      name: 'engine',
      ok: false,
      detail: translateDockerError(err, 'docker version').message,
      remedy: 'run `bash scripts/ensure-docker.sh` (root on Debian), start Docker, or set DOCKER_HOST',
    });
  }
  if (engineOk) {
    for (const s of await imageStatus()) {
      out.push({
        name: `image ${s.key}`,
        ok: s.present,
        detail: `${s.ref} ${s.present ? 'present' : 'missing'}`,
        ...(s.present ? {} : { remedy: 'run `berth images build` as root (or `npm run setup`)' }),
      });
    }
  }
  try {
    const { stdout } = await promisify(execFile)('git', ['--version']);
    out.push({ name: 'git', ok: true, detail: stdout.trim() });
  } catch {
    out.push({ name: 'git', ok: false, detail: 'git not found on PATH', remedy: 'install git (apt-get install git)' });
  }
  const dir = dataDir();
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
    out.push({ name: 'data dir', ok: true, detail: `${dir} (writable; override with BERTH_DATA_DIR)` });
  } catch (err) {
    out.push({ name: 'data dir', ok: false, detail: `${dir}: ${(err as Error).message}`, remedy: 'set BERTH_DATA_DIR to a writable directory' });
  }
  return out;
}

export function register(program: Command): void {
  program
    .command('doctor')
    .description('check the Docker engine, images, git and the data directory, with a remedy for each problem')
    .option('--json', 'print JSON')
    .addHelpText('after', "\nExample:\n  berth doctor --json | jq '.checks[] | select(.ok == false)'")
    .action(
      action(async (opts: { json?: boolean }) => {
        const result = await checks();
        const ok = result.every((c) => c.ok);
        if (opts.json) printJson({ ok, checks: result });
        else {
          for (const c of result) {
            process.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(14)} ${c.detail}\n`);
            if (c.remedy) process.stdout.write(`     ${''.padEnd(14)} fix: ${c.remedy}\n`);
          }
        }
        return ok ? 0 : 1;
      }),
    );
}

/**
 * `berth engines`: each configured Docker engine's health, version, sessions and capacity
 * (read-only). The engines come from BERTH_ENGINES, else `engines:` in berth's config, else
 * DOCKER_HOST (docker/engines-config.ts). Exit 0 when every engine answers, 3 when one does not.
 */
import type { Command } from 'commander';
import { EngineSet, configFilePath, type EngineStatus } from '../../../docker/index.js';
import { action, EXIT, printJson, safeText } from '../output.js';

function row(s: EngineStatus): string {
  const cap = s.maxSessions === null ? 'no limit' : `${s.free ?? '?'} free of ${s.maxSessions}`;
  const health = s.health.ok ? `up   ${s.health.product ?? 'docker'} ${s.health.version ?? '?'} (API ${s.health.apiVersion ?? '?'})` : 'DOWN';
  const sessions = s.sessions === null ? '-' : String(s.sessions);
  const line = `${s.id.padEnd(12)} ${health.padEnd(36)} sessions ${sessions.padEnd(5)} ${cap.padEnd(18)} ${s.remote ? 'remote ' : 'local  '} ${s.endpoint}`;
  return safeText(line) + (s.health.error ? `\n  ${safeText(s.health.error)}` : '');
}

export function register(program: Command): void {
  program
    .command('engines')
    .description('show each Docker engine berth places workspaces on: health, version, sessions and capacity')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Engines come from BERTH_ENGINES (JSON list, or "id=endpoint,..."), else \`engines:\` in
${configFilePath()} (BERTH_CONFIG overrides the path), else DOCKER_HOST.

Examples:
  berth engines
  BERTH_ENGINES='a=unix:///var/run/docker.sock,b=ssh://root@build1' berth engines --json | jq '.engines[] | select(.health.ok | not)'`,
    )
    .action(
      action(async (opts: { json?: boolean }) => {
        const set = EngineSet.resolve();
        const engines = await set.status();
        const ok = engines.every((e) => e.health.ok);
        if (opts.json) printJson({ ok, configured: set.configured, engines });
        else for (const e of engines) process.stdout.write(`${row(e)}\n`);
        return ok ? EXIT.ok : EXIT.environment;
      }),
    );
}

// A runner process for the fault suites (spawned with tsx): opens one workspace, runs commands,
// and reports on stdout as JSON lines. Config is one JSON argument:
//   { repo, dataDir, labels, spec, workspace, commands: string[], hold?: boolean, timeoutMs? }
// Events: {event:"ready", containerId} · {event:"result", i, result} · {event:"running", i}
//         (printed when a command is started without waiting: commands prefixed with "&")
//         · {event:"closed", code} on graceful shutdown.
// With hold, it waits after the commands and shuts down on SIGTERM, SIGINT or stdin EOF.
import { closeOnShutdown, Runner } from '../../runner/session/index.js';

interface Config {
  repo: string;
  dataDir: string;
  labels: Record<string, string>;
  spec: Record<string, unknown>;
  workspace: string;
  commands: string[];
  hold?: boolean;
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as Config;
const say = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
const runner = await Runner.create({ repo: cfg.repo, dataDir: cfg.dataDir, labels: cfg.labels, spec: cfg.spec, reconcile: false });
if (cfg.hold) closeOnShutdown(runner, { stdin: true, timeoutMs: 20_000, exit: (code) => (say({ event: 'closed', code }), process.exit(code)) });
const s = await runner.open(cfg.workspace);
say({ event: 'ready', containerId: s.containerId });
for (const [i, c] of cfg.commands.entries()) {
  if (c.startsWith('&')) {
    void s.exec(c.slice(1), { timeoutMs: 120_000 });
    say({ event: 'running', i });
    continue;
  }
  say({ event: 'result', i, result: await s.exec(c) });
}
if (!cfg.hold) {
  await runner.close({ stop: false });
  process.exit(0);
}

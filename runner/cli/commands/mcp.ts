/**
 * `berth mcp` (serve the agent tools over MCP) and `berth config agent <agent>` (hook an agent up to
 * it). The server itself lives in runner/mcp/; this module only parses options.
 */
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { Workspaces } from '../../../src/workspace/index.js';
import { BerthError } from '../../../src/errors.js';
import type { LogLevel } from '../../../src/log.js';
import { DEFAULT_SERVER_NAME, detectLauncher, KNOWN_AGENTS, MCP_JSON, mergeMcpJson, serverEntry, snippet, type Launcher } from '../../mcp/index.js';
import { runMcp } from '../../mcp/index.js';
import { durationArg } from '../args.js';
import { action, printJson } from '../output.js';

interface McpOpts {
  repo?: string;
  workspace?: string;
  http?: string;
  token?: string;
  idleTimeout?: number;
  allowHost?: string[];
  logLevel: LogLevel;
}

interface AgentOpts {
  repo?: string;
  print?: boolean;
  json?: boolean;
  name: string;
  launcher: 'auto' | Launcher;
  workspace?: string;
}

export function register(program: Command): void {
  program
    .command('mcp')
    .description('serve the workspace tools to an AI agent over MCP: stdio by default (stdout carries only JSON-RPC), or HTTP with --http')
    .option('--repo <dir>', 'the repository whose workspaces the agent uses (default: the current directory)')
    .option('--workspace <name>', 'bind this server to one workspace (created on first use); tools then take no workspace argument')
    .option('--http <addr>', 'serve MCP Streamable HTTP on HOST:PORT instead of stdio (":PORT" or "PORT" bind 127.0.0.1; port 0 picks one)')
    .option(
      '--token <token>',
      'HTTP bearer token, 16+ characters (default: $BERTH_MCP_TOKEN, which unlike a flag is not visible in ps; else a random one printed to stderr)',
    )
    .option('--idle-timeout <duration>', 'HTTP: close a client session after this long without a request, e.g. 30m (default 15m)', durationArg)
    .option(
      '--allow-host <host>',
      'HTTP: also accept this host name in Host/Origin headers (repeatable; loopback and the bound address always are)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .addOption(new Option('--log-level <level>', 'what to log to stderr').choices(['debug', 'info', 'warn', 'error', 'silent']).default('warn'))
    .addHelpText(
      'after',
      `
Examples:
  berth mcp                                   stdio server for the repository in the current directory
  berth mcp --repo ~/src/app --workspace fix-login --log-level info
  berth mcp --http :8765                      remote mode on 127.0.0.1:8765; prints the token to stderr
  BERTH_MCP_TOKEN=$(openssl rand -hex 32) berth mcp --http 0.0.0.0:8765   reachable from other hosts (warns)

Hook an agent up with 'berth config agent claude'. On stdin EOF, SIGTERM or SIGINT the server stops
the containers it started (kept, resumed next time) and exits 0.`,
    )
    .action(
      action(async (opts: McpOpts) => {
        const code = await runMcp({
          repo: resolve(opts.repo ?? process.cwd()),
          logLevel: opts.logLevel,
          version: program.version() ?? '0.0.0',
          ...(opts.workspace === undefined ? {} : { workspace: opts.workspace }),
          ...(opts.http === undefined ? {} : { http: opts.http }),
          ...(opts.token === undefined ? {} : { token: opts.token }),
          ...(opts.idleTimeout === undefined ? {} : { idleTimeoutMs: opts.idleTimeout }),
          ...(opts.allowHost === undefined ? {} : { allowedHosts: opts.allowHost }),
        });
        // Everything is closed by now; exit instead of waiting on idle sockets (Docker's keep-alive
        // agent, a paused stdin) that would otherwise hold the process open.
        process.exit(code);
      }),
    );

  const config =
    program.commands.find((c) => c.name() === 'config') ??
    program
      .command('config')
      .description('configure how other tools use berth')
      .addHelpText('after', '\nExamples:\n  berth config agent claude     let Claude Code start berth mcp for this repository');
  config
    .command('agent')
    .description(`write the MCP config that makes an agent start 'berth mcp' (${KNOWN_AGENTS.join(', ')}: ${MCP_JSON}; any other: print a generic snippet)`)
    .argument('<agent>', `the agent: ${KNOWN_AGENTS.join(', ')}, or any name for the generic JSON snippet`)
    .option('--repo <dir>', 'the repository (default: the current directory); .mcp.json goes to its root')
    .option('--print', 'only print the snippet; write nothing')
    .option('--json', 'print a JSON summary (file, status, entry, snippet)')
    .option('--name <server>', 'the server name in the config', DEFAULT_SERVER_NAME)
    .addOption(
      new Option('--launcher <how>', 'how the agent starts berth: npx (berth installed in the project; portable), path (this berth, absolute paths), auto')
        .choices(['auto', 'npx', 'path'])
        .default('auto'),
    )
    .option('--workspace <name>', 'bind the agent to one workspace (adds --workspace to the server args)')
    .addHelpText(
      'after',
      `
Examples:
  berth config agent claude                 add/update "berth" in ./.mcp.json (other servers are kept)
  berth config agent claude --print         show the entry without writing
  berth config agent cursor                 print the generic snippet for another MCP client

Launchers: "npx" runs 'npx --no berth mcp --repo .' (needs berth in the project's node_modules; safe to
commit); "path" runs this berth by absolute path (works right away, specific to this machine). "auto"
picks npx when node_modules/.bin/berth exists. For remote mode use an HTTP entry instead:
  { "type": "http", "url": "http://127.0.0.1:8765/mcp", "headers": { "Authorization": "Bearer <token>" } }`,
    )
    .action(
      action(async (agent: string, opts: AgentOpts) => {
        if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(opts.name)) {
          throw new BerthError('BAD_INPUT', `--name ${JSON.stringify(opts.name)} is not a usable server name: use letters, digits, ".", "_" or "-"`);
        }
        const ws = await Workspaces.open(resolve(opts.repo ?? process.cwd()));
        const repo = ws.repo;
        await ws.close();
        const launcher = opts.launcher === 'auto' ? await detectLauncher(repo) : opts.launcher;
        const known = (KNOWN_AGENTS as readonly string[]).includes(agent.toLowerCase());
        const entry = serverEntry({ launcher, repo, stdioType: known, ...(opts.workspace === undefined ? {} : { workspace: opts.workspace }) });
        const generic = snippet(opts.name, serverEntry({ launcher, repo, ...(opts.workspace === undefined ? {} : { workspace: opts.workspace }) }));

        if (!known || opts.print) {
          if (opts.json) printJson({ agent, file: null, status: 'printed', launcher, entry, snippet: known ? snippet(opts.name, entry) : generic });
          else {
            if (!known) process.stderr.write(`berth: no built-in config for agent ${JSON.stringify(agent)}; add this to its MCP server settings:\n`);
            process.stdout.write(`${JSON.stringify(known ? snippet(opts.name, entry) : generic, null, 2)}\n`);
          }
          return 0;
        }

        const file = resolve(repo, MCP_JSON);
        const { status } = await mergeMcpJson(file, opts.name, entry);
        if (opts.json) {
          printJson({ agent, file, status, launcher, entry, snippet: generic });
          return 0;
        }
        process.stdout.write(
          `${status === 'unchanged' ? 'Already configured' : status === 'added' ? 'Added' : 'Updated'}: MCP server "${opts.name}" in ${file} (launcher: ${launcher}).\n` +
            `Claude Code asks to approve project servers on its next start in ${repo}.\n` +
            (launcher === 'path'
              ? 'The entry holds absolute paths of this machine: keep .mcp.json out of commits, or install berth in the project and use --launcher npx.\n'
              : '') +
            `\nFor other MCP clients, the same server:\n${JSON.stringify(generic, null, 2)}\n`,
        );
        return 0;
      }),
    );
}

/** The MCP face of berth: tools for agents over stdio or Streamable HTTP, and agent configuration. */
export { createServer } from './server.js';
export { runMcp, type McpMainOptions } from './main.js';
export { createLifecycle, type Lifecycle, type McpRunner, type McpSession, type McpWorkspaces, type ServerDeps } from './deps.js';
export { serveHttp, parseListen, isLoopback, chooseToken, bearerMatches, MCP_PATH, type HttpHandle, type ListenAddress } from './http.js';
export { TOOL_NAMES, type ToolName } from './tool.js';
export { instructions } from './instructions.js';
export {
  berthBin,
  detectLauncher,
  mergeMcpJson,
  serverEntry,
  snippet,
  DEFAULT_SERVER_NAME,
  KNOWN_AGENTS,
  MCP_JSON,
  type Launcher,
  type ServerEntry,
} from './agent-config.js';

/**
 * Which MCP revision era a message belongs to, without loading either SDK: `berth` loads the
 * SDK v2 server (@modelcontextprotocol/server) only once a 2026-07-28 client shows up, so CLI
 * commands and 2025-era connections do not pay for importing it.
 */

/** The revision the SDK v2 server speaks (its modern era). */
export const MODERN_REVISION = '2026-07-28';

/**
 * The per-request envelope key that carries a 2026-07-28 client's protocol version
 * (https://modelcontextprotocol.io/specification/2026-07-28, `_meta` envelope); the SDK exports
 * it as PROTOCOL_VERSION_META_KEY, and test/mcp/v2.test.ts speaks the raw wire with that export.
 */
export const PROTOCOL_VERSION_KEY = 'io.modelcontextprotocol/protocolVersion';

export type Era = 'legacy' | 'modern';

/**
 * The era a stdio connection's first message opens: a claim of 2026-07-28 in `params._meta` is
 * modern; anything else (the `initialize` handshake, or a claim of a revision berth does not
 * speak, which the 2025 side answers as an unknown method: the spec's cue for a negotiating
 * client to fall back to `initialize`) is legacy.
 */
export function openingEra(message: unknown): Era {
  const params = (message as { params?: unknown } | null)?.params;
  const meta = params && typeof params === 'object' ? (params as { _meta?: unknown })._meta : undefined;
  const claim = meta && typeof meta === 'object' ? (meta as Record<string, unknown>)[PROTOCOL_VERSION_KEY] : undefined;
  return claim === MODERN_REVISION ? 'modern' : 'legacy';
}

/** A claim of any protocol version in a message's `params._meta` (the 2026-07-28 envelope). */
function hasClaim(message: unknown): boolean {
  const params = (message as { params?: unknown } | null)?.params;
  const meta = params && typeof params === 'object' ? (params as { _meta?: unknown })._meta : undefined;
  return !!meta && typeof meta === 'object' && PROTOCOL_VERSION_KEY in meta;
}

/**
 * Whether an HTTP POST may belong to the 2026-07-28 era and must be classified by SDK v2's
 * isLegacyRequest: it carries an envelope claim, or an MCP-Protocol-Version header that no
 * 2025-era SDK speaks (`legacyVersions`). Everything else is 2025 traffic for sure, so it is
 * served without waiting for SDK v2 to load.
 */
export function mayBeModern(protocolHeader: string | undefined, body: unknown, legacyVersions: readonly string[]): boolean {
  if (protocolHeader !== undefined && !legacyVersions.includes(protocolHeader)) return true;
  return Array.isArray(body) ? body.some(hasClaim) : hasClaim(body);
}

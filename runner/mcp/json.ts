/** A JSON object (not null, not an array): what a parsed config or a JSON-RPC message must be. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

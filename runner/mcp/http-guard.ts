/**
 * DNS-rebinding protection for `berth mcp --http`
 * (https://modelcontextprotocol.io/specification/2025-06-18/basic/transports#security-warning):
 * a web page on evil.example can make a browser send requests to 127.0.0.1 by re-pointing its own
 * DNS name there. Such requests carry `Host: evil.example:PORT` and `Origin: http://evil.example`,
 * so both headers are checked against names that really mean this server: loopback names, the
 * address it listens on, and whatever the user allowed with --allow-host.
 */

export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

export interface HostGuard {
  /** Whether the `Host` header names this server (a missing Host is refused: HTTP/1.1 requires it). */
  hostAllowed(host: string | undefined): boolean;
  /** Whether a request with this `Origin` may proceed (none: not a browser, allowed). */
  originAllowed(origin: string | undefined): boolean;
}

/** The hostname of a `Host` header value (`name:port`, `[v6]:port`), lowercased; undefined if malformed. */
export function hostnameOf(hostHeader: string): string | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s/@]+)(?::\d{1,5})?$/.exec(hostHeader.trim());
  if (!m?.[1]) return undefined;
  return m[1].replace(/^\[|\]$/g, '').toLowerCase();
}

export function createHostGuard(opts: { listenHost: string; allowedHosts?: readonly string[] }): HostGuard {
  const allowed = new Set((opts.allowedHosts ?? []).map((h) => h.toLowerCase()));
  const wildcard = opts.listenHost === '0.0.0.0' || opts.listenHost === '::';
  if (!wildcard) allowed.add(opts.listenHost.toLowerCase());
  const ok = (name: string | undefined): boolean => name !== undefined && (isLoopback(name) || allowed.has(name));
  return {
    hostAllowed: (host) => host !== undefined && ok(hostnameOf(host)),
    originAllowed: (origin) => {
      if (origin === undefined) return true;
      try {
        const url = new URL(origin);
        return (url.protocol === 'http:' || url.protocol === 'https:') && ok(url.hostname.replace(/^\[|\]$/g, '').toLowerCase());
      } catch {
        return false; // includes the literal "null" origin of sandboxed frames and file: pages
      }
    },
  };
}

/** The Host/Origin checks of `berth mcp --http` (DNS rebinding), as pure functions. */
import { describe, expect, it } from 'vitest';
import { createHostGuard, hostnameOf } from '../../runner/mcp/http-guard.js';

describe('HTTP host guard', () => {
  it('reads host names from Host headers', () => {
    expect(hostnameOf('127.0.0.1:8765')).toBe('127.0.0.1');
    expect(hostnameOf('LocalHost')).toBe('localhost');
    expect(hostnameOf('[::1]:80')).toBe('::1');
    for (const bad of ['', 'a b', 'x:y', 'user@host', 'a/b', '[zz]:1']) expect(hostnameOf(bad), bad).toBeUndefined();
  });

  it('accepts loopback names and the bound address, refuses others unless allowed', () => {
    const g = createHostGuard({ listenHost: '127.0.0.1' });
    for (const h of ['127.0.0.1:1', 'localhost:1', '[::1]:1', '127.5.6.7']) expect(g.hostAllowed(h), h).toBe(true);
    for (const h of [undefined, 'evil.example:1', 'evil.example', '127.0.0.1.evil.example', '0.0.0.0:1', '10.0.0.1'])
      expect(g.hostAllowed(h), String(h)).toBe(false);
    const lan = createHostGuard({ listenHost: '10.1.2.3', allowedHosts: ['Dev.Box'] });
    expect(lan.hostAllowed('10.1.2.3:80')).toBe(true);
    expect(lan.hostAllowed('dev.box:80')).toBe(true);
    expect(lan.hostAllowed('evil.example:80')).toBe(false);
    // A wildcard bind does not make every name this server.
    expect(createHostGuard({ listenHost: '0.0.0.0' }).hostAllowed('0.0.0.0:80')).toBe(false);
  });

  it('lets non-browser requests (no Origin) through and checks browser origins', () => {
    const g = createHostGuard({ listenHost: '127.0.0.1' });
    expect(g.originAllowed(undefined)).toBe(true);
    for (const o of ['http://localhost:3000', 'http://127.0.0.1', 'https://[::1]:8443']) expect(g.originAllowed(o), o).toBe(true);
    for (const o of ['http://evil.example', 'null', 'file://', 'chrome-extension://abc', 'http://localhost.evil.example', ''])
      expect(g.originAllowed(o), o).toBe(false);
  });
});

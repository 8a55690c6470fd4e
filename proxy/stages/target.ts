// Works out where a request goes, and refuses it when the names the agent gave disagree:
// CONNECT authority, SNI, Host/:authority and an absolute-form URI must all name one host.
import { normalizeHost, splitAuthority } from '../../policies/hostnames.ts';
import type { ConnInfo } from '../conn.ts';

export interface RequestTarget {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  /** Path and query as sent upstream. */
  path: string;
}

export type TargetResult =
  | { ok: true; target: RequestTarget }
  | { ok: false; status: 400 | 403; code: 'bad_request' | 'host_mismatch'; reason: string; host?: string };

const defaultPort = (scheme: 'http' | 'https') => (scheme === 'https' ? 443 : 80);

export function requestTarget(conn: ConnInfo, url: string, authority: string | undefined): TargetResult {
  const bad = (reason: string, host?: string): TargetResult => ({ ok: false, status: 400, code: 'bad_request', reason, host });
  if (conn.route) {
    if (!url.startsWith('/')) return bad('base-URL routes take origin-form request targets');
    const up = conn.route.upstream;
    const base = up.pathname.endsWith('/') ? up.pathname.slice(0, -1) : up.pathname;
    const scheme = up.protocol === 'https:' ? 'https' : 'http';
    const host = normalizeHost(up.hostname);
    if (!host.ok) return bad(host.problem);
    return { ok: true, target: { scheme, host: host.host, port: up.port ? Number(up.port) : defaultPort(scheme), path: base + url } };
  }

  if (conn.entry === 'explicit' && !conn.pinned && url.startsWith('/')) {
    return bad('this is a proxy: send absolute-form requests (http://host/path) or use CONNECT');
  }
  let scheme: 'http' | 'https' = conn.tls ? 'https' : 'http';
  let fromUrl: { host: string; port: number } | undefined;
  let path = url;
  if (!url.startsWith('/')) {
    // absolute-form: only meaningful for plain HTTP through the explicit proxy (https uses CONNECT)
    const m = /^(https?):\/\/([^/?#]*)([^#]*)$/i.exec(url);
    if (!m) return bad(url === '*' ? 'OPTIONS * is not proxied' : 'request target is neither a path nor an http:// URL');
    const urlScheme = m[1].toLowerCase() as 'http' | 'https';
    if (urlScheme !== scheme) return bad(`an ${urlScheme}:// URL cannot be sent over this connection; use CONNECT for https`);
    const a = splitAuthority(m[2], defaultPort(scheme));
    if (!a.ok) return bad(`request URL: ${a.problem}`);
    fromUrl = { host: a.host, port: a.port };
    path = m[3] || '/';
    if (!path.startsWith('/')) path = '/' + path;
    scheme = urlScheme;
  }

  let fromHeader: { host: string; port: number } | undefined;
  if (authority !== undefined) {
    const a = splitAuthority(authority, defaultPort(scheme));
    if (!a.ok) return bad(`Host header: ${a.problem}`);
    fromHeader = { host: a.host, port: a.port };
  }

  const named = [conn.pinned, fromUrl, fromHeader].filter((x): x is { host: string; port: number } => !!x);
  if (named.length === 0) return bad('the request names no host');
  const [first] = named;
  for (const n of named) {
    if (n.host !== first.host || n.port !== first.port) {
      return {
        ok: false,
        status: 403,
        code: 'host_mismatch',
        reason: `the request names ${n.host}:${n.port} but the connection is for ${first.host}:${first.port}`,
        host: first.host,
      };
    }
  }
  return { ok: true, target: { scheme, host: first.host, port: first.port, path } };
}

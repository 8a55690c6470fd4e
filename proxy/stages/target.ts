// Works out where a request goes, and refuses it when the names the agent gave disagree:
// CONNECT authority, SNI, Host/:authority and an absolute-form URI must all name one host. A
// request for another host than the connection's is 421 Misdirected Request (RFC 9110 15.5.20):
// the agent may retry on a connection of its own; names that disagree within one request are 400.
import { normalizeIp } from '../../policies/ip.ts';
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
  | { ok: false; status: 400 | 421; code: 'bad_request' | 'host_mismatch'; reason: string; host?: string };

const defaultPort = (scheme: 'http' | 'https') => (scheme === 'https' ? 443 : 80);

/**
 * `policyHost`: whether an allow rule names this (normalised) host. On a base-URL route the Host
 * header names airlock's listener (`localhost:9000`, `airlock:9000`), so it is not compared with
 * the upstream; but a Host naming another host of the policy (a dotted DNS name) means the agent
 * believes it talks to that host, and its request must not be delivered to the route's upstream.
 */
export function requestTarget(conn: ConnInfo, url: string, authority: string | undefined, policyHost?: (host: string) => boolean): TargetResult {
  const bad = (reason: string, host?: string): TargetResult => ({ ok: false, status: 400, code: 'bad_request', reason, host });
  if (conn.route) {
    if (!url.startsWith('/')) return bad('base-URL routes take origin-form request targets');
    const up = conn.route.upstream;
    const base = up.pathname.endsWith('/') ? up.pathname.slice(0, -1) : up.pathname;
    const scheme = up.protocol === 'https:' ? 'https' : 'http';
    const host = normalizeHost(up.hostname);
    if (!host.ok) return bad(host.problem);
    const named = authority === undefined ? undefined : splitAuthority(authority, 80);
    if (named?.ok && named.host !== host.host && couldBeAnotherUpstream(named.host) && policyHost?.(named.host)) {
      return misdirected(named.host, 0, host.host, 0);
    }
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

  const pinned = conn.pinned;
  for (const n of [fromUrl, fromHeader]) {
    if (pinned && n && (n.host !== pinned.host || n.port !== pinned.port)) return misdirected(n.host, n.port, pinned.host, pinned.port);
  }
  if (fromUrl && fromHeader && (fromUrl.host !== fromHeader.host || fromUrl.port !== fromHeader.port)) {
    return {
      ok: false,
      status: 400,
      code: 'host_mismatch',
      reason: `the request URL names ${fromUrl.host}:${fromUrl.port} but its Host header ${fromHeader.host}:${fromHeader.port}`,
      host: fromUrl.host,
    };
  }
  const first = pinned ?? fromUrl ?? fromHeader;
  if (!first) return bad('the request names no host');
  return { ok: true, target: { scheme, host: first.host, port: first.port, path } };
}

/**
 * Names an agent uses for airlock's own listener are not another upstream: IP literals,
 * `localhost` (curl --unix-socket), single-label service names (`airlock` in a compose network).
 */
function couldBeAnotherUpstream(host: string): boolean {
  return normalizeIp(host) === null && host.includes('.') && host !== 'localhost' && !host.endsWith('.localhost');
}

/** 421: this connection (CONNECT authority, SNI, route) is for another host than the request names. */
function misdirected(host: string, port: number, connHost: string, connPort: number): TargetResult {
  const at = (h: string, p: number) => (p ? `${h}:${p}` : h);
  return {
    ok: false,
    status: 421,
    code: 'host_mismatch',
    reason: `the request names ${at(host, port)} but the connection is for ${at(connHost, connPort)}`,
    host: connHost,
  };
}

// Header hygiene between agent and upstream: hop-by-hop headers never cross airlock.
import type { IncomingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect', // Node answers 100-continue itself; undici refuses the header
  'http2-settings',
  'host', // set by airlock from the checked target
]);

/** What an upstream may read a header name as: many treat "_" like "-" (CGI, nginx, Envoy and framework options). */
function aliasOf(name: string): string {
  return name.replace(/_/g, '-');
}

/** Names only airlock sets upstream: framing, hop-by-hop, Host, Proxy-*. */
function proxyOwned(alias: string): boolean {
  return HOP_BY_HOP.has(alias) || alias === 'content-length' || alias.startsWith('proxy-');
}

export type HeaderNames =
  | { ok: true; headers: [string, string][] }
  | { ok: false; code: 'header_alias' | 'header_underscore'; reason: string };

/** The rule's injected header names by what an upstream may read them as (computed once per rule). */
export function injectedAliases(names: Iterable<string>): Map<string, string> {
  return new Map([...names].map((n) => [aliasOf(n), n]));
}

/**
 * Agent header names an upstream could read as another header (Envoy's
 * headers_with_underscores_action). A name that differs from a framing, hop-by-hop, Host,
 * Proxy-* or injected header only by "_" for "-" is always refused: forwarded beside the real
 * one, it could reframe the request or stand in for the credential. Other names with "_" follow
 * `underscores`. Names are lower-case already (forwardableHeaders, parse-hosts).
 */
export function checkHeaderNames(
  headers: [string, string][],
  injected: ReadonlyMap<string, string>,
  underscores: 'allow' | 'drop' | 'reject',
): HeaderNames {
  let underscored = false;
  for (const [name] of headers) {
    const underscore = name.includes('_');
    if (!underscore && injected.size === 0) continue;
    const alias = underscore ? aliasOf(name) : name;
    const owner = injected.get(alias);
    // The exact injected name is fine: inject() replaces the agent's value with airlock's.
    if (owner !== undefined ? owner !== name : underscore && proxyOwned(alias)) {
      return { ok: false, code: 'header_alias', reason: `the header name ${JSON.stringify(name)} could be read upstream as ${JSON.stringify(owner ?? alias)}, which only airlock sets` };
    }
    if (!underscore || owner === name) continue; // the agent's value of an injected header never leaves
    if (underscores === 'reject') {
      return { ok: false, code: 'header_underscore', reason: `the header name ${JSON.stringify(name)} contains "_" (limits.headers_with_underscores is reject)` };
    }
    underscored = true;
  }
  return underscored && underscores === 'drop' ? { ok: true, headers: headers.filter(([k]) => !k.includes('_')) } : { ok: true, headers };
}

/** Names listed in the Connection header are hop-by-hop too (RFC 9110 7.6.1). */
function connectionListed(raw: string[]): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].toLowerCase() === 'connection') {
      for (const t of raw[i + 1].split(',')) if (t.trim()) out.add(t.trim().toLowerCase());
    }
  }
  return out;
}

/** Agent headers that may go upstream, as [lower-case name, value] pairs, duplicates kept. */
export function forwardableHeaders(rawHeaders: string[]): [string, string][] {
  const listed = connectionListed(rawHeaders);
  const out: [string, string][] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (name.startsWith(':')) continue; // HTTP/2 pseudo-headers
    if (HOP_BY_HOP.has(name) || listed.has(name)) continue;
    out.push([name, rawHeaders[i + 1]]);
  }
  return out;
}

/** Upstream response headers that may go back to the agent (HTTP/1.1 or HTTP/2). */
export function forwardableResponseHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const listed = new Set<string>();
  const conn = headers.connection;
  if (typeof conn === 'string') for (const t of conn.split(',')) listed.add(t.trim().toLowerCase());
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** Headers as an object for the store (duplicates become arrays). */
export function headersForRecord(pairs: [string, string][]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of pairs) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

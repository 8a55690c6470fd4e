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

// Scans what precedes a body: the request target (path and query) and the agent's headers.
// Redaction rewrites the value in place; a block is returned, never thrown.
import type { Finding, Rules } from './stream.ts';
import { redactEvery, scanValue } from './stream.ts';

export interface HeadScan {
  findings: Finding[];
  blocked?: Finding;
  /** The target with redactions applied. */
  path: string;
  headers: [string, string][];
  /** The same with every finding redacted, whatever its action: what the store keeps. */
  storedPath: string;
  storedHeaders: [string, string][];
}

/** Headers that never carry agent content worth scanning, or that airlock itself consumes. */
const SKIP = new Set(['host', 'content-length', 'content-type', 'content-encoding', 'transfer-encoding', 'accept', 'accept-encoding', 'user-agent']);

export function scanHead(rules: Rules, path: string, headers: [string, string][], skip: ReadonlySet<string>): HeadScan {
  if (clean(rules, path, headers, skip)) return { findings: [], path, headers, storedPath: path, storedHeaders: headers };
  const findings: Finding[] = [];
  let blocked: Finding | undefined;
  /** [forwarded, stored] */
  const one = (value: string, location: string, form: boolean): [string, string] => {
    const inUrl = !location.startsWith('header:');
    // In a URL the marker is percent-encoded so the target stays valid.
    const text = (b: Buffer) => (inUrl ? b.toString('latin1').replace(/\[REDACTED:([a-z0-9-]+)\]/g, '%5BREDACTED%3A$1%5D') : b.toString('latin1'));
    if (blocked) {
      // Nothing is forwarded any more; the store's copy still has every finding redacted.
      const r = scanValue(redactEvery(rules), Buffer.from(value, 'latin1'), location, form);
      return [value, r.findings.length ? text(r.out!) : value];
    }
    const r = scanValue(rules, Buffer.from(value, 'latin1'), location, form, true);
    findings.push(...r.findings);
    if (r.blocked) blocked = r.blocked;
    if (r.findings.length === 0) return [value, value];
    return [r.out === null ? value : text(r.out), text(r.stored)];
  };
  const q = path.indexOf('?');
  const [p1, p2] = one(q < 0 ? path : path.slice(0, q), 'url', false);
  const [q1, q2] = q < 0 ? ['', ''] : one(path.slice(q + 1), 'query', true).map((x) => `?${x}`);
  // A header, cookies included, is percent-decoded with '+' kept: servers read a cookie value as
  // RFC 6265 text, never as a form, so '+' in a cookie is a '+' (base64 values have them).
  const pairs = headers.map(([name, value]) => (SKIP.has(name) || skip.has(name) ? [value, value] : one(value, `header:${name}`, false)));
  return {
    findings,
    ...(blocked ? { blocked } : {}),
    path: p1 + q1,
    headers: headers.map(([name], i): [string, string] => [name, pairs[i][0]]),
    storedPath: p2 + q2,
    storedHeaders: headers.map(([name], i): [string, string] => [name, pairs[i][1]]),
  };
}

/**
 * Most heads hold nothing: one scan over every part joined by newlines (a delimiter to every rule)
 * says so for the price of one, instead of one scan per header. A head with any finding here is
 * scanned part by part above, which decides. A query with '+' is also read as a form ('+' a
 * space), as the part-by-part scan reads it.
 */
function clean(rules: Rules, path: string, headers: [string, string][], skip: ReadonlySet<string>): boolean {
  const parts = [path];
  for (const [name, value] of headers) if (!SKIP.has(name) && !skip.has(name)) parts.push(value);
  const all = { ...rules, report: true };
  if (scanValue(all, Buffer.from(parts.join('\n'), 'latin1'), 'head').findings.length) return false;
  const q = path.indexOf('?');
  return q < 0 || !path.includes('+', q) || scanValue(all, Buffer.from(path.slice(q + 1), 'latin1'), 'head', true).findings.length === 0;
}

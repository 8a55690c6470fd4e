// Host names as the proxy compares them: one canonical spelling, so a rule
// can never be dodged with "API.Example.com." or "[::0:1]".
import { domainToASCII, domainToUnicode } from 'node:url';
import { normalizeIp } from './ip.ts';

export type HostResult = { ok: true; host: string } | { ok: false; problem: string };
export type AuthorityResult = { ok: true; host: string; port: number } | { ok: false; problem: string };

const NAME_CHARS = /^[a-z0-9._-]+$/;
// A last label that is a number makes URL parsers read the name as an IPv4 address ("0x7f.1" is 127.0.0.1).
const NUMERIC_LABEL = /^(?:\d+|0x[0-9a-f]*)$/;

/**
 * Lower-cases, strips one trailing dot and IPv6 brackets; IP literals come back in ipaddr.js form,
 * an IPv4-mapped IPv6 address as the IPv4 address it reaches. Refused: non-ASCII (IDNs are written
 * in punycode), punycode that does not decode to itself or mixes scripts, IPv6 zone ids, and IPv4
 * written any way but dotted decimal (octal, hex, short and single-number forms).
 */
export function normalizeHost(raw: string): HostResult {
  let host = raw.toLowerCase();
  if (host.startsWith('[') || host.endsWith(']')) {
    const inner = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : '';
    const ip = inner.includes(':') ? normalizeIp(inner) : null;
    return ip ? { ok: true, host: unmapped(ip) } : { ok: false, problem: 'not a valid IPv6 address' };
  }
  // Only something that looks like an IPv6 literal gets the IPv6 message; "a.example:443" gets the ':' one.
  if (/^[0-9a-f:.]+$/.test(host) && host.includes(':')) {
    const ip = normalizeIp(host);
    return ip ? { ok: true, host: unmapped(ip) } : { ok: false, problem: 'not a valid IPv6 address' };
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host === '') return { ok: false, problem: 'host is empty' };
  const bad = [...host].find((ch) => !NAME_CHARS.test(ch));
  if (bad !== undefined) return { ok: false, problem: `host name contains ${JSON.stringify(bad)}` };
  if (host.length > 253) return { ok: false, problem: 'host name is longer than 253 characters' };
  const labels = host.split('.');
  if (labels.some((label) => label === '')) return { ok: false, problem: 'host name has an empty label' };
  if (labels.some((label) => label.length > 63)) return { ok: false, problem: 'host name has a label longer than 63 characters' };
  if (NUMERIC_LABEL.test(labels[labels.length - 1])) {
    const ip = normalizeIp(host);
    return ip ? { ok: true, host: ip } : { ok: false, problem: 'not a valid IPv4 address' };
  }
  for (const label of labels) {
    if (!label.startsWith('xn--')) continue;
    const problem = punycodeProblem(label);
    if (problem) return { ok: false, problem };
  }
  return { ok: true, host };
}

/** ::ffff:a.b.c.d reaches a.b.c.d: one spelling for one destination. */
function unmapped(ip: string): string {
  const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(ip);
  if (!m) return ip;
  const hi = parseInt(m[1], 16);
  const lo = parseInt(m[2], 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

// Scripts a label may not mix (UTS #39 "highly restrictive": one script, or Han with its Japanese
// or Korean companions). Digits, '-' and combining marks (Common, Inherited) go with any script.
const SCRIPTS = [
  'Latin', 'Greek', 'Cyrillic', 'Armenian', 'Hebrew', 'Arabic', 'Syriac', 'Thaana', 'Devanagari', 'Bengali', 'Gurmukhi', 'Gujarati',
  'Oriya', 'Tamil', 'Telugu', 'Kannada', 'Malayalam', 'Sinhala', 'Thai', 'Lao', 'Tibetan', 'Myanmar', 'Georgian', 'Hangul', 'Ethiopic',
  'Cherokee', 'Khmer', 'Mongolian', 'Hiragana', 'Katakana', 'Bopomofo', 'Han',
].map((name) => [name, new RegExp(`^\\p{Script=${name}}$`, 'u')] as const);
const NEUTRAL = /^[\p{Script=Common}\p{Script=Inherited}]$/u;
const CJK_SETS = [new Set(['Han', 'Hiragana', 'Katakana']), new Set(['Han', 'Hangul']), new Set(['Han', 'Bopomofo'])];

function scriptOf(ch: string): string | null {
  if (NEUTRAL.test(ch)) return null;
  for (const [name, re] of SCRIPTS) if (re.test(ch)) return name;
  return 'other';
}

/** An "xn--" label must be valid punycode that encodes back to itself and uses one script. */
function punycodeProblem(label: string): string | undefined {
  const unicode = domainToUnicode(label);
  if (unicode === '' || unicode.includes('.') || domainToASCII(unicode) !== label) return `label ${JSON.stringify(label)} is not valid punycode`;
  const scripts = new Set<string>();
  for (const ch of unicode) {
    const s = scriptOf(ch);
    if (s) scripts.add(s);
  }
  if (scripts.size > 1 && !CJK_SETS.some((set) => [...scripts].every((s) => set.has(s)))) {
    return `label ${JSON.stringify(label)} (${unicode}) mixes scripts: ${[...scripts].join(', ')}`;
  }
  return undefined;
}

const PORT_PROBLEM = 'port must be a number from 1 to 65535';

/** Parses a port written as 1-5 digits; null when malformed or out of range. */
export function parsePort(text: string): number | null {
  if (!/^\d{1,5}$/.test(text)) return null;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : null;
}

/** "host", "host:port", "[v6]" or "[v6]:port" (CONNECT targets, Host headers). Userinfo is refused. */
/** `defaultPort` null: the port is required (RFC 9110 authority-form, as in CONNECT). */
export function splitAuthority(authority: string, defaultPort: number | null): AuthorityResult {
  if (authority.includes('@')) return { ok: false, problem: 'user info ("user@") is not allowed' };
  let hostPart: string;
  let portPart: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close === -1) return { ok: false, problem: 'not a valid IPv6 address' };
    hostPart = authority.slice(0, close + 1);
    const rest = authority.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return { ok: false, problem: 'unexpected text after "]"' };
      portPart = rest.slice(1);
    }
  } else {
    const colons = authority.split(':').length - 1;
    if (colons > 1) return { ok: false, problem: 'IPv6 addresses must be written in brackets' };
    const colon = authority.indexOf(':');
    hostPart = colon === -1 ? authority : authority.slice(0, colon);
    portPart = colon === -1 ? undefined : authority.slice(colon + 1);
  }
  if (portPart === undefined && defaultPort === null) return { ok: false, problem: 'a port is required (host:port)' };
  let port = defaultPort ?? 0;
  if (portPart !== undefined) {
    const parsed = parsePort(portPart);
    if (parsed === null) return { ok: false, problem: PORT_PROBLEM };
    port = parsed;
  }
  const host = normalizeHost(hostPart);
  return host.ok ? { ok: true, host: host.host, port } : host;
}

/** Exact name (case-insensitive, normalised) or "*.suffix", which needs at least one extra label. */
export function hostMatches(pattern: string, host: string): boolean {
  const target = normalizeHost(host);
  if (!target.ok) return false;
  const p = pattern.startsWith('*.') ? normalizeHost(pattern.slice(2)) : normalizeHost(pattern);
  return p.ok && matchesNormalized(pattern.startsWith('*.') ? `*.${p.host}` : p.host, target.host);
}

/**
 * hostMatches for a pattern and host that are both already normalised (rule patterns are at
 * parse time, request hosts once per request): no re-parsing on the per-request path.
 */
export function matchesNormalized(pattern: string, host: string): boolean {
  if (!pattern.startsWith('*.')) return pattern === host;
  // A wildcard never matches an IP literal (normalised IPs are v6 with ':' or dotted digits).
  if (host.includes(':') || /^[\d.]+$/.test(host)) return false;
  return host.length > pattern.length - 1 && host.endsWith(pattern.slice(1));
}

// Validates a rule's `match`: an exact name, an IP literal, or "*.suffix".
import { normalizeHost } from './hostnames.ts';
import { normalizeIp } from './ip.ts';

export type MatchResult = { ok: true; match: string } | { ok: false; problem: string };

/** `broad`: for deny rules, where "*" (every host) and "*.com" (a whole top-level domain) are fine. */
export function parseMatch(text: string, broad = false): MatchResult {
  const lower = text.trim().toLowerCase();
  if (lower.includes('://')) return { ok: false, problem: 'write only the host name, not a URL' };
  if (lower === '*') return broad ? { ok: true, match: '*' } : { ok: false, problem: '"*" would allow every host' };
  if (lower.startsWith('*.')) {
    const rest = lower.slice(2);
    if (rest.includes('*')) return wildcardPosition(text);
    const suffix = normalizeHost(rest);
    if (!suffix.ok) return suffix;
    if (normalizeIp(suffix.host) !== null) return { ok: false, problem: 'a wildcard cannot stand for part of an IP address' };
    // "*.com" is every name in a top-level domain: almost certainly a mistake, and never least privilege.
    if (!suffix.host.includes('.') && !broad) return { ok: false, problem: `"${text}" would allow a whole top-level domain` };
    return { ok: true, match: `*.${suffix.host}` };
  }
  if (lower.includes('*')) return wildcardPosition(text);
  const host = normalizeHost(lower);
  if (!host.ok && host.problem === 'host name contains ":"') return { ok: false, problem: `${host.problem}; put the port in "ports"` };
  return host.ok ? { ok: true, match: host.host } : host;
}

function wildcardPosition(text: string): MatchResult {
  return { ok: false, problem: `"${text}": "*" is only allowed as the whole first label, as in "*.example.com"` };
}

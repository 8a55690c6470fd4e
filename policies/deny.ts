// Deny rules (`deny:`): exceptions under the allow rules that always win, whatever their order.
// A deny rule is matched the way the most lenient upstream could read the request, so spelling
// a denied path differently (case, %-escapes, "\", "//", "." and ".." segments, ";params") does
// not slip past it. Allow rules stay strict (policies/decide.ts): both sides fail closed.
import { type AgentIdentity, ruleAppliesTo } from './agents.ts';
import { matchesNormalized } from './hostnames.ts';
import type { DenyRule } from './types.ts';

/** How many rounds of %-decoding a path gets: a server (or a chain of them) may decode more than once. */
const DECODE_ROUNDS = 3;

function percentDecode(s: string): string {
  return s.replace(/%([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/**
 * The path as a lenient server could read it, for deny rules: query and fragment cut, then up to
 * three rounds of: %-escapes decoded, "\" read as "/", ";params" of each segment dropped, empty
 * segments merged, "." and ".." resolved, lower-cased. Always starts with "/".
 */
export function canonicalPath(path: string): string {
  const end = path.search(/[?#]/);
  let p = end === -1 ? path : path.slice(0, end);
  for (let i = 0; i < DECODE_ROUNDS; i++) {
    const next = normalizeOnce(p);
    if (next === p) break;
    p = next;
  }
  return p;
}

function normalizeOnce(p: string): string {
  const segments = percentDecode(p).replace(/\\/g, '/').split('/');
  const out: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const last = i === segments.length - 1;
    const semi = segments[i].indexOf(';');
    const s = semi === -1 ? segments[i] : segments[i].slice(0, semi);
    if (s === '' || s === '.' || s === '..') {
      if (s === '..') out.pop();
      if (last && i > 0) out.push(''); // a trailing "/" (or "/." or "/..") stays a directory
      continue;
    }
    out.push(s);
  }
  return ('/' + out.join('/')).toLowerCase();
}

/** A deny rule's own scope: this agent, this host and port. */
function covers(rule: DenyRule, host: string, port: number, agent: AgentIdentity | undefined): boolean {
  return (rule.match === '*' || matchesNormalized(rule.match, host)) && (!rule.ports || rule.ports.includes(port)) && ruleAppliesTo(rule, agent);
}

/** The first deny rule that refuses a whole connection to host:port (one without methods or paths). */
export function denyConnection(
  rules: readonly DenyRule[],
  host: string,
  port: number,
  agent: AgentIdentity | undefined,
): DenyRule | undefined {
  return rules.find((r) => !r.methods && !r.paths && covers(r, host, port, agent));
}

/** The first deny rule that refuses this request. `path` is the request target's path (query ignored). */
export function denyRequest(
  rules: readonly DenyRule[],
  req: { host: string; port: number; method: string; path: string },
  agent: AgentIdentity | undefined,
): DenyRule | undefined {
  let canonical: string | undefined;
  const method = req.method.toUpperCase();
  for (const r of rules) {
    if (!covers(r, req.host, req.port, agent)) continue;
    if (r.methods && !r.methods.includes(method)) continue;
    if (r.paths) {
      canonical ??= canonicalPath(req.path);
      if (!r.paths.some((prefix) => canonical!.startsWith(prefix))) continue;
    }
    return r;
  }
  return undefined;
}

// Policy decisions for the proxy: values with fixed reason phrases, plus a hint
// an AI agent can act on (what to change, and that blind retries will not help).
import { type AgentIdentity, ruleAppliesTo } from './agents.ts';
import { denyConnection, denyRequest } from './deny.ts';
import { matchesNormalized, normalizeHost } from './hostnames.ts';
import type { Config, Decision, DenyCode, DenyRule, HostRule } from './types.ts';

export { type AgentIdentity, ruleAppliesTo };

export interface RequestFacts {
  host: string;
  port: number;
  scheme: 'http' | 'https';
  method: string;
  /** Request target path; a query string is ignored. */
  path: string;
  websocket: boolean;
  /** Who is asking; rules with `agents` apply only to a matching identity. */
  agent?: AgentIdentity;
}

/** The rules covering this host for this agent. Rules scoped to other agents do not exist for it. */
function candidatesFor(config: Config, host: string, agent: AgentIdentity | undefined): HostRule[] {
  return config.hosts.filter((rule) => matchesNormalized(rule.match, host) && ruleAppliesTo(rule, agent));
}

export const REASONS: Record<DenyCode, string> = {
  host_not_allowed: 'host is not in the policy',
  host_denied_by_rule: 'host is denied by a deny rule',
  request_denied_by_rule: 'request is denied by a deny rule',
  port_not_allowed: 'port is not allowed for this host',
  method_not_allowed: 'method is not allowed for this host',
  path_not_allowed: 'path is not allowed for this host',
  plain_http_not_allowed: 'plain HTTP is not allowed for this host; use https',
  websocket_not_allowed: 'WebSocket is not allowed for this host',
  address_not_allowed: 'host resolves to an address that is not allowed',
  host_mismatch: 'request host does not match the connection',
  placeholder_exfiltration: 'placeholder sent to a host it does not belong to',
  bad_request: 'request is malformed',
};

const ASK = 'ask the operator to change the policy if this is needed.';

/** The ports a rule allows: its `ports`, else 443 (and 80 with plain_http). */
export function rulePorts(rule: HostRule): number[] {
  return rule.ports ?? (rule.plainHttp ? [443, 80] : [443]);
}

function deny(code: DenyCode, hint: string, ruleId?: string): Decision {
  return ruleId === undefined
    ? { allow: false, code, reason: REASONS[code], hint }
    : { allow: false, code, reason: REASONS[code], hint, ruleId };
}

const BAD_HOST = deny('bad_request', 'airlock could not read a valid host name in this request. Check the URL; do not retry the same request.');
const NOT_IN_POLICY = deny(
  'host_not_allowed',
  "airlock's policy does not allow this host. Do not retry; ask the operator to add it to the policy.",
);

function portHint(...rules: HostRule[]): string {
  const ports = [...new Set(rules.flatMap(rulePorts))].sort((a, b) => a - b);
  return `airlock's policy allows this host only on port ${ports.join(', ')}. Do not retry on this port; ${ASK}`;
}

/** The 403 for a deny rule: it names the rule, and says that retrying will not help. */
function denied(rule: DenyRule, wholeHost: boolean): Decision {
  const what = wholeHost ? 'this host' : `${rule.methods ? rule.methods.join(', ') : 'requests'}${rule.paths ? ` under ${rule.paths.join(', ')}` : ''} on this host`;
  return deny(
    wholeHost ? 'host_denied_by_rule' : 'request_denied_by_rule',
    `airlock's policy explicitly denies ${what} (deny rule ${rule.id}). Do not retry; ${ASK}`,
    rule.id,
  );
}

/** CONNECT and transparent connections: may anything be sent to host:port at all? Deny rules first. */
export function decideConnect(config: Config, host: string, port: number, agent?: AgentIdentity): Decision {
  const target = normalizeHost(host);
  if (!target.ok) return BAD_HOST;
  const d = denyConnection(config.deny, target.host, port, agent);
  if (d) return denied(d, true);
  const candidates = candidatesFor(config, target.host, agent);
  if (candidates.length === 0) return NOT_IN_POLICY;
  const rule = candidates.find((r) => rulePorts(r).includes(port));
  if (rule) return { allow: true, rule };
  return deny('port_not_allowed', portHint(...candidates), candidates[0].id);
}

/** Path without query or fragment. */
function pathOnly(path: string): string {
  const end = path.search(/[?#]/);
  return end === -1 ? path : path.slice(0, end);
}

/** "/v1/../admin" passes a "/v1/" prefix but reaches "/admin" upstream, so dot segments never match. */
function hasDotSegment(path: string): boolean {
  const decoded = path.replace(/%2e/gi, '.').replace(/%2f|%5c|\\/gi, '/');
  return decoded.split('/').some((segment) => segment === '.' || segment === '..');
}

function pathAllowed(rule: HostRule, path: string): boolean {
  if (!rule.paths) return true;
  if (hasDotSegment(path)) return false;
  return rule.paths.some((prefix) => path.startsWith(prefix));
}

type Check = { code: DenyCode; passes: (rule: HostRule) => boolean; hint: (rule: HostRule) => string };

/** Checked in this order; a rule that fails a later check is "closer" and names the denial. */
function checks(req: RequestFacts, method: string, path: string): Check[] {
  return [
    {
      code: 'plain_http_not_allowed',
      passes: (r) => req.scheme === 'https' || r.plainHttp,
      hint: () => "airlock's policy requires https for this host. Send the same request to the https:// URL instead.",
    },
    { code: 'port_not_allowed', passes: (r) => rulePorts(r).includes(req.port), hint: (r) => portHint(r) },
    {
      code: 'method_not_allowed',
      passes: (r) => !r.methods || r.methods.includes(method),
      hint: (r) => `airlock's policy allows only ${r.methods?.join(', ')} to this host. Do not retry with ${method}; ${ASK}`,
    },
    {
      code: 'path_not_allowed',
      passes: (r) => pathAllowed(r, path),
      hint: (r) => `airlock's policy allows only paths starting with ${r.paths?.join(', ')} on this host. Do not retry this path; ${ASK}`,
    },
    {
      code: 'websocket_not_allowed',
      passes: (r) => !req.websocket || r.websocket,
      hint: () => `airlock's policy does not allow WebSocket connections to this host. Do not retry; use plain HTTPS requests or ${ASK}`,
    },
  ];
}

/**
 * A deny rule that matches wins, whatever the order; then the first rule that allows the whole
 * request; otherwise the closest rule explains the denial.
 */
export function decideRequest(config: Config, req: RequestFacts): Decision {
  const target = normalizeHost(req.host);
  if (!target.ok) return BAD_HOST;
  const d = denyRequest(config.deny, { host: target.host, port: req.port, method: req.method, path: req.path }, req.agent);
  if (d) return denied(d, !d.methods && !d.paths);
  const candidates = candidatesFor(config, target.host, req.agent);
  if (candidates.length === 0) return NOT_IN_POLICY;
  // Methods are case-sensitive (RFC 9110): "get" is not GET.
  const list = checks(req, req.method, pathOnly(req.path));
  let closest: { rule: HostRule; failed: number } | undefined;
  for (const rule of candidates) {
    const failed = list.findIndex((check) => !check.passes(rule));
    if (failed === -1) return { allow: true, rule };
    if (!closest || failed > closest.failed) closest = { rule, failed };
  }
  const { rule, failed } = closest!;
  return deny(list[failed].code, list[failed].hint(rule), rule.id);
}

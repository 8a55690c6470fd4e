// Report mode (`mode: report`, for the policy or a rule): a request the host rules would deny
// goes through and is recorded as would_deny with the denial's code, reason and rule. What still
// applies whatever the mode: deny rules, malformed hosts, the after-DNS address check (the rule
// used names only the addresses the policy pins), placeholders and DLP; budgets and MCP tool
// checks too (the pipeline applies them after this, to every admitted request).
import type { Config, Decision, HostRule } from './types.ts';

/** Codes report mode lets through: the host rules' own verdicts. */
const REPORTABLE = new Set(['host_not_allowed', 'port_not_allowed', 'method_not_allowed', 'path_not_allowed', 'plain_http_not_allowed', 'websocket_not_allowed']);

type Denial = Extract<Decision, { allow: false }>;

/**
 * The rule a denied request goes through in report mode, or null when it stays denied. The rule
 * that came closest (its injection and addresses apply, as they would once it allows the
 * request); for a host no rule covers, a rule that injects nothing and may reach only addresses
 * `upstream.resolve` pins for the host.
 */
export function reportThrough(config: Config, d: Denial, host: string): HostRule | null {
  if (!REPORTABLE.has(d.code)) return null;
  const closest = d.ruleId === undefined ? undefined : config.hosts.find((r) => r.id === d.ruleId);
  const mode = closest?.mode ?? config.mode;
  if (mode !== 'report') return null;
  // A rule's credential goes only where the rule would send it: never in clear text or to a port
  // the rule does not name, so such a request stays denied on a rule that adds one.
  if (closest && OUTSIDE_TRANSPORT.has(d.code) && carriesCredential(closest)) return null;
  return closest ?? observingRule(config, host);
}

/** Denials whose request would leave by another transport than the rule's. */
const OUTSIDE_TRANSPORT = new Set(['plain_http_not_allowed', 'port_not_allowed']);

function carriesCredential(rule: HostRule): boolean {
  return rule.injectHeaders.length > 0 || rule.credential !== undefined || rule.placeholders.length > 0;
}

function observingRule(config: Config, host: string): HostRule {
  const pinned = config.upstream.resolve.get(host);
  return {
    index: -1,
    id: 'report-mode',
    match: host,
    allowIps: pinned === undefined ? [] : [{ text: pinned, contains: (ip) => ip === pinned }],
    plainHttp: true,
    websocket: true,
    allowRange: false,
    injectHeaders: [],
    placeholders: [],
    mode: 'report',
    explain: `report mode: ${host} is not in the policy`,
  };
}

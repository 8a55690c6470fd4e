// What-if: a candidate policy decided against recorded flows (`airlock policy replay`, the UI's
// Replay page). Every verdict comes from policies/decide.ts, the proxy's own decision functions;
// DLP actions of stored findings from policies/dlp-actions.ts. No traffic is sent.
import { decideConnect, decideRequest } from './decide.ts';
import { dlpActionFor } from './dlp-actions.ts';
import type { Config } from './types.ts';

/** What replay and suggest need of a stored flow (proxy/store/sqlite-queries.ts flowFacts). */
export interface FlowFacts {
  id: number;
  started_at: number;
  method: string | null;
  scheme: string | null;
  host: string | null;
  port: number | null;
  path: string | null;
  protocol: string;
  decision: string;
  code: string | null;
  rule_id: string | null;
  agent_user: string | null;
  listener: string;
  /** DLP rule ids of the findings in what the agent sent (URL, headers, body, WebSocket), comma-separated (null: none). */
  finding_rules: string | null;
  /** The same for the response body: they count only where the candidate scans responses. Findings in
   * text airlock stores about a flow (its reason, error, agent user) are neither: no DLP action stops a flow for them. */
  response_finding_rules: string | null;
}

/** Codes of the policy's verdicts on hosts, methods and paths (and DLP): what a candidate can change. */
const POLICY_CODES = new Set([
  'host_not_allowed', 'host_denied_by_rule', 'request_denied_by_rule', 'port_not_allowed', 'method_not_allowed',
  'path_not_allowed', 'plain_http_not_allowed', 'websocket_not_allowed', 'dlp_blocked',
]);

export type Verdict = { allowed: true; rule: string } | { allowed: false; code: string; rule: string | null };

/** What the store says happened, as allowed or denied by the policy; null when the policy did not decide it (bad input, limits, a refusal replay cannot judge). */
export function recordedVerdict(f: FlowFacts): Verdict | null {
  if (f.decision === 'allow' || (f.decision === 'error' && f.code !== 'address_not_allowed')) return { allowed: true, rule: f.rule_id ?? '' };
  if ((f.decision === 'deny' || f.decision === 'would_deny') && f.code && POLICY_CODES.has(f.code)) return { allowed: false, code: f.code, rule: f.rule_id };
  return null;
}

/** The candidate's verdict on the same flow: its host rules, deny rules, then DLP on the stored findings. */
export function candidateVerdict(c: Config, f: FlowFacts): Verdict | null {
  if (!f.host || f.port === null) return null;
  const agent = { user: f.agent_user ?? undefined, listener: f.listener };
  const connect = f.method === 'CONNECT' || f.path === null;
  const d = connect
    ? decideConnect(c, f.host, f.port, agent)
    : decideRequest(c, {
        host: f.host,
        port: f.port,
        scheme: f.scheme === 'http' ? 'http' : 'https',
        method: f.method ?? 'GET',
        path: f.path!,
        websocket: f.protocol === 'ws',
        agent,
      });
  // Judged as enforced: a candidate in report mode would record these as would_deny.
  if (!d.allow) return { allowed: false, code: d.code, rule: d.ruleId ?? null };
  if (!connect && c.dlp.mode === 'enforce') {
    const found = [f.finding_rules, c.dlp.responses ? f.response_finding_rules : null].filter((x) => x !== null).join(',');
    const blocking = found && found.split(',').find((id) => dlpActionFor(c.dlp, id, f.host!, f.path!) === 'block');
    if (blocking) return { allowed: false, code: 'dlp_blocked', rule: blocking };
  }
  return { allowed: true, rule: d.rule.id };
}

export interface ChangeGroup {
  change: 'newly_denied' | 'newly_allowed';
  /** newly_denied: the candidate's code and rule; newly_allowed: the rule that now allows it. */
  code: string | null;
  rule: string | null;
  count: number;
  /** Up to EXAMPLES flows: id and request line. */
  examples: { id: number; what: string }[];
}

export interface ReplayResult {
  flows: number;
  /** Flows the policy did not decide (bad input, limits, placeholder or address checks): not compared. */
  skipped: number;
  unchanged: { allowed: number; denied: number };
  newlyDenied: number;
  newlyAllowed: number;
  groups: ChangeGroup[];
}

const EXAMPLES = 3;

/** Replays flows one by one (memory stays flat: only counts and a few examples per group are kept). */
export class Replay {
  private r: ReplayResult = { flows: 0, skipped: 0, unchanged: { allowed: 0, denied: 0 }, newlyDenied: 0, newlyAllowed: 0, groups: [] };
  private byKey = new Map<string, ChangeGroup>();

  constructor(private readonly candidate: Config) {}

  add(f: FlowFacts): void {
    this.r.flows++;
    const before = recordedVerdict(f);
    const after = before && candidateVerdict(this.candidate, f);
    if (!before || !after) return void this.r.skipped++;
    if (before.allowed === after.allowed) {
      if (after.allowed) this.r.unchanged.allowed++;
      else this.r.unchanged.denied++;
      return;
    }
    const change = after.allowed ? 'newly_allowed' : 'newly_denied';
    if (after.allowed) this.r.newlyAllowed++;
    else this.r.newlyDenied++;
    const code = after.allowed ? null : after.code;
    const key = `${change}\0${code}\0${after.rule}`;
    let g = this.byKey.get(key);
    if (!g) this.byKey.set(key, (g = { change, code, rule: after.rule || null, count: 0, examples: [] }));
    g.count++;
    if (g.examples.length < EXAMPLES) g.examples.push({ id: f.id, what: requestLine(f) });
  }

  result(): ReplayResult {
    const groups = [...this.byKey.values()].sort((a, b) => a.change.localeCompare(b.change) || b.count - a.count);
    return { ...this.r, groups };
  }
}

export function requestLine(f: Pick<FlowFacts, 'method' | 'scheme' | 'host' | 'port' | 'path'>): string {
  const host = f.host?.includes(':') ? `[${f.host}]` : (f.host ?? '-');
  if (f.method === 'CONNECT' || f.path === null) return `CONNECT ${host}:${f.port ?? 443}`;
  const scheme = f.scheme ?? 'https';
  const port = f.port === null || f.port === (scheme === 'https' ? 443 : 80) ? '' : `:${f.port}`;
  return `${f.method ?? '-'} ${scheme}://${host}${port}${f.path}`;
}

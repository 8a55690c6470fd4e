// The front half every request and WebSocket upgrade goes through, under the policy it arrived
// with: target, decision, header names, placeholders, DLP on the head, what the record keeps of
// the headers, and the rule's credentials. A refusal is a value, never a throw.
import { decideRequest } from '../../policies/decide.ts';
import { matchesNormalized } from '../../policies/hostnames.ts';
import { reportThrough } from '../../policies/report.ts';
import type { Config, HostRule } from '../../policies/types.ts';
import { agentUser } from '../agent-user.ts';
import type { ConnInfo } from '../conn.ts';
import { scanHead } from '../dlp/head.ts';
import { rulesFor } from '../dlp/policy.ts';
import { newFlow, type Flow } from '../flow.ts';
import { checkPlaceholders, foreignPlaceholders, overwrittenNames, recordedHeaders, withoutRange } from '../stages/credentials.ts';
import { checkHeaderNames, forwardableHeaders, headersForRecord, injectedAliases } from '../stages/headers.ts';
import { sealRefusedHead } from '../stages/seal.ts';
import { requestTarget, type RequestTarget } from '../stages/target.ts';
import { blockReason, placeholderReason } from './outcomes.ts';
import { authorityHeader, urlOf } from './request-facts.ts';
import type { Admitted, AnyRequest, PipelineState } from './state.ts';

export type Admission = { ok: true; a: Admitted } | { ok: false; flow: Flow; status: number; code: string; reason: string; rule?: string; hint?: string };

export function admit(p: PipelineState, req: AnyRequest, conn: ConnInfo, websocket: boolean, config: Config): Admission {
  const isH2 = req.httpVersionMajor === 2;
  const flow = newFlow({
    entry: conn.entry,
    listener: conn.listener,
    client: conn.client,
    agentUser: agentUser(req.headers['proxy-authorization'] as string | undefined) ?? conn.agentUser,
    method: req.method,
    protocol: websocket ? 'ws' : isH2 ? 'h2' : 'h1',
  });
  const url = urlOf(req);
  const authority = authorityHeader(req);
  const raw = forwardableHeaders(req.rawHeaders);
  let target: RequestTarget | undefined;
  /** `sealed`: DLP already gave the record its copy of the head. */
  const refuse = (status: number, code: string, reason: string, rule?: string, decision: 'deny' | 'refuse' = 'deny', sealed = false, hint?: string) => {
    if (!sealed) sealRefusedHead(flow, rulesFor(config.dlp, flow.host ?? '', flow.path ?? '/'), target?.path, raw);
    flow.decision = decision;
    flow.status = status;
    flow.code = code;
    flow.reason = reason;
    flow.ruleId = rule;
    return { ok: false as const, flow, status, code, reason, rule, hint };
  };

  const t = requestTarget(conn, url, authority, conn.route ? (h) => config.hosts.some((r) => matchesNormalized(r.match, h)) : undefined);
  if (!t.ok) {
    flow.host = t.host;
    return refuse(t.status, t.code, t.reason);
  }
  target = t.target;
  const q = target.path.indexOf('?');
  Object.assign(flow, {
    scheme: target.scheme,
    host: target.host,
    port: target.port,
    path: q < 0 ? target.path : target.path.slice(0, q),
    query: q < 0 ? undefined : target.path.slice(q + 1),
  });
  const d = decideRequest(config, {
    host: target.host,
    port: target.port,
    scheme: target.scheme,
    method: req.method ?? 'GET',
    path: flow.path ?? '/',
    websocket,
    agent: { user: flow.agentUser, listener: conn.listener },
  });
  let rule: HostRule;
  if (d.allow) {
    rule = d.rule;
    flow.ruleId = rule.id;
  } else {
    // Report mode: the denial is recorded and the request goes on (policies/report.ts).
    const through = reportThrough(config, d, target.host);
    if (!through) return refuse(403, d.code, d.reason, d.ruleId, 'deny', false, d.hint);
    Object.assign(flow, { decision: 'would_deny', code: d.code, reason: d.reason, ruleId: d.ruleId });
    rule = through;
  }
  const names = checkHeaderNames(raw, injectedAliasesOf(rule), config.limits.headersWithUnderscores);
  if (!names.ok) return refuse(400, names.code, names.reason, rule.id, 'refuse');
  if (names.headers !== raw) raw.splice(0, raw.length, ...names.headers);
  const ph = checkPlaceholders(foreignPlaceholders(config, rule), target.path, raw);
  if (!ph.ok) return refuse(403, 'placeholder_exfiltration', placeholderReason(ph.placeholderOf, target.host), rule.id);
  const rules = rulesFor(config.dlp, target.host, flow.path ?? '/');
  let agentHeaders = raw;
  let path = target.path;
  if (rules) {
    const h = scanHead(rules, target.path, raw, overwrittenNames(rule));
    if (h.findings.length) {
      flow.findings = h.findings;
      // The record keeps every finding redacted, whatever the action.
      const q = h.storedPath.indexOf('?');
      flow.path = q < 0 ? h.storedPath : h.storedPath.slice(0, q);
      flow.query = q < 0 ? undefined : h.storedPath.slice(q + 1);
    }
    if (h.blocked) {
      flow.requestHeaders = headersForRecord(h.storedHeaders);
      const r = refuse(403, 'dlp_blocked', blockReason(config, h.blocked), h.blocked.ruleId, 'deny', true);
      flow.ruleId = rule.id;
      return r;
    }
    agentHeaders = h.headers;
    path = h.path;
    if (h.findings.length) raw.splice(0, raw.length, ...h.storedHeaders);
  }
  const rec = recordedHeaders(rule, rules && flow.findings ? raw : agentHeaders);
  flow.requestHeaders = headersForRecord(rec.recorded);
  flow.injected = rec.injected;
  const creds = p.credentials.of(rule);
  // Range windows of an echo could hand the key over in pieces (credentials.ts withoutRange).
  const headers = withoutRange(rule, agentHeaders);
  return { ok: true, a: { config, flow, rule, target: path === target.path ? target : { ...target, path }, headers, creds, rules } };
}

const injectedAliasesByRule = new WeakMap<HostRule, ReadonlyMap<string, string>>();

/** The rule's injected header names by the name an upstream may read them as. Once per rule. */
function injectedAliasesOf(rule: HostRule): ReadonlyMap<string, string> {
  let aliases = injectedAliasesByRule.get(rule);
  if (!aliases) injectedAliasesByRule.set(rule, (aliases = injectedAliases(overwrittenNames(rule))));
  return aliases;
}

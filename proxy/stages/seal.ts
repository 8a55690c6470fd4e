// What the store (and the log) keeps of text an agent chose, where DLP did not already read it
// on the way in: the target and headers of a request refused before DLP (a denied host, a bad
// target), the URL a gate quotes, a reason that quotes a header, an upstream error, the agent
// user. Every DLP finding in it is redacted whatever its action, and the rule's injected
// secrets are scrubbed in every form, so no stored copy of any finding is in clear.
import { type EchoSet, scrubEchoes } from '../dlp/echo.ts';
import { scanHead } from '../dlp/head.ts';
import { type Finding, type Rules, scanValue } from '../dlp/stream.ts';
import type { Flow } from '../flow.ts';
import { headersForRecord } from './headers.ts';

const NONE: ReadonlySet<string> = new Set();

/** `text` as the store may keep it, and what was found in it. */
export function sealText(rules: Rules | null, echo: EchoSet | null, text: string, location: string): { text: string; findings: Finding[] } {
  let out = text;
  let findings: Finding[] = [];
  if (rules) {
    const r = scanValue(rules, Buffer.from(out, 'latin1'), location, false, true);
    findings = r.findings;
    if (findings.length) out = r.stored.toString('latin1');
  }
  if (echo) {
    const r = scrubEchoes(echo, Buffer.from(out, 'latin1'), true);
    if (r.scrubbed) out = r.out.toString('latin1');
  }
  return { text: out, findings };
}

/**
 * The head of a request refused before DLP read it: path, query and headers recorded with every
 * finding redacted (the findings too, with the actions the policy gives them).
 */
export function sealRefusedHead(flow: Flow, rules: Rules | null, target: string | undefined, headers: [string, string][]): void {
  if (!rules) {
    flow.requestHeaders = headersForRecord(headers);
    return;
  }
  const h = scanHead(rules, target ?? '', headers, NONE);
  flow.requestHeaders = headersForRecord(h.storedHeaders);
  if (!h.findings.length) return;
  addFindings(flow, h.findings);
  if (target !== undefined) {
    const q = h.storedPath.indexOf('?');
    flow.path = q < 0 ? h.storedPath : h.storedPath.slice(0, q);
    flow.query = q < 0 ? undefined : h.storedPath.slice(q + 1);
  }
}

/** The flow's other agent-chosen text: `target` when the head was not sealed yet, then reason, error and agent user. */
export function sealFlowText(flow: Flow, rules: Rules | null, echo: EchoSet | null, target: boolean): void {
  if (!rules && !echo) return;
  const seal = (text: string | undefined, location: string) => {
    if (!text) return text;
    const s = sealText(rules, echo, text, location);
    addFindings(flow, s.findings);
    return s.text;
  };
  if (target) {
    flow.path = seal(flow.path, 'url');
    flow.query = seal(flow.query, 'query');
  }
  flow.reason = seal(flow.reason, 'reason');
  flow.error = seal(flow.error, 'error');
  if (flow.agentUser && rules) {
    const s = sealedUser(rules, flow.agentUser);
    addFindings(flow, s.findings);
    flow.agentUser = s.text;
  }
}

/** The agent user is on every flow of its agent: sealed once per user and rule set. */
const users = new WeakMap<Rules['actions'], Map<string, { text: string; findings: Finding[] }>>();

function sealedUser(rules: Rules, user: string): { text: string; findings: Finding[] } {
  let m = users.get(rules.actions);
  if (!m || m.size > 1000) users.set(rules.actions, (m = new Map()));
  let s = m.get(user);
  if (!s) m.set(user, (s = sealText(rules, null, user, 'agent user')));
  return s;
}

function addFindings(flow: Flow, found: Finding[]): void {
  if (found.length) (flow.findings ??= []).push(...found);
}

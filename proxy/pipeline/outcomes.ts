// How a request's end is put into words: for the flow record and for the agent's answer.
import type { Config } from '../../policies/types.ts';
import type { EchoSet } from '../dlp/echo.ts';
import type { Finding } from '../dlp/stream.ts';
import { describeUpstreamError, isAgentFault } from '../errors.ts';
import type { Flow } from '../flow.ts';
import { sealText } from '../stages/seal.ts';

/** Records an upstream failure on the flow; returns what the agent is told (never a form of the rule's secrets). */
export function markFailed(flow: Flow, err: unknown, echo: EchoSet | null): ReturnType<typeof describeUpstreamError> {
  const e = describeUpstreamError(err);
  if (echo) e.message = sealText(null, echo, e.message, 'error').text;
  // A limit the agent hit (a slow or oversized body) is airlock refusing the request, not a failure.
  const decision = e.code === 'address_not_allowed' ? 'deny' : isAgentFault(e.code) ? 'refuse' : 'error';
  if (decision === 'error' && flow.decision === 'would_deny') {
    // Report mode: what the policy would have done stays the record's decision; the failure is its error.
    flow.error = `${e.code}: ${e.message}`;
  } else Object.assign(flow, { decision, code: e.code, error: e.message });
  flow.status ??= e.status; // a response already under way keeps the status the agent saw
  return e;
}

/** The 403's reason: where, which rule, in plain words; never the secret. */
export function blockReason(config: Config, f: Finding): string {
  const rule = config.dlp.rules.find((r) => r.id === f.ruleId);
  return `the ${f.location.startsWith('header:') ? `header ${f.location.slice(7)}` : f.location} matched DLP rule ${f.ruleId}${rule ? ` (${rule.description})` : ''}`;
}

/** The refusal's reason for another rule's placeholder. */
export function placeholderReason(owner: string, host: string): string {
  return `a credential placeholder for ${owner} was sent to ${host}`;
}

/** Codes of the policy's own decisions (policies/decide.ts), as opposed to refusals of bad input. */
export function isPolicyDenial(code: string): boolean {
  return code.endsWith('_not_allowed') || code.endsWith('_denied_by_rule');
}

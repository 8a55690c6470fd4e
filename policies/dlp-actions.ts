// What the policy's DLP settings do with one rule on one host and path: the rule's action with
// the policy's exceptions applied. proxy/dlp/policy.ts compiles the same into per-request action
// tables; `airlock policy replay` asks it of stored findings.
import type { RuleAction } from './dlp/types.ts';
import { matchesNormalized } from './hostnames.ts';
import type { DlpConfig, DlpException } from './types.ts';

/** `*`, `prefix-*` or an exact rule id. */
export function ruleMatches(pattern: string, id: string): boolean {
  if (pattern === '*') return true;
  return pattern.endsWith('*') ? id.startsWith(pattern.slice(0, -1)) : pattern === id;
}

export function exceptionApplies(e: DlpException, host: string, path: string): boolean {
  return e.hosts.some((h) => matchesNormalized(h, host)) && (!e.paths || e.paths.some((p) => path.startsWith(p)));
}

/** The action for rule `id` on this host and path; the last matching exception wins. 'off' when DLP is off. */
export function dlpActionFor(dlp: DlpConfig, id: string, host: string, path: string): RuleAction {
  if (!dlp.enabled) return 'off';
  let action: RuleAction = dlp.actions[id] ?? 'off';
  for (const e of dlp.exceptions) if (exceptionApplies(e, host, path) && e.rules.some((pat) => ruleMatches(pat, id))) action = e.action;
  return action;
}

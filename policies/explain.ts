// One plain-words sentence per host rule, for auditors reading `airlock policy` output.
import type { DenyRule, HostRule } from './types.ts';

export function explainRule(rule: Omit<HostRule, 'explain'>): string {
  const methods = rule.methods ? rule.methods.join(', ') : 'any method';
  const ports = rule.ports ?? (rule.plainHttp ? [443, 80] : [443]);
  let text = `allows ${methods} to ${rule.match} on port${ports.length > 1 ? 's' : ''} ${ports.join(', ')}`;
  if (rule.paths) text += ` under ${rule.paths.join(', ')}`;
  if (rule.agents?.length) text += ` for ${rule.agents.join(', ')} only`;
  const extras: string[] = [];
  if (rule.plainHttp) extras.push('plain HTTP too');
  if (!rule.websocket) extras.push('no WebSocket');
  if (rule.allowIps.length > 0) extras.push(`may reach ${rule.allowIps.map((c) => c.text).join(', ')}`);
  if (rule.injectHeaders.length > 0) extras.push(`injects ${rule.injectHeaders.map((h) => h.name).join(', ')}${rule.allowRange ? ' (Range requests allowed)' : ''}`);
  if (rule.placeholders.length > 0) {
    extras.push(`replaces ${rule.placeholders.length === 1 ? 'a placeholder' : `${rule.placeholders.length} placeholders`} with ${rule.placeholders[0].secret.name}`);
  }
  return extras.length > 0 ? `${text}; ${extras.join('; ')}` : text;
}

/** The same for a deny rule: what it refuses, whatever the allow rules say. */
export function explainDeny(rule: Omit<DenyRule, 'explain'>): string {
  let text = `denies ${rule.methods ? rule.methods.join(', ') : 'every method'} to ${rule.match}`;
  text += rule.ports ? ` on port${rule.ports.length > 1 ? 's' : ''} ${rule.ports.join(', ')}` : ' on every port';
  if (rule.paths) text += ` under ${rule.paths.join(', ')} (any spelling)`;
  if (rule.agents?.length) text += ` for ${rule.agents.join(', ')} only`;
  return `${text}, whatever the allow rules say`;
}

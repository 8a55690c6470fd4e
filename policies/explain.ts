// One plain-words sentence per host rule, for auditors reading `airlock policy` output.
import type { CredentialScheme, DenyRule, HostRule } from './types.ts';

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
  // allow_range matters only where something is injected (stages/credentials.ts windowsAllowed).
  const ranged = rule.allowRange ? ' (Range requests allowed)' : '';
  if (rule.injectHeaders.length > 0) extras.push(`injects ${rule.injectHeaders.map((h) => h.name).join(', ')}${rule.credential ? '' : ranged}`);
  if (rule.credential) extras.push(`${explainCredential(rule.credential)}${ranged}`);
  const swapped = rule.placeholders[0]?.secret;
  if (swapped) {
    extras.push(`replaces ${rule.placeholders.length === 1 ? 'a placeholder' : `${rule.placeholders.length} placeholders`} with ${swapped.name}`);
  } else if (rule.placeholders.length > 0) {
    extras.push(`gives the agent ${rule.placeholders.length === 1 ? 'a placeholder' : `${rule.placeholders.length} placeholders`} instead`);
  }
  if (rule.mcp) {
    const allowed = rule.mcp.tools ? `MCP tools ${rule.mcp.tools.join(', ')}` : 'every MCP tool';
    extras.push(`${allowed}${rule.mcp.deny.length ? ` except ${rule.mcp.deny.join(', ')}` : ''} (calls recorded)`);
  }
  return extras.length > 0 ? `${text}; ${extras.join('; ')}` : text;
}

function explainCredential(c: CredentialScheme): string {
  switch (c.kind) {
    case 'bearer':
      return `sets Authorization: Bearer from ${c.token.name}`;
    case 'basic':
      return `sets Authorization: Basic for ${c.user} from ${c.password.name}`;
    case 'oauth2':
      return `sets an OAuth2 token from ${c.tokenUrl.origin}${c.tokenUrl.pathname} (client ${c.clientId})`;
    case 'aws_sigv4':
      return `signs with AWS SigV4 for ${c.service} in ${c.region} (key ${c.accessKeyId.name})`;
    case 'github_app':
      return `sets a GitHub App installation token (app ${c.appId}, installation ${c.installationId})`;
  }
}

/** The same for a deny rule: what it refuses, whatever the allow rules say. */
export function explainDeny(rule: Omit<DenyRule, 'explain'>): string {
  let text = `denies ${rule.methods ? rule.methods.join(', ') : 'every method'} to ${rule.match}`;
  text += rule.ports ? ` on port${rule.ports.length > 1 ? 's' : ''} ${rule.ports.join(', ')}` : ' on every port';
  if (rule.paths) text += ` under ${rule.paths.join(', ')} (any spelling)`;
  if (rule.agents?.length) text += ` for ${rule.agents.join(', ')} only`;
  return `${text}, whatever the allow rules say`;
}

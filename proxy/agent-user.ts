// The agent identity carried in Proxy-Authorization (Basic): the user name only, never the password.

export function agentUser(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const user = decoded.split(':', 1)[0];
  return user && /^[\x21-\x7e]{1,128}$/.test(user) ? user : undefined;
}

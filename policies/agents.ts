// Which agent a rule (allow or deny) applies to: a Proxy-Authorization user or a listener.

/** The identity of the agent behind a request or connection. */
export interface AgentIdentity {
  /** The Proxy-Authorization Basic user name, if any. */
  user?: string;
  /** The listener the request came in on, as printed (`127.0.0.1:8080`, `unix:/run/a.sock`). */
  listener?: string;
}

/** A rule without `agents` applies to everyone; otherwise the user or `listener:ADDR` must be listed. */
export function ruleAppliesTo(rule: { agents?: readonly string[] }, agent: AgentIdentity | undefined): boolean {
  if (!rule.agents) return true;
  if (!agent) return false;
  // A Basic user name never holds ":" (it ends at the first one), so it cannot pose as `listener:...`.
  const user = agent.user !== undefined && !agent.user.includes(':') ? agent.user : undefined;
  if (user !== undefined && rule.agents.includes(user)) return true;
  return agent.listener !== undefined && rule.agents.includes(`listener:${agent.listener}`);
}

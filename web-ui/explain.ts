// Plain words for a flow's decision: what airlock did, why, and which rule of the policy in force
// says so now (the store keeps the rule's id and the fixed reason, not the rule as it was).
import type { Config, HostRule } from '../policies/types.ts';
import { matchesNormalized } from '../policies/hostnames.ts';

/** What each stored code means, for someone who has not read the policy reference. */
export const CODE_WORDS: Record<string, string> = {
  host_not_allowed: 'No rule in the policy names this host, and airlock denies every host the policy does not name.',
  host_denied_by_rule: 'A deny rule of the policy names this host: deny rules win over every allow rule, whatever the order.',
  request_denied_by_rule: 'A deny rule of the policy names this method or path on this host: deny rules win over every allow rule, whatever the order (paths are compared however they are spelled).',
  port_not_allowed: 'A rule covers this host, but not this port.',
  method_not_allowed: 'A rule covers this host, but it does not allow this HTTP method.',
  path_not_allowed: 'A rule covers this host, but the path is not under any of the prefixes it allows (paths with "." or ".." segments never match).',
  plain_http_not_allowed: 'The request was plain HTTP; the rule for this host allows only HTTPS.',
  websocket_not_allowed: 'The request asked for a WebSocket upgrade, which the rule for this host does not allow.',
  address_not_allowed:
    'The host name resolved to an address airlock must not dial: loopback, private, link-local, metadata or another non-public range that no rule names, or one of airlock’s own listeners.',
  host_mismatch:
    'The request named a different host than the connection it came on (SNI, CONNECT authority and Host must agree): 421 Misdirected Request; or names within the request disagreed: 400.',
  header_alias:
    'A request header’s name differed from one airlock sets (framing, hop-by-hop, Proxy-*, or the injected credential) only by case or "_" for "-". Many upstreams read them alike, so airlock refused it rather than forward it beside the real one.',
  header_underscore: 'A request header’s name contained "_", which limits.headers_with_underscores refuses.',
  request_timeout: 'The agent took longer than limits.request_timeout to send the request body.',
  request_body_too_slow: 'The agent sent the request body more slowly than limits.min_body_rate (a trickled body), so airlock cut it.',
  chunk_extensions_too_large: 'The chunked request body carried more chunk extensions in total than limits.max_chunk_extension_bytes.',
  placeholder_exfiltration:
    'The request carried a credential placeholder that belongs to another host. airlock blocked it as an attempt to send a key somewhere it does not belong.',
  bad_request: 'airlock could not read a valid request (or host name) from the client.',
  agent_tls: 'TLS between the agent and airlock failed, mostly in the handshake and usually because the agent does not trust airlock’s CA; the reason says how (the alert it sent, a close without one, a timeout).',
  client_closed: 'The agent closed (or reset) the connection before sending a request; the reason says where it gave up.',
  idle_timeout: 'The agent opened an HTTP/2 connection and sent no request before limits.idle_timeout, so airlock closed it.',
  internal_error: 'airlock itself failed while handling this request.',
  upstream_tls: 'The upstream server’s certificate could not be verified against the system roots and upstream.ca_files.',
  upstream_timeout: 'The upstream server did not answer in time.',
  upstream_connect: 'airlock could not connect to the upstream server.',
  upstream_error: 'The upstream connection failed while the request was in progress.',
  client_aborted: 'The agent closed the connection before the exchange finished.',
  dlp_blocked: 'A DLP rule whose action is "block" found a secret or personal data in this exchange, so airlock stopped it (the findings below say which rule, where, and show it masked).',
  decompression_bomb: 'The body decompressed to more than airlock allows (in size or ratio), so it could not be scanned for secrets and was blocked.',
  unscannable_encoding: 'The body was sent with a Content-Encoding airlock cannot decode, so it could not be scanned for secrets and was blocked.',
  partial_response_refused:
    'The upstream answered with part of a response (206) on a rule that injects a credential. airlock relays only whole responses there, so an echoed key cannot be read in pieces (allow_range on the rule permits them).',
  credential_unavailable:
    'airlock could not get the credential it adds for this rule (a token endpoint that refused or could not be reached, a secret file that is gone, a command that failed; the reason says which), so it did not send the request.',
  credential_request_unsupported: 'airlock could not sign this request with the rule’s credential (for example an AWS SigV4a signature), so it did not send it.',
  aws_chunked_invalid: 'The aws-chunked request body could not be read or re-signed (the reason says why), so airlock stopped sending it.',
  body_too_large_to_sign: 'The request body was longer than aws_sigv4.max_signed_body, the most airlock reads to sign a body’s hash.',
  budget_exhausted: 'A budget of the policy for this agent (requests per minute, LLM tokens or estimated spend) was used up in its window, so airlock answered 429 with when it resets; nothing was sent upstream.',
  mcp_tool_denied: 'The MCP tool this request called is not allowed on this server by the rule’s mcp settings, so airlock answered with a JSON-RPC error; nothing was sent upstream.',
  mcp_body_too_large: 'The MCP request was larger than the rule’s mcp.max_body, so airlock could not check it and refused it.',
  mcp_unreadable: 'The MCP request was not JSON-RPC 2.0, so airlock could not check it and refused it.',
};

export const DECISION_WORDS: Record<string, string> = {
  allow: 'Allowed: the policy let this request through.',
  deny: 'Denied by the policy: nothing was sent upstream.',
  refuse: 'Refused: airlock would not handle this connection or request; nothing was sent upstream.',
  error: 'Allowed, but it failed: airlock or the upstream could not complete it.',
};

/** Codes of flows DLP stopped (proxy/dlp/body.ts). */
const DLP_CODES = new Set(['dlp_blocked', 'decompression_bomb', 'unscannable_encoding']);

export interface Explanation {
  /** One sentence on the decision. */
  decision: string;
  /** DLP, not the host rules, stopped the flow. */
  dlp: boolean;
  /** What the code means, if the flow has one. */
  code: string | null;
  /** The rule named by the flow, as it is in the policy in force now. */
  rule: { id: string; explain: string } | null;
  /** Set when the flow names a rule that the policy in force no longer has. */
  ruleGone: string | null;
  /** For a host the policy does not name: rules of the policy in force that cover it now (it may have changed). */
  nowCovered: { id: string; explain: string }[];
}

export function explainFlow(r: { decision: string; rule_id: string | null; code: string | null; host: string | null }, config: Config | undefined): Explanation {
  const rule = r.rule_id && config ? (config.hosts.find((h) => h.id === r.rule_id) ?? config.deny.find((d) => d.id === r.rule_id)) : undefined;
  const code = r.code ? (CODE_WORDS[r.code] ?? null) : null;
  const nowCovered =
    r.code === 'host_not_allowed' && r.host && config ? config.hosts.filter((h: HostRule) => matchesNormalized(h.match, r.host!.toLowerCase())) : [];
  const dlp = r.code !== null && DLP_CODES.has(r.code);
  return {
    decision: dlp ? 'Stopped by DLP (data loss prevention): the host is allowed, but what was sent was not.' : (DECISION_WORDS[r.decision] ?? r.decision),
    dlp,
    code,
    rule: rule ? { id: rule.id, explain: rule.explain } : null,
    ruleGone: r.rule_id && config && !rule ? `Rule "${r.rule_id}" is not in the policy in force now (it was renamed or removed since).` : null,
    nowCovered: nowCovered.map((h) => ({ id: h.id, explain: h.explain })),
  };
}

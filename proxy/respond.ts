// Airlock's own answers to the agent: JSON bodies an agent can read and act on, and a
// Proxy-Status header (RFC 9209) that HTTP libraries and other proxies understand.
import type http from 'node:http';
import type http2 from 'node:http2';
import type { Duplex } from 'node:stream';

export interface Refusal {
  error: string; // stable code
  host?: string;
  reason: string;
  rule?: string;
  hint?: string;
  /** More fields of the body, after the common ones (a budget's window and reset time). */
  extra?: Record<string, unknown>;
}

export type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;

/**
 * Every code airlock answers an agent with: a hint the agent can act on (what to change, whether
 * a retry can help; only the upstream_* codes say the upstream failed, because only then did it),
 * and the RFC 9209 error type for Proxy-Status.
 */
export const REFUSALS: Readonly<Record<string, { hint: string; proxyStatus: string }>> = {
  host_not_allowed: {
    hint: "airlock's policy does not allow this host. Do not retry; ask the operator to add it to the policy.",
    proxyStatus: 'http_request_denied',
  },
  host_denied_by_rule: {
    hint: "airlock's policy explicitly denies this host (a deny rule). Do not retry; ask the operator to change the policy if this is needed.",
    proxyStatus: 'http_request_denied',
  },
  request_denied_by_rule: {
    hint: "airlock's policy explicitly denies this method or path on this host (a deny rule). Do not retry; ask the operator to change the policy if this is needed.",
    proxyStatus: 'http_request_denied',
  },
  port_not_allowed: {
    hint: "airlock's policy allows this host only on other ports. Do not retry on this port; ask the operator to change the policy if this is needed.",
    proxyStatus: 'http_request_denied',
  },
  method_not_allowed: {
    hint: "airlock's policy does not allow this HTTP method to this host. Do not retry with this method; ask the operator to change the policy if this is needed.",
    proxyStatus: 'http_request_denied',
  },
  path_not_allowed: {
    hint: "airlock's policy does not allow this path on this host. Do not retry this path; ask the operator to change the policy if this is needed.",
    proxyStatus: 'http_request_denied',
  },
  plain_http_not_allowed: {
    hint: "airlock's policy requires https for this host. Send the same request to the https:// URL instead.",
    proxyStatus: 'http_request_denied',
  },
  websocket_not_allowed: {
    hint: "airlock's policy does not allow WebSocket connections to this host. Do not retry; use plain HTTPS requests or ask the operator to change the policy.",
    proxyStatus: 'http_request_denied',
  },
  address_not_allowed: {
    hint: 'The host resolves to a private or internal address, which the policy does not allow. Do not retry.',
    proxyStatus: 'destination_ip_prohibited',
  },
  host_mismatch: {
    hint: 'The host named in this request differs from the one the connection was opened for. Send each host its own connection.',
    proxyStatus: 'http_request_error',
  },
  placeholder_exfiltration: {
    hint: 'This request carried a credential placeholder that belongs to another host. It was blocked and recorded; do not retry.',
    proxyStatus: 'http_request_denied',
  },
  dlp_blocked: {
    hint: 'The request contained a secret or personal data that airlock does not let leave (see reason and rule). Nothing was sent upstream. Remove it before retrying; do not encode it differently.',
    proxyStatus: 'http_request_denied',
  },
  decompression_bomb: {
    hint: 'The request body decompresses to more than airlock can scan. Send it uncompressed or smaller.',
    proxyStatus: 'http_request_denied',
  },
  unscannable_encoding: {
    hint: 'airlock cannot scan a body with this Content-Encoding. Send it uncompressed, or as gzip, deflate or br.',
    proxyStatus: 'http_request_denied',
  },
  bad_request: { hint: 'The request could not be understood. Fix the request before retrying.', proxyStatus: 'http_request_error' },
  headers_too_large: { hint: 'The request headers are larger than airlock accepts. Send fewer or smaller headers.', proxyStatus: 'http_request_error' },
  too_many_headers: { hint: 'The request has more header fields than airlock accepts. Send fewer headers.', proxyStatus: 'http_request_error' },
  url_too_long: { hint: 'The request URL is longer than airlock accepts. Send a shorter URL (put data in the body).', proxyStatus: 'http_request_error' },
  header_timeout: { hint: 'The request headers arrived too slowly. Send the whole request at once.', proxyStatus: 'http_request_error' },
  request_body_timeout: { hint: 'The request body stalled. Send the body without long pauses.', proxyStatus: 'http_request_error' },
  request_timeout: { hint: 'The request took longer to send than airlock allows. Send the body faster, or a smaller one.', proxyStatus: 'http_request_error' },
  request_body_too_slow: { hint: 'The request body arrived more slowly than airlock allows. Send the body faster.', proxyStatus: 'http_request_error' },
  chunk_extensions_too_large: {
    hint: 'The chunked body carried more chunk extensions than airlock accepts. Send the body without chunk extensions.',
    proxyStatus: 'http_request_error',
  },
  header_alias: {
    hint: 'A header name differs from a header airlock controls only by case or "_"/"-". Remove it; do not retry as is.',
    proxyStatus: 'http_request_denied',
  },
  header_underscore: { hint: 'Header names with "_" are not accepted. Use "-" instead.', proxyStatus: 'http_request_denied' },
  audit_store_unavailable: {
    hint: "airlock records every request it lets through, and its flow store cannot write right now, so it refuses requests rather than let them through unrecorded. Wait the seconds in the Retry-After header and retry; if it persists, tell the operator (airlock's audit store is full or failing).",
    proxyStatus: 'proxy_internal_error',
  },
  credential_unavailable: {
    hint: 'airlock could not obtain the credential it adds for this host (see reason). Retrying later may help; if it persists, tell the operator. Do not send credentials yourself.',
    proxyStatus: 'proxy_internal_error',
  },
  credential_request_unsupported: {
    hint: 'airlock cannot sign this request with the credential it holds (see reason). Change how the request is signed or sent; do not retry as is.',
    proxyStatus: 'http_request_error',
  },
  aws_chunked_invalid: {
    hint: 'The aws-chunked body could not be re-signed (see reason). Send the body with smaller chunks or an unsigned payload; do not retry as is.',
    proxyStatus: 'http_request_error',
  },
  body_too_large_to_sign: { hint: 'The body is larger than airlock reads to sign it. Send a smaller body; do not retry as is.', proxyStatus: 'http_request_error' },
  budget_exhausted: {
    hint: "A budget of airlock's policy for this agent is used up. Wait until resets_at (the Retry-After header gives the seconds) before sending more; requests sooner are refused the same way.",
    proxyStatus: 'http_request_denied',
  },
  mcp_tool_denied: {
    hint: "airlock's policy does not allow this MCP tool on this server. Do not retry it; use another tool or ask the operator.",
    proxyStatus: 'http_request_denied',
  },
  mcp_body_too_large: { hint: 'The MCP request is larger than airlock reads to check it. Send smaller requests.', proxyStatus: 'http_request_error' },
  mcp_unreadable: {
    hint: 'airlock could not read this MCP request as JSON-RPC 2.0, so it was not sent. Fix the request before retrying.',
    proxyStatus: 'http_request_error',
  },
  partial_response_refused: {
    hint: 'This host gets a credential from airlock, so partial (Range) responses are not relayed. Request the whole resource.',
    proxyStatus: 'http_protocol_error',
  },
  internal_error: { hint: 'airlock itself failed on this request (a bug; the operator has the details in its log). Retrying may help.', proxyStatus: 'proxy_internal_error' },
  dns_failed: { hint: 'airlock could not resolve the host name. Check the name; retrying later may help if DNS is down.', proxyStatus: 'dns_error' },
  upstream_connect: { hint: 'airlock could not connect to the upstream server. Retrying later may help.', proxyStatus: 'destination_unavailable' },
  upstream_tls: { hint: 'The upstream server presented a certificate airlock does not trust. Do not retry.', proxyStatus: 'tls_certificate_error' },
  upstream_timeout: { hint: 'The upstream server did not answer in time. Retrying later may help.', proxyStatus: 'http_response_timeout' },
  upstream_framing: {
    hint: 'The upstream server sent a response with ambiguous framing, which airlock refuses to pass on. Do not retry; tell the operator.',
    proxyStatus: 'http_protocol_error',
  },
  upstream_protocol: { hint: 'The upstream server answered in a way airlock cannot relay (see reason). Do not retry as is.', proxyStatus: 'http_protocol_error' },
  upstream_error: { hint: 'The upstream request failed; see reason. Retrying later may help.', proxyStatus: 'connection_terminated' },
};

const FALLBACK = { hint: 'airlock refused this request; the reason says why.', proxyStatus: 'proxy_internal_response' };

export function hintFor(code: string): string {
  return (REFUSALS[code] ?? FALLBACK).hint;
}

/** `Proxy-Status: airlock; error=...; details="..."` (RFC 9209: a Structured Fields list member). */
export function proxyStatus(r: Refusal): string {
  const type = (REFUSALS[r.error] ?? FALLBACK).proxyStatus;
  return `airlock; error=${type}; details=${sfString(`${r.error}: ${r.reason}`)}`;
}

/** An sf-string (RFC 8941 3.3.3): printable ASCII, `"` and `\` escaped; anything else becomes "?". */
function sfString(s: string): string {
  // eslint-disable-next-line no-control-regex
  const printable = s.replace(/[^\x20-\x7e]/g, '?').slice(0, 512);
  return `"${printable.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export function refusalBody(r: Refusal): string {
  return JSON.stringify({ error: r.error, host: r.host ?? null, reason: r.reason, rule: r.rule ?? null, hint: r.hint ?? hintFor(r.error), ...r.extra });
}

/** A refusal in the protocol's own terms (a JSON-RPC error to an MCP client), with the same headers as any refusal. */
export function sendJson(res: AnyResponse, status: number, body: string, r: Refusal): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  try {
    (res as http.ServerResponse).writeHead(status, refusalHeaders(r, body));
    res.end(body);
  } catch {
    res.destroy();
  }
}

/** The headers of every refusal: JSON, never cached, the code, and Proxy-Status. */
function refusalHeaders(r: Refusal, body: string): Record<string, string | number> {
  return {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-airlock-decision': r.error,
    'proxy-status': proxyStatus(r),
  };
}

/** `extra`: further response headers (Retry-After on a 503). */
export function sendRefusal(res: AnyResponse, status: number, r: Refusal, extra?: Record<string, string>): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = refusalBody(r);
  try {
    (res as http.ServerResponse).writeHead(status, { ...refusalHeaders(r, body), ...extra });
    res.end(body);
  } catch {
    res.destroy(); // the agent already went away (a closed HTTP/2 stream throws here)
  }
}

export const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 403: 'Forbidden', 408: 'Request Timeout', 415: 'Unsupported Media Type', 421: 'Misdirected Request', 414: 'URI Too Long',
  429: 'Too Many Requests', 431: 'Request Header Fields Too Large', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** An HTTP/1.1 refusal written straight onto a socket (CONNECT, upgrade), then closed. */
export function writeRawRefusal(socket: Duplex, status: number, r: Refusal, extra?: Record<string, string>): void {
  const body = refusalBody(r);
  const headers = { ...refusalHeaders(r, body), ...extra, connection: 'close' };
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  endSocket(socket, `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n${lines}\r\n${body}`);
}

/** How long a socket airlock has ended may wait for the agent's FIN before it is destroyed. */
const LINGER_MS = 2000;

/**
 * Sends `last` and closes: what the agent still sends is read and dropped (a socket closed with
 * unread bytes resets, and the agent may lose the answer), the socket is destroyed at the agent's
 * FIN, and at the latest after LINGER_MS, so an agent that never closes cannot hold it open.
 */
export function endSocket(socket: Duplex, last?: string | Buffer): void {
  if (socket.destroyed) return;
  socket.on('error', () => {});
  socket.once('end', () => (socket.writableFinished ? socket.destroy() : socket.once('finish', () => socket.destroy())));
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  socket.once('close', () => clearTimeout(timer));
  socket.end(last);
  socket.resume();
}

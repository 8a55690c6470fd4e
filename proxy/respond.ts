// Airlock's own answers to the agent: JSON bodies an agent can read and act on.
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

const HINTS: Record<string, string> = {
  host_not_allowed: "airlock's policy does not allow this host. Do not retry; ask the operator to add it to the policy.",
  address_not_allowed:
    'The host resolves to a private or internal address, which the policy does not allow. Do not retry.',
  host_mismatch: 'The host named in this request differs from the one the connection was opened for. Send each host its own connection.',
  placeholder_exfiltration:
    'This request carried a credential placeholder that belongs to another host. It was blocked and recorded.',
  bad_request: 'The request could not be understood. Fix the request before retrying.',
  upstream_tls: 'The upstream server presented a certificate airlock does not trust. Do not retry.',
  upstream_timeout: 'The upstream server did not answer in time. Retrying later may help.',
  headers_too_large: 'The request headers are larger than airlock accepts. Send fewer or smaller headers.',
  too_many_headers: 'The request has more header fields than airlock accepts. Send fewer headers.',
  url_too_long: 'The request URL is longer than airlock accepts. Send a shorter URL (put data in the body).',
  header_timeout: 'The request headers arrived too slowly. Send the whole request at once.',
  request_body_timeout: 'The request body stalled. Send the body without long pauses.',
  request_timeout: 'The request took longer to send than airlock allows. Send the body faster, or a smaller one.',
  request_body_too_slow: 'The request body arrived more slowly than airlock allows. Send the body faster.',
  chunk_extensions_too_large: 'The chunked body carried more chunk extensions than airlock accepts. Send the body without chunk extensions.',
  header_alias: 'A header name differs from a header airlock controls only by case or "_"/"-". Remove it; do not retry as is.',
  header_underscore: 'Header names with "_" are not accepted. Use "-" instead.',
  credential_unavailable:
    'airlock could not obtain the credential it adds for this host (see reason). Retrying later may help; if it persists, tell the operator. Do not send credentials yourself.',
  credential_request_unsupported: 'airlock cannot sign this request with the credential it holds (see reason). Change how the request is signed or sent; do not retry as is.',
  aws_chunked_invalid: 'The aws-chunked body could not be re-signed (see reason). Send the body with smaller chunks or an unsigned payload; do not retry as is.',
  body_too_large_to_sign: 'The body is larger than airlock reads to sign it. Send a smaller body; do not retry as is.',
  budget_exhausted:
    "A budget of airlock's policy for this agent is used up. Wait until resets_at (the Retry-After header gives the seconds) before sending more; requests sooner are refused the same way.",
  mcp_tool_denied: "airlock's policy does not allow this MCP tool on this server. Do not retry it; use another tool or ask the operator.",
  mcp_body_too_large: 'The MCP request is larger than airlock reads to check it. Send smaller requests.',
  mcp_unreadable: 'airlock could not read this MCP request as JSON-RPC 2.0, so it was not sent. Fix the request before retrying.',
  audit_store_unavailable:
    "airlock records every request it lets through, and its flow store cannot write right now, so it refuses requests rather than let them through unrecorded. Wait the seconds in the Retry-After header and retry; if it persists, tell the operator (airlock's audit store is full or failing).",
  partial_response_refused: 'This host gets a credential from airlock, so partial (Range) responses are not relayed. Request the whole resource.',
};

export function hintFor(code: string): string {
  return HINTS[code] ?? 'The upstream request failed; see reason.';
}

export function refusalBody(r: Refusal): string {
  return JSON.stringify({ error: r.error, host: r.host ?? null, reason: r.reason, rule: r.rule ?? null, hint: r.hint ?? hintFor(r.error), ...r.extra });
}

/** An answer airlock gives in the protocol's own terms (a JSON-RPC error to an MCP client). */
export function sendJson(res: AnyResponse, status: number, body: string, decision: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  try {
    (res as http.ServerResponse).writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      'x-airlock-decision': decision,
    });
    res.end(body);
  } catch {
    res.destroy();
  }
}

/** `extra`: further response headers (Retry-After on a 503). */
export function sendRefusal(res: AnyResponse, status: number, r: Refusal, extra?: Record<string, string>): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = refusalBody(r);
  try {
    (res as http.ServerResponse).writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      'x-airlock-decision': r.error,
      ...extra,
    });
    res.end(body);
  } catch {
    res.destroy(); // the agent already went away (a closed HTTP/2 stream throws here)
  }
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 403: 'Forbidden', 408: 'Request Timeout', 421: 'Misdirected Request', 414: 'URI Too Long', 429: 'Too Many Requests', 431: 'Request Header Fields Too Large', 502: 'Bad Gateway',
  503: 'Service Unavailable', 504: 'Gateway Timeout',
};

/** An HTTP/1.1 refusal written straight onto a socket (CONNECT, upgrade), then closed. */
export function writeRawRefusal(socket: Duplex, status: number, r: Refusal, extra?: Record<string, string>): void {
  const body = refusalBody(r);
  const more = extra ? Object.entries(extra).map(([k, v]) => `${k}: ${v}\r\n`).join('') : '';
  endSocket(
    socket,
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\nx-airlock-decision: ${r.error}\r\n` +
      `${more}connection: close\r\n\r\n${body}`,
  );
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

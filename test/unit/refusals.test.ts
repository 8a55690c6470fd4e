// Every refusal code has its own hint (only the upstream_* codes say the upstream failed) and an
// RFC 9209 Proxy-Status error type.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REASONS } from '../../policies/decide.ts';
import { describeUpstreamError, AirlockError } from '../../proxy/errors.ts';
import { hintFor, proxyStatus, REFUSALS } from '../../proxy/respond.ts';

/** The error types RFC 9209 section 2.3 registers. */
const RFC9209_TYPES = new Set([
  'dns_timeout', 'dns_error', 'destination_not_found', 'destination_unavailable', 'destination_ip_prohibited', 'destination_ip_unroutable',
  'connection_refused', 'connection_terminated', 'connection_timeout', 'connection_read_timeout', 'connection_write_timeout',
  'connection_limit_reached', 'tls_protocol_error', 'tls_certificate_error', 'tls_alert_received', 'http_request_error',
  'http_request_denied', 'http_response_incomplete', 'http_response_header_section_size', 'http_response_header_size',
  'http_response_body_size', 'http_response_trailer_section_size', 'http_response_trailer_size', 'http_response_transfer_coding',
  'http_response_content_coding', 'http_response_timeout', 'http_upgrade_failed', 'http_protocol_error', 'proxy_internal_response',
  'proxy_internal_error', 'proxy_configuration_error', 'proxy_loop_detected',
]);

/** Every code an agent can get in a refusal body: the policy's, the request checks', upstream failures'. */
const SENT = [
  ...Object.keys(REASONS),
  'dlp_blocked', 'decompression_bomb', 'unscannable_encoding', 'headers_too_large', 'too_many_headers', 'url_too_long',
  'header_timeout', 'request_body_timeout', 'request_timeout', 'request_body_too_slow', 'chunk_extensions_too_large',
  'header_alias', 'header_underscore', 'audit_store_unavailable', 'internal_error',
  'dns_failed', 'upstream_connect', 'upstream_tls', 'upstream_timeout', 'upstream_framing', 'upstream_protocol', 'upstream_error',
  // Credential schemes (issue 18), budgets and MCP rules (issue 17), Range on a credentialed rule (issue 12).
  'credential_unavailable', 'credential_request_unsupported', 'aws_chunked_invalid', 'body_too_large_to_sign',
  'budget_exhausted', 'mcp_tool_denied', 'mcp_body_too_large', 'mcp_unreadable', 'partial_response_refused',
];

/** Codes in proxy/ that never reach an agent as a refusal, and why. */
const NOT_SENT: Record<string, string> = {
  client_aborted: 'the agent went away; nobody is answered',
  client_closed: 'the agent went away; nobody is answered',
  bad_websocket: 'a WebSocket close reason, not an HTTP refusal',
  token_response_too_large: "a token endpoint's answer: the agent gets credential_unavailable",
  worker_exited: "the worker serving the request died: its connection is cut, nobody is answered; the supervisor records the flow",
  mcp_batch_refused: "the data of a JSON-RPC error beside a denied call; the flow's code is mcp_tool_denied",
};

/** Every code literal under proxy/ (`new AirlockError('x'`, `error: 'x'`, `code: 'x'`). */
function codesInSource(): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'dist' && e.name !== 'node_modules') walk(p);
      } else if (/\.(ts|tsx|cjs)$/.test(e.name)) {
        const text = fs.readFileSync(p, 'utf8');
        for (const m of text.matchAll(/(?:new AirlockError\(|\b(?:error|code): )'([a-z][a-z0-9_]*)'/g)) found.set(m[1], path.relative(process.cwd(), p));
      }
    }
  };
  walk(path.resolve(import.meta.dirname, '../../proxy'));
  return found;
}

describe('refusal codes', () => {
  it.each(SENT)('%s has its own hint and a registered Proxy-Status error type', (code) => {
    expect(REFUSALS[code], code).toBeDefined();
    expect(RFC9209_TYPES.has(REFUSALS[code].proxyStatus)).toBe(true);
    const others = SENT.filter((c) => c !== code).map(hintFor);
    expect(others).not.toContain(hintFor(code));
  });

  it('every code written in proxy/ is in the table (or named as never sent), so a new code cannot ship without a hint', () => {
    const missing = [...codesInSource()].filter(([code]) => !REFUSALS[code] && !NOT_SENT[code]).map(([code, file]) => `${code} (${file})`);
    expect(missing).toEqual([]);
    expect(codesInSource().has('budget_exhausted')).toBe(true); // the scan reads the sources it should
  });

  it('only upstream failures say the upstream failed or could not be reached', () => {
    for (const code of SENT) {
      const upstream = code.startsWith('upstream_') || code === 'dns_failed';
      if (!upstream) expect(hintFor(code), code).not.toMatch(/upstream (request )?failed|could not (connect|resolve)/i);
    }
    expect(hintFor('upstream_error')).toMatch(/upstream request failed/);
  });

  it('every code describeUpstreamError can return is known', () => {
    const errs = [
      new AirlockError('address_not_allowed', 'x'), new AirlockError('upstream_timeout', 'x'), new AirlockError('dns_failed', 'x'),
      Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), Object.assign(new Error('x'), { code: 'CERT_HAS_EXPIRED' }),
      Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), new Error('something else'),
    ];
    for (const e of errs) expect(REFUSALS[describeUpstreamError(e).code], describeUpstreamError(e).code).toBeDefined();
  });

  it('Proxy-Status is an RFC 8941 list member: token, error parameter, details as an escaped sf-string', () => {
    const v = proxyStatus({ error: 'path_not_allowed', reason: 'path "/a\\b" is not allowed\r\nInjected: 1 ☃' });
    expect(v).toBe('airlock; error=http_request_denied; details="path_not_allowed: path \\"/a\\\\b\\" is not allowed??Injected: 1 ?"');
    expect(v).toMatch(/^[\x20-\x7e]+$/);
  });

  it('an unknown code gets a neutral hint, never "upstream failed"', () => {
    expect(hintFor('something_new')).not.toMatch(/upstream/);
  });
});

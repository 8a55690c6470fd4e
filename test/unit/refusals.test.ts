// Every refusal code has its own hint (only the upstream_* codes say the upstream failed) and an
// RFC 9209 Proxy-Status error type.
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
];

describe('refusal codes', () => {
  it.each(SENT)('%s has its own hint and a registered Proxy-Status error type', (code) => {
    expect(REFUSALS[code], code).toBeDefined();
    expect(RFC9209_TYPES.has(REFUSALS[code].proxyStatus)).toBe(true);
    const others = SENT.filter((c) => c !== code).map(hintFor);
    expect(others).not.toContain(hintFor(code));
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

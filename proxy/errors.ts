// Unexpected failures carry a stable code; httpStatusFor() maps every code to HTTP in one place.

export class AirlockError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

/** Limits the agent hit while airlock read its request (proxy/body-watch.ts): refusals, with their status. */
const AGENT_FAULTS: Record<string, number> = {
  request_body_timeout: 408,
  request_timeout: 408,
  request_body_too_slow: 408,
  chunk_extensions_too_large: 400,
  aws_chunked_invalid: 400, // an aws-chunked body airlock could not re-sign (proxy/credentials/aws-chunked.ts)
};

export function isAgentFault(code: string): boolean {
  return Object.hasOwn(AGENT_FAULTS, code);
}

export function agentFaultStatus(code: string): number {
  return AGENT_FAULTS[code] ?? 400;
}

/** Classifies an upstream failure: a stable code, the HTTP status the agent gets, and plain words. */
export function describeUpstreamError(err: unknown): { code: string; status: number; message: string } {
  const e = err as NodeJS.ErrnoException & { code?: string };
  if (err instanceof AirlockError) {
    const status = err.code === 'address_not_allowed' ? 403 : err.code === 'upstream_timeout' ? 504 : isAgentFault(err.code) ? agentFaultStatus(err.code) : 502;
    return { code: err.code, status, message: err.message };
  }
  // Some errors carry a numeric code (OpenSSL, HTTP/2 stream errors): only strings are codes here.
  const code = typeof e?.code === 'string' ? e.code : '';
  if (TLS_CODES.has(code) || code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS')) {
    return { code: 'upstream_tls', status: 502, message: `upstream TLS verification failed: ${e.message}` };
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return { code: 'upstream_timeout', status: 504, message: `upstream timed out: ${e.message}` };
  }
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
    return { code: 'upstream_connect', status: 502, message: `could not connect to upstream: ${code}` };
  }
  if (code === 'UND_ERR_ABORTED' || e?.name === 'AbortError') {
    return { code: 'client_aborted', status: 499, message: 'the agent closed the connection' };
  }
  return { code: 'upstream_error', status: 502, message: `upstream failed: ${e?.message ?? String(err)}` };
}

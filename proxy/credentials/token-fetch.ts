// What minting a token needs from the proxy: one request through airlock's own upstream path
// (the policy must allow the token endpoint; the same address checks and TLS verification apply;
// the exchange is recorded as a flow with its secrets masked). Wired in proxy/pipeline.ts.
import type { IncomingHttpHeaders } from 'node:http';
import type { Got } from '../../policies/secrets.ts';
import type { HostRule } from '../../policies/types.ts';

export interface TokenRequest {
  url: URL;
  method: 'POST';
  headers: [string, string][];
  body: Buffer;
  /** Header names whose values are secret (recorded as [injected:NAME]). */
  secretHeaders: string[];
  /** Which rule wants the token, for the recorded flow: "hosts[2] (oauth2)". */
  purpose: string;
  /** Called with the rule that allows the endpoint, before anything is sent to it. */
  onRule?: (rule: HostRule) => void;
}

export interface TokenResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The rule that allowed the token endpoint. */
  rule: HostRule;
}

export type TokenFetch = (r: TokenRequest) => Promise<Got<TokenResponse>>;

/** A JSON object from a token endpoint's body, or undefined. */
export function jsonObject(body: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A token as it will go into a header: printable ASCII, no spaces. */
export function usableToken(v: unknown): v is string {
  return typeof v === 'string' && /^[\x21-\x7e]{1,8192}$/.test(v);
}

/**
 * What an endpoint said when it refused: its `error` code and a short description (RFC 6749
 * 5.2 / GitHub's `message`), with every value in `secrets` taken out. Never the body as a whole.
 */
export function refusalDetail(body: Buffer, secrets: readonly string[]): string {
  const o = jsonObject(body);
  if (!o) return '';
  const parts = [o.error, o.error_description ?? o.message].filter((v): v is string => typeof v === 'string').map((v) => {
    let text = v;
    for (const s of secrets) if (s.length > 0) text = text.split(s).join('[redacted]');
    return text.replace(/[^\x20-\x7e]/g, ' ').slice(0, 200);
  });
  const text = parts.join(': ');
  return text ? ` (${text})` : '';
}

// OAuth2 client credentials grant (RFC 6749 4.4): airlock trades its client id and secret for an
// access token at the token endpoint and sends the token as Bearer. The agent never sees either.
import type { Got } from '../../policies/secrets.ts';
import type { CredentialScheme } from '../../policies/types.ts';
import type { Minted } from './minted.ts';
import { jsonObject, refusalDetail, type TokenFetch, usableToken } from './token-fetch.ts';

type OAuth2 = Extract<CredentialScheme, { kind: 'oauth2' }>;

/** Without expires_in the token is used for an hour (or until the API answers 401). */
const DEFAULT_LIFETIME_MS = 3600_000;

/** RFC 6749 2.3.1: id and secret are form-encoded before they are joined for Basic. */
function formEncode(s: string): string {
  return encodeURIComponent(s).replace(/%20/g, '+').replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function oauth2Minter(spec: OAuth2, fetch: TokenFetch, purpose: string, onSecret: (values: string[]) => void): () => Promise<Got<Minted>> {
  return async () => {
    const secret = await spec.clientSecret.current();
    if (!secret.ok) return secret;
    const clientSecret = secret.value.reveal();
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (spec.scopes.length) form.set('scope', spec.scopes.join(' '));
    if (spec.audience) form.set('audience', spec.audience);
    const headers: [string, string][] = [
      ['content-type', 'application/x-www-form-urlencoded'],
      ['accept', 'application/json'],
    ];
    const basic = Buffer.from(`${formEncode(spec.clientId)}:${formEncode(clientSecret)}`).toString('base64');
    if (spec.clientAuth === 'basic') headers.push(['authorization', `Basic ${basic}`]);
    else {
      form.set('client_id', spec.clientId);
      form.set('client_secret', clientSecret);
    }
    onSecret([clientSecret, basic]);
    const where = `${spec.tokenUrl.origin}${spec.tokenUrl.pathname}`;
    const r = await fetch({ url: spec.tokenUrl, method: 'POST', headers, body: Buffer.from(form.toString()), secretHeaders: ['authorization'], purpose });
    if (!r.ok) return { ok: false, problem: `could not get an OAuth2 token from ${where}: ${r.problem}` };
    const { status, body } = r.value;
    if (status !== 200) return { ok: false, problem: `the OAuth2 token endpoint ${where} answered ${status}${refusalDetail(body, [clientSecret, basic])}` };
    const o = jsonObject(body);
    const token = o?.access_token;
    if (!o || !usableToken(token)) return { ok: false, problem: `the OAuth2 token endpoint ${where} answered without a usable access_token` };
    const type = typeof o.token_type === 'string' ? o.token_type : 'Bearer';
    if (type.toLowerCase() !== 'bearer') return { ok: false, problem: `the OAuth2 token endpoint ${where} gave a ${type.slice(0, 40)} token; airlock sends Bearer tokens only` };
    const expiresIn = typeof o.expires_in === 'string' ? Number(o.expires_in) : o.expires_in;
    const lifetimeMs = typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn * 1000 : DEFAULT_LIFETIME_MS;
    return { ok: true, value: { value: token, lifetimeMs } };
  };
}

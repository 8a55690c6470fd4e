// GitHub App installation tokens: airlock signs a short JWT with the App's private key (RS256),
// trades it at POST {api}/app/installations/{id}/access_tokens for an installation token (an
// hour), and sends that token: Basic x-access-token:TOKEN for git over HTTPS, Bearer for the API.
import { createPrivateKey, type KeyObject, sign } from 'node:crypto';
import type { Got, Secret } from '../../policies/secrets.ts';
import type { CredentialScheme } from '../../policies/types.ts';
import type { Minted } from './minted.ts';
import { jsonObject, refusalDetail, type TokenFetch, usableToken } from './token-fetch.ts';

type GitHubApp = Extract<CredentialScheme, { kind: 'github_app' }>;

const keys = new WeakMap<Secret, Got<KeyObject>>();

/** The key object of a PEM secret, parsed once per value (a rotated file brings a new Secret). */
function keyOf(secret: Secret): Got<KeyObject> {
  let got = keys.get(secret);
  if (!got) {
    try {
      const key = createPrivateKey(secret.reveal());
      got = key.asymmetricKeyType === 'rsa' ? { ok: true, value: key } : { ok: false, problem: `${secret.name} is not an RSA key` };
    } catch {
      got = { ok: false, problem: `${secret.name} is not a PEM private key` };
    }
    keys.set(secret, got);
  }
  return got;
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

/** The App's JWT: issued a minute in the past (clock drift), valid for 9 minutes (GitHub allows 10). */
export function appJwt(appId: string, key: KeyObject, nowMs: number): string {
  const iat = Math.floor(nowMs / 1000) - 60;
  const iss: string | number = /^[0-9]+$/.test(appId) ? Number(appId) : appId;
  const unsigned = `${b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }))}.${b64url(JSON.stringify({ iat, exp: iat + 600, iss }))}`;
  return `${unsigned}.${b64url(sign('sha256', Buffer.from(unsigned), key))}`;
}

export function gitHubAppMinter(spec: GitHubApp, fetch: TokenFetch, purpose: string, onSecret: (values: string[]) => void): () => Promise<Got<Minted>> {
  const base = spec.apiUrl.href.replace(/\/+$/, '');
  const url = new URL(`${base}/app/installations/${spec.installationId}/access_tokens`);
  const restrict = spec.permissions || spec.repositories ? JSON.stringify({ ...(spec.repositories ? { repositories: spec.repositories } : {}), ...(spec.permissions ? { permissions: spec.permissions } : {}) }) : '';
  return async () => {
    const pem = await spec.privateKey.current();
    if (!pem.ok) return pem;
    const key = keyOf(pem.value);
    if (!key.ok) return key;
    const jwt = appJwt(spec.appId, key.value, Date.now());
    onSecret([jwt]);
    const headers: [string, string][] = [
      ['accept', 'application/vnd.github+json'],
      ['authorization', `Bearer ${jwt}`],
      ['user-agent', 'airlock'],
      ['x-github-api-version', '2022-11-28'],
    ];
    if (restrict) headers.push(['content-type', 'application/json']);
    const r = await fetch({ url, method: 'POST', headers, body: Buffer.from(restrict), secretHeaders: ['authorization'], purpose });
    if (!r.ok) return { ok: false, problem: `could not get a GitHub App installation token from ${url.origin}: ${r.problem}` };
    const { status, body } = r.value;
    if (status !== 201) return { ok: false, problem: `${url.origin}${url.pathname} answered ${status}${refusalDetail(body, [jwt])}` };
    const o = jsonObject(body);
    if (!o || !usableToken(o.token)) return { ok: false, problem: `${url.origin}${url.pathname} answered without a usable token` };
    const expires = typeof o.expires_at === 'string' ? Date.parse(o.expires_at) : NaN;
    const lifetimeMs = Number.isFinite(expires) && expires > Date.now() ? expires - Date.now() : 55 * 60_000;
    return { ok: true, value: { value: o.token, lifetimeMs } };
  };
}

/** git's smart HTTP (and Git LFS) requests: these authenticate with Basic. */
export function isGitRequest(path: string): boolean {
  const p = path.split('?')[0];
  return /\/(info\/refs|git-upload-pack|git-receive-pack)$/.test(p) || p.includes('/info/lfs/');
}

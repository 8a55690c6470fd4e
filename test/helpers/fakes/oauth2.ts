// An OAuth2 authorization server (client credentials grant) and an API that takes its tokens.
// Both check what they receive: the client's id and secret, the grant, scopes and audience; the
// token's issue, expiry and revocation. Hosts: `auth` for the token endpoint, `api` for the API.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';

export interface FakeOAuth2Options {
  tls: { cert: string; key: string };
  host: string;
  clientId: string;
  clientSecret: string;
  scopes: string;
  audience: string;
}

export interface FakeOAuth2 {
  /** Every token request, with whether it was granted. */
  tokenRequests: { granted: boolean; form: Record<string, string> }[];
  /** Tokens issued, in order. */
  issued: string[];
  /** Authorization headers the API received, in order. */
  apiAuth: string[];
  /** Seconds each new token lives. */
  expiresIn: number;
  /** The API refuses every token (a client whose grant was withdrawn). */
  refuseAll: boolean;
  /** Every token issued so far stops working (revoked on the server). */
  revokeAll(): void;
  close(): Promise<void>;
}

export async function startFakeOAuth2(o: FakeOAuth2Options): Promise<FakeOAuth2> {
  const valid = new Map<string, number>(); // token -> expiry (ms)
  const fake: FakeOAuth2 = {
    tokenRequests: [],
    issued: [],
    apiAuth: [],
    expiresIn: 3600,
    refuseAll: false,
    revokeAll: () => valid.clear(),
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  let lastClient = '';
  const token = (req: IncomingMessage, body: string, res: ServerResponse) => {
    lastClient = req.headers.authorization ?? '';
    const form = Object.fromEntries(new URLSearchParams(body));
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const [id, secret] = basic ? Buffer.from(basic, 'base64').toString().split(':').map((s) => decodeURIComponent(s.replace(/\+/g, ' '))) : [];
    const granted =
      req.method === 'POST' &&
      req.headers['content-type'] === 'application/x-www-form-urlencoded' &&
      id === o.clientId &&
      secret === o.clientSecret &&
      form.grant_type === 'client_credentials' &&
      form.scope === o.scopes &&
      form.audience === o.audience;
    fake.tokenRequests.push({ granted, form });
    // An unhelpful server that quotes what it got: airlock must not pass the secret on.
    if (!granted) return json(res, 401, { error: 'invalid_client', error_description: `client ${id} with secret ${secret} is not known` });
    const t = `at-${fake.issued.length + 1}-${randomBytes(12).toString('hex')}`;
    fake.issued.push(t);
    valid.set(t, Date.now() + fake.expiresIn * 1000);
    json(res, 200, { access_token: t, token_type: 'Bearer', expires_in: fake.expiresIn, scope: o.scopes });
  };
  const api = (req: IncomingMessage, body: string, res: ServerResponse) => {
    const auth = req.headers.authorization ?? '';
    fake.apiAuth.push(auth);
    const t = /^Bearer (.+)$/.exec(auth)?.[1] ?? '';
    const until = valid.get(t);
    if (fake.refuseAll || until === undefined || until < Date.now()) {
      return json(res, 401, { error: 'invalid_token', seen: auth }, { 'www-authenticate': 'Bearer error="invalid_token"' });
    }
    // An echoing API: the token comes back in a header and the body, the body also has it encoded.
    const encoded = { seen_base64: Buffer.from(t).toString('base64'), seen_hex: Buffer.from(t).toString('hex') };
    json(res, 200, { ok: true, path: req.url, method: req.method, bodyBytes: Buffer.byteLength(body), seen: auth, ...encoded }, { 'x-seen-authorization': auth });
  };
  const server = https.createServer({ cert: o.tls.cert, key: o.tls.key }, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const host = (req.headers.host ?? '').split(':')[0];
      if (host.startsWith('auth.') && req.url === '/oauth/token') return token(req, body, res);
      // A leaky page on the token host: it shows whoever asks the last client credentials it saw.
      if (host.startsWith('auth.') && req.url === '/oauth/debug') {
        const decoded = Buffer.from(lastClient.replace(/^Basic /, ''), 'base64').toString();
        return json(res, 200, { authorization: lastClient, decoded });
      }
      if (host.startsWith('api.')) return api(req, body, res);
      json(res, 404, { error: 'not_found' });
    });
  });
  await new Promise<void>((r) => server.listen(443, o.host, r));
  return fake;
}

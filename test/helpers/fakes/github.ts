// GitHub, small: POST /app/installations/:id/access_tokens checks the App's JWT (RS256 with the
// App's public key, iss = app id, a lifetime of at most 10 minutes) and issues installation
// tokens; git over HTTPS (git http-backend) and the REST API accept only those tokens, as
// Basic x-access-token:TOKEN and Bearer TOKEN respectively. Hosts: `api.*` and the git host.
import { createPublicKey, generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gitBackend } from '../upstream.ts';

export interface FakeGitHubOptions {
  tls: { cert: string; key: string };
  host: string;
  appId: number;
  installationId: number;
  /** The App's private key (PEM); the fake keeps only its public half. */
  privateKeyPem: string;
  gitRoot: string;
}

export interface FakeGitHub {
  /** Every token request and why it was refused, if it was. */
  mints: { refused: string | null; body: string }[];
  issued: string[];
  /** Authorization headers on git and API requests. */
  seen: { host: string; url: string; authorization: string }[];
  close(): Promise<void>;
}

function checkJwt(jwt: string, key: KeyObject, appId: number): string | null {
  const [h, p, s] = jwt.split('.');
  if (!h || !p || !s) return 'not a JWT';
  const header = JSON.parse(Buffer.from(h, 'base64url').toString());
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
  if (header.alg !== 'RS256') return `alg ${header.alg}`;
  if (!verify('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'))) return 'bad signature';
  const now = Math.floor(Date.now() / 1000);
  if (payload.iss !== appId) return `iss ${payload.iss}`;
  if (!(payload.iat <= now + 60 && payload.exp > now && payload.exp - payload.iat <= 600)) return 'bad iat/exp';
  return null;
}

export async function startFakeGitHub(o: FakeGitHubOptions): Promise<FakeGitHub> {
  const publicKey = createPublicKey(o.privateKeyPem);
  const valid = new Set<string>();
  const fake: FakeGitHub = {
    mints: [],
    issued: [],
    seen: [],
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const server = https.createServer({ cert: o.tls.cert, key: o.tls.key }, (req: IncomingMessage, res: ServerResponse) => {
    const host = (req.headers.host ?? '').split(':')[0];
    const auth = req.headers.authorization ?? '';
    const url = new URL(req.url!, 'https://x');
    if (host.startsWith('api.') && req.method === 'POST' && url.pathname === `/app/installations/${o.installationId}/access_tokens`) {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const jwt = /^Bearer (.+)$/.exec(auth)?.[1] ?? '';
        const refused = req.headers.accept !== 'application/vnd.github+json' ? 'accept' : checkJwt(jwt, publicKey, o.appId);
        fake.mints.push({ refused, body });
        if (refused) return json(res, 401, { message: `A JSON web token could not be decoded (${refused})` });
        const token = `ghs_${randomBytes(18).toString('base64url')}`;
        fake.issued.push(token);
        valid.add(token);
        json(res, 201, { token, expires_at: new Date(Date.now() + 3600_000).toISOString(), permissions: { contents: 'read' } });
      });
      return;
    }
    fake.seen.push({ host, url: req.url!, authorization: auth });
    if (host.startsWith('api.')) {
      const token = /^Bearer (.+)$/.exec(auth)?.[1] ?? '';
      if (!valid.has(token)) return json(res, 401, { message: 'Bad credentials' });
      return json(res, 200, { full_name: 'acme/demo', private: true, echoed: auth });
    }
    const basic = /^Basic (.+)$/.exec(auth)?.[1];
    const [user, token] = basic ? Buffer.from(basic, 'base64').toString().split(':') : [];
    if (user !== 'x-access-token' || !valid.has(token)) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="GitHub"', 'content-type': 'text/plain' });
      return void res.end('Invalid username or token');
    }
    gitBackend(req, res, o.gitRoot, new URL(`https://x/git${url.pathname}${url.search}`), { method: req.method!, url: req.url!, headers: req.headers, bodyBytes: 0 });
  });
  await new Promise<void>((r) => server.listen(443, o.host, r));
  return fake;
}

/** A fresh RSA key for a test App, PKCS#1 PEM ("BEGIN RSA PRIVATE KEY") as GitHub hands one out. */
export function appKeyPem(): string {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
}

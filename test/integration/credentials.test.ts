// Credentials beyond static headers, end to end: a real `airlock start` process, real clients
// (the AWS SDK for JavaScript v3, Node's fetch, git, npm, curl) holding only placeholders, and
// local fakes that check what they receive: an S3 that verifies SigV4 with the real secret, an
// OAuth2 token endpoint and API, a GitHub that verifies the App's JWT, an npm registry that wants
// Basic auth, and an echoing upstream for a rotated file: secret. Finally no real secret and no
// minted token may be found in the store files, the log, the UI and API, or any answer to the agent.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { type Duplex, Readable } from 'node:stream';
import tls from 'node:tls';
import zlib from 'node:zlib';
import { ListObjectsV2Command, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ProxyAgent, WebSocket, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/airlock.ts';
import { makeUpstreamPki, type UpstreamPki } from '../helpers/certs.ts';
import { children, startCli } from '../helpers/cli.ts';
import { run } from '../helpers/run.ts';
import { uiLogin } from '../helpers/ui.ts';
import { loopbackIp, startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { appKeyPem, type FakeGitHub, startFakeGitHub } from '../helpers/fakes/github.ts';
import { type FakeRegistry, startFakeRegistry } from '../helpers/fakes/npm-registry.ts';
import { type FakeOAuth2, startFakeOAuth2 } from '../helpers/fakes/oauth2.ts';
import { type FakeS3, startFakeS3 } from '../helpers/fakes/s3.ts';
import { chunkSignature, scopeOf, sign, signingKey } from '../../proxy/credentials/sigv4.ts';

// The real secrets: only airlock's environment and files hold them.
const AWS_ID = 'AKIAREALKEYID7Q2W3E4R';
const AWS_SECRET = 'realAwsSecret/Key+0123456789abcdefGHIJKLmn';
const AWS_SESSION = 'FwoGZXIvYXdzREALsessionToken0123456789abcdefXYZ';
const AWS_WRONG_SECRET = 'notTheRightSecret/0123456789abcdefghijklmn';
const OAUTH_SECRET = 'oauth-client-secret-REAL-4d1f9a';
const OAUTH_WRONG = 'oauth-client-secret-WRONG-77aa0b';
const NPM_PASSWORD = 'npm-REAL-password-77c1e0';
const FILE_TOKENS = ['file-token-v1-REAL-aaaa1111', 'file-token-v2-REAL-bbbb2222', 'file-token-v3-REAL-cccc3333'];
const EXEC_TOKEN = 'exec-token-REAL-dddd4444';
const APP_KEY = appKeyPem();

// What the agent holds instead.
const AWS_PLACEHOLDER_ID = 'AKIAAIRLOCKPLACEHOLDR';
const AWS_PLACEHOLDER_SECRET = 'airlock-placeholder-secret-access-key';
const NPM_PLACEHOLDER = 'npm-placeholder-password';

let dir: string;
let pki: UpstreamPki;
const ips = { s3: loopbackIp(), oauth: loopbackIp(), github: loopbackIp(), npm: loopbackIp(), files: loopbackIp() };
let s3: FakeS3;
let oauth: FakeOAuth2;
let github: FakeGitHub;
let registry: FakeRegistry;
let files: TestUpstream;
let proxyUrl: string;
let uiBase: string;
let uiToken: string;
let caPath: string;
let output = '';
let airlockProc: import('node:child_process').ChildProcess;
/** Every answer the agent got, to search for secrets at the end. */
const agentSaw: string[] = [];

const policy = () => `
data_dir: data
listen:
  proxy: 127.0.0.1:0
  ui: 127.0.0.1:0
upstream:
  ca_files: [${pki.caCert}]
  resolve:
    s3.test: ${ips.s3}
    s3-wrong.test: ${ips.s3}
    sts.test: ${ips.s3}
    auth.test: ${ips.oauth}
    api.test: ${ips.oauth}
    api.badclient.test: ${ips.oauth}
    api.nopolicy.test: ${ips.oauth}
    badtls.test: ${ips.oauth}
    api.github.test: ${ips.github}
    github.test: ${ips.github}
    registry.test: ${ips.npm}
    files.test: ${ips.files}
    exec.test: ${ips.files}
    ws.test: ${ips.files}
hosts:
  - name: s3
    match: s3.test
    inject:
      aws_sigv4: { access_key_id: env:AWS_ID, secret_access_key: env:AWS_SECRET, session_token: file:aws-session, region: us-east-1, service: s3 }
    placeholder: ${AWS_PLACEHOLDER_ID}
  - name: sts
    match: sts.test
    inject:
      aws_sigv4: { access_key_id: env:AWS_ID, secret_access_key: env:AWS_SECRET, session_token: file:aws-session, region: us-east-1, service: sts, max_signed_body: 4KiB }
    placeholder: ${AWS_PLACEHOLDER_ID} # the same key as for S3, so the agent's SDK needs one set
  - name: s3-wrong
    match: s3-wrong.test
    inject:
      aws_sigv4: { access_key_id: env:AWS_ID, secret_access_key: env:AWS_WRONG_SECRET, session_token: file:aws-session, region: us-east-1, service: s3 }
  - name: oauth-token-endpoint
    match: auth.test
    methods: [POST]
    paths: [/oauth/]
  - name: api-badtls
    match: api.test
    paths: [/badtls/]
    inject:
      oauth2: { token_url: https://badtls.test/oauth/token, client_id: airlock-client, client_secret: env:OAUTH_SECRET }
  - name: api
    match: api.test
    inject:
      oauth2:
        token_url: https://auth.test/oauth/token
        client_id: airlock-client
        client_secret: env:OAUTH_SECRET
        scopes: [read, write]
        audience: https://api.test
  - name: api-badclient
    match: api.badclient.test
    inject:
      oauth2: { token_url: https://auth.test/oauth/token, client_id: airlock-client, client_secret: env:OAUTH_WRONG, scopes: [read, write], audience: https://api.test }
  - name: api-nopolicy
    match: api.nopolicy.test
    inject:
      oauth2: { token_url: https://auth-missing.test/oauth/token, client_id: airlock-client, client_secret: env:OAUTH_SECRET }
  - name: badtls-token
    match: badtls.test
  - name: github-api
    match: api.github.test
    inject:
      github_app: { app_id: 4242, installation_id: 99, private_key: file:app.pem, api_url: https://api.github.test }
  - name: github-git
    match: github.test
    inject:
      github_app: { app_id: 4242, installation_id: 99, private_key: file:app.pem, api_url: https://api.github.test }
  - name: registry
    match: registry.test
    inject:
      basic: { user: ci-bot, password: env:NPM_PASSWORD }
    placeholder: ${NPM_PLACEHOLDER}
  - name: files
    match: files.test
    inject:
      bearer: file:rotating-token
  - name: ws-exec
    match: ws.test
    inject:
      headers:
        x-api-key: { exec: [./print-token.sh], cache: 1h }
  - name: exec
    match: exec.test
    inject:
      headers:
        x-api-key: { exec: [./print-token.sh], cache: 1h }
`;

beforeAll(async () => {
  dir = tempDir('airlock-credentials-');
  pki = makeUpstreamPki(path.join(dir, 'pki'), ['s3.test', 's3-wrong.test', 'sts.test', 'auth.test', 'api.test', 'api.badclient.test', 'api.nopolicy.test', 'api.github.test', 'github.test', 'registry.test', 'files.test', 'exec.test', 'ws.test']);
  const gitRoot = path.join(dir, 'git');
  fs.mkdirSync(path.join(gitRoot, 'acme'), { recursive: true });
  execFileSync('git', ['init', '-q', '--bare', path.join(gitRoot, 'acme', 'demo.git')]);
  const work = path.join(dir, 'work');
  execFileSync('git', ['init', '-q', '-b', 'main', work]);
  fs.writeFileSync(path.join(work, 'README.md'), 'private repository\n');
  execFileSync('git', ['-C', work, 'add', '.']);
  execFileSync('git', ['-C', work, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'first']);
  execFileSync('git', ['-C', work, 'push', '-q', path.join(gitRoot, 'acme', 'demo.git'), 'main']);
  execFileSync('git', ['--git-dir', path.join(gitRoot, 'acme', 'demo.git'), 'symbolic-ref', 'HEAD', 'refs/heads/main']);

  s3 = await startFakeS3({ tls: pki, host: ips.s3, accessKeyId: AWS_ID, secret: AWS_SECRET, sessionToken: AWS_SESSION, region: 'us-east-1' });
  oauth = await startFakeOAuth2({ tls: pki, host: ips.oauth, clientId: 'airlock-client', clientSecret: OAUTH_SECRET, scopes: 'read write', audience: 'https://api.test' });
  github = await startFakeGitHub({ tls: pki, host: ips.github, appId: 4242, installationId: 99, privateKeyPem: APP_KEY, gitRoot });
  registry = await startFakeRegistry({
    tls: pki, host: ips.npm, name: 'registry.test', user: 'ci-bot', password: NPM_PASSWORD, dir: path.join(dir, 'registry'),
    packages: [{ name: 'tiny-greeting', version: '1.0.0', main: "module.exports = () => 'hello from the registry';\n" }],
  });
  files = await startUpstream({ tls: pki, host: ips.files, port: 443 });

  fs.writeFileSync(path.join(dir, 'aws-session'), `${AWS_SESSION}\n`);
  fs.writeFileSync(path.join(dir, 'app.pem'), APP_KEY, { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'rotating-token'), `${FILE_TOKENS[0]}\n`);
  fs.writeFileSync(path.join(dir, 'exec-runs'), '');
  fs.writeFileSync(path.join(dir, 'print-token.sh'), `#!/bin/sh\necho run >> "${path.join(dir, 'exec-runs')}"\necho ${EXEC_TOKEN}\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'policy.yaml'), policy());
  // The agent's side knows none of the real values (the CLI process alone gets them).
  const started = await startCli(['--config', path.join(dir, 'policy.yaml')], dir, {
    AWS_ID, AWS_SECRET, AWS_WRONG_SECRET, OAUTH_SECRET, OAUTH_WRONG, NPM_PASSWORD,
  });
  output = started.banner;
  airlockProc = started.proc;
  started.proc.stdout!.on('data', (c) => (output += c));
  started.proc.stderr!.on('data', (c) => (output += c));
  proxyUrl = `http://${/explicit proxy\s+(\S+)/.exec(started.banner)![1]}`;
  uiBase = /web UI\s+(http:\/\/\S+?)\/\s/.exec(started.banner)![1];
  uiToken = /admin token (\S+?);/.exec(started.banner)![1];
  caPath = path.join(dir, 'data', 'ca', 'ca.crt');
}, 60_000);

afterAll(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await Promise.all([s3?.close(), oauth?.close(), github?.close(), registry?.close(), files?.close()]);
});

/** Node's fetch through airlock's explicit proxy, trusting airlock's CA. */
async function agentFetch(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const dispatcher = new ProxyAgent({ uri: proxyUrl, requestTls: { ca: fs.readFileSync(caPath) } });
  try {
    const r = await fetch(url, { ...init, dispatcher });
    const text = await r.text();
    agentSaw.push(JSON.stringify([...r.headers]), text);
    return { status: r.status, headers: r.headers, text };
  } finally {
    await dispatcher.close();
  }
}

/** An https.Agent that tunnels each connection through airlock with CONNECT (for the AWS SDK). */
class TunnelAgent extends https.Agent {
  createConnection(options: http.ClientRequestArgs & { servername?: string }, done?: (err: Error | null, s: Duplex) => void): undefined {
    const proxy = new URL(proxyUrl);
    const authority = `${options.host}:${options.port ?? 443}`;
    const req = http.request({ host: proxy.hostname, port: proxy.port, method: 'CONNECT', path: authority, headers: { host: authority } });
    req.on('connect', (res, socket) => {
      if (res.statusCode !== 200) return done!(new Error(`CONNECT answered ${res.statusCode}`), socket);
      done!(null, tls.connect({ socket, servername: options.servername || options.host!, ca: fs.readFileSync(caPath) }));
    });
    req.on('error', (err) => done!(err, req.socket!));
    req.end();
    return undefined;
  }
}

/** curl through airlock. */
async function curl(args: string[]) {
  const r = await run('curl', ['-sS', '--cacert', caPath, '-x', proxyUrl, ...args]);
  agentSaw.push(r.stdout, r.stderr);
  return r;
}

function s3Client(): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint: 'https://s3.test',
    forcePathStyle: true,
    credentials: { accessKeyId: AWS_PLACEHOLDER_ID, secretAccessKey: AWS_PLACEHOLDER_SECRET },
    requestHandler: { httpsAgent: new TunnelAgent({ keepAlive: false }) },
    maxAttempts: 1,
  });
}

describe('AWS SigV4: the agent signs with placeholders, airlock signs again with the real key', () => {
  it('the fake S3 refuses a request signed with the placeholder credentials (it really checks)', async () => {
    const direct = new S3Client({
      region: 'us-east-1',
      endpoint: 'https://s3.test',
      forcePathStyle: true,
      credentials: { accessKeyId: AWS_ID, secretAccessKey: AWS_PLACEHOLDER_SECRET, sessionToken: AWS_SESSION },
      requestHandler: { httpsAgent: new https.Agent({ ca: fs.readFileSync(pki.caCert), lookup: (_h, _o, cb) => cb(null, [{ address: ips.s3, family: 4 }] as never) }) },
      maxAttempts: 1,
    });
    await expect(direct.send(new ListObjectsV2Command({ Bucket: 'agent-bucket' }))).rejects.toMatchObject({ name: 'SignatureDoesNotMatch' });
  });

  it('the AWS SDK v3 uploads (in one piece, and streamed aws-chunked with a CRC32 trailer), lists and reads objects', async () => {
    const client = s3Client();
    const before = s3.seen.length;
    await client.send(new PutObjectCommand({ Bucket: 'agent-bucket', Key: 'notes/one.txt', Body: 'first object, uploaded in one piece' }));
    const streamed = Buffer.alloc(200_000, 'stream me ');
    const put = await client.send(new PutObjectCommand({ Bucket: 'agent-bucket', Key: 'notes/two.bin', Body: Readable.from([streamed.subarray(0, 70_000), streamed.subarray(70_000)]), ContentLength: streamed.length }));
    expect(put.$metadata.httpStatusCode).toBe(200);
    const list = await client.send(new ListObjectsV2Command({ Bucket: 'agent-bucket' }));
    expect(list.Contents?.map((c) => c.Key).sort()).toEqual(['notes/one.txt', 'notes/two.bin']);
    const got = await client.send(new GetObjectCommand({ Bucket: 'agent-bucket', Key: 'notes/two.bin' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(streamed)).toBe(true);
    const seen = s3.seen.slice(before);
    expect(seen.map((s) => s.refused)).toEqual([null, null, null, null]);
    // The streamed upload kept its mode: aws-chunked with an unsigned payload and a trailer.
    expect(seen[1].headers['x-amz-content-sha256']).toBe('STREAMING-UNSIGNED-PAYLOAD-TRAILER');
    for (const s of seen) {
      expect(s.headers.authorization).toContain(`Credential=${AWS_ID}/`);
      expect(s.headers['x-amz-security-token']).toBe(AWS_SESSION);
    }
    expect(s3.objects.get('agent-bucket/notes/one.txt')?.toString()).toBe('first object, uploaded in one piece');
    client.destroy();
  });

  /** A PUT with aws-chunked signed chunks, signed by the agent with the placeholder secret. */
  function signedChunkedPut(key: string, data: Buffer, sizes: number[], trailer: boolean): { headers: Record<string, string>; body: Buffer } {
    const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const mode = trailer ? 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER' : 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
    const headers: Record<string, string> = {
      host: 's3.test',
      'content-encoding': 'aws-chunked',
      'x-amz-content-sha256': mode,
      'x-amz-date': amzDate,
      'x-amz-decoded-content-length': String(data.length),
      ...(trailer ? { 'x-amz-trailer': 'x-amz-checksum-crc32' } : {}),
    };
    const k = signingKey(AWS_PLACEHOLDER_SECRET, amzDate.slice(0, 8), 'us-east-1', 's3');
    const s = sign({ method: 'PUT', path: `/agent-bucket/${key}`, query: [], headers: Object.entries(headers), signed: Object.keys(headers), payloadHash: mode, amzDate, region: 'us-east-1', service: 's3' }, AWS_PLACEHOLDER_ID, k);
    const scope = scopeOf(amzDate, 'us-east-1', 's3');
    let previous = s.signature;
    const parts: Buffer[] = [];
    let at = 0;
    for (const n of [...sizes, 0]) {
      const chunk = data.subarray(at, at + n);
      at += n;
      previous = chunkSignature(k, amzDate, scope, previous, chunk);
      parts.push(Buffer.from(`${n.toString(16)};chunk-signature=${previous}\r\n`), chunk, ...(n ? [Buffer.from('\r\n')] : []));
    }
    if (trailer) {
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(zlib.crc32(data));
      parts.push(Buffer.from(`x-amz-checksum-crc32:${crc.toString('base64')}\r\nx-amz-trailer-signature:${'0'.repeat(64)}\r\n`));
    }
    parts.push(Buffer.from('\r\n'));
    const body = Buffer.concat(parts);
    return { headers: { ...headers, authorization: s.authorization, 'content-length': String(body.length) }, body };
  }

  function putThroughAirlock(key: string, req: { headers: Record<string, string>; body: Buffer }): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const r = https.request({ host: 's3.test', port: 443, method: 'PUT', path: `/agent-bucket/${key}`, headers: req.headers, agent: new TunnelAgent() }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          agentSaw.push(text);
          resolve({ status: res.statusCode!, text });
        });
      });
      r.on('error', reject);
      r.end(req.body);
    });
  }

  it('re-signs every chunk of a signed aws-chunked upload (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), and its trailer', async () => {
    const data = Buffer.alloc(66_560, 'a');
    for (const [key, trailer] of [['chunked.txt', false], ['chunked-trailer.txt', true]] as const) {
      const r = await putThroughAirlock(key, signedChunkedPut(key, data, [65_536, 1024], trailer));
      expect(r, key).toMatchObject({ status: 200 });
      expect(s3.seen.at(-1)!.refused).toBeNull();
      expect(s3.objects.get(`agent-bucket/${key}`)?.equals(data)).toBe(true);
    }
  });

  it('refuses a signed chunk larger than it re-signs, and SigV4a, with the reason', async () => {
    const big = await putThroughAirlock('big.bin', signedChunkedPut('big.bin', Buffer.alloc(1_100_000, 'b'), [1_100_000], false));
    expect(big.status).toBe(400);
    expect(JSON.parse(big.text)).toMatchObject({ error: 'aws_chunked_invalid' });
    expect(JSON.parse(big.text).reason).toContain('airlock re-signs chunks of up to 1048576 bytes');
    const v4a = await curl(['-H', 'Authorization: AWS4-ECDSA-P256-SHA256 Credential=x/20250101/s3/aws4_request, SignedHeaders=host, Signature=00', 'https://s3.test/agent-bucket/notes/one.txt']);
    expect(JSON.parse(v4a.stdout)).toMatchObject({ error: 'credential_request_unsupported', rule: 's3' });
    expect(JSON.parse(v4a.stdout).reason).toContain('airlock re-signs only AWS4-HMAC-SHA256');
  });

  it('re-signs a presigned URL in headers (its X-Amz-* query parameters removed)', async () => {
    const q = `X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${AWS_PLACEHOLDER_ID}%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20250101T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=${'0'.repeat(64)}`;
    const r = await curl([`https://s3.test/agent-bucket/notes/one.txt?${q}`]);
    expect(r.stdout).toBe('first object, uploaded in one piece');
    expect(s3.seen.at(-1)!.url).toBe('/agent-bucket/notes/one.txt');
  });

  it('a service without a payload hash header (STS, sharing the S3 key and its placeholder): airlock hashes the body to sign it, up to max_signed_body', async () => {
    const r = await curl(['-d', 'Action=GetCallerIdentity&Version=2011-06-15', '-H', `Authorization: AWS4-HMAC-SHA256 Credential=${AWS_PLACEHOLDER_ID}/20250101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=${'0'.repeat(64)}`, 'https://sts.test/']);
    expect(s3.seen.at(-1)!.refused).toBeNull();
    expect(r.stdout).toContain('<Account>123456789012</Account>');
    const big = await curl(['-d', `Action=GetCallerIdentity&Pad=${'p'.repeat(5000)}`, 'https://sts.test/']);
    expect(JSON.parse(big.stdout)).toMatchObject({ error: 'body_too_large_to_sign', rule: 'sts' });
    expect(JSON.parse(big.stdout).reason).toContain('longer than 4096 bytes');
  });

  it("an S3 error that echoes the key id, the session token and the canonical request reaches the agent scrubbed", async () => {
    const r = await curl(['https://s3-wrong.test/agent-bucket/']);
    expect(s3.seen.at(-1)!.refused).toBe('SignatureDoesNotMatch');
    expect(r.stdout).toContain('<Code>SignatureDoesNotMatch</Code>');
    expect(r.stdout).toMatch(/<AWSAccessKeyId>\[redacted:injected\]\**<\/AWSAccessKeyId>/);
    expect(r.stdout).not.toContain(AWS_ID);
    expect(r.stdout).not.toContain(AWS_SESSION);
  });
});

describe('OAuth2 client credentials: a token from the token endpoint, fetched once, refreshed, retried once after a 401', () => {
  it('fetches one token for many requests and sends it as Bearer; an echo of it is scrubbed', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await agentFetch('https://api.test/v1/whoami', { headers: { authorization: 'Bearer agent-placeholder-token' } });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.text).seen).toMatch(/^\[redacted:injected\]\**$/);
      expect(r.headers.get('x-seen-authorization')).toMatch(/^\[redacted:injected\]\**$/); // same length as the token (echo.ts)
    }
    expect(oauth.tokenRequests.map((t) => t.granted)).toEqual([true]);
    expect(oauth.apiAuth).toEqual(Array(3).fill(`Bearer ${oauth.issued[0]}`));
  });

  it('an echo of the minted token in another encoding (base64, hex) is scrubbed too: minted tokens join every form of the echo scrubber', async () => {
    const r = await agentFetch('https://api.test/v1/whoami');
    expect(r.status).toBe(200);
    const body = JSON.parse(r.text);
    const token = oauth.issued.at(-1)!;
    // base64 keeps the last characters that also depend on the bytes after the token (echo-forms.ts).
    expect(body.seen_base64).toMatch(/^\[redacted:injected\]\*+[A-Za-z0-9+/]{0,3}=*$/);
    expect(body.seen_hex).toMatch(/^\[redacted:injected\]\**$/);
    expect(r.text).not.toContain(Buffer.from(token).toString('base64'));
    expect(r.text).not.toContain(Buffer.from(token).toString('hex'));
  });

  it('after the API refuses a revoked token, fetches exactly one new token and sends the request again (body too)', async () => {
    oauth.revokeAll();
    const before = oauth.tokenRequests.length;
    const r = await agentFetch('https://api.test/v1/items', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ item: 'x'.repeat(5000) }) });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text).bodyBytes).toBe(JSON.stringify({ item: 'x'.repeat(5000) }).length);
    expect(oauth.tokenRequests.length).toBe(before + 1);
    expect(oauth.apiAuth.slice(-2)).toEqual([`Bearer ${oauth.issued[0]}`, `Bearer ${oauth.issued[1]}`]);
  });

  it('fetches a new token once the old one expired, without a 401 first', async () => {
    oauth.expiresIn = 2;
    oauth.revokeAll();
    const retried = await agentFetch('https://api.test/v1/whoami'); // a 401, then a token that lives 2 s
    expect(retried.status).toBe(200);
    const minted = oauth.tokenRequests.length;
    const tokens = oauth.issued.length;
    await new Promise((r) => setTimeout(r, 2100));
    const refused = oauth.apiAuth.length;
    const r = await agentFetch('https://api.test/v1/whoami');
    expect(r.status).toBe(200);
    expect(oauth.tokenRequests.length).toBe(minted + 1);
    expect(oauth.apiAuth.slice(refused)).toEqual([`Bearer ${oauth.issued[tokens]}`]); // no 401 on the way
    oauth.expiresIn = 3600;
  });

  it('an API that refuses every token costs one refresh, not one per request; the agent gets the 401 (scrubbed)', async () => {
    oauth.refuseAll = true;
    const before = oauth.tokenRequests.length;
    const first = await agentFetch('https://api.test/v1/whoami');
    expect(first.status).toBe(401);
    expect(JSON.parse(first.text).seen).toMatch(/^\[redacted:injected\]\**$/);
    expect(oauth.tokenRequests.length).toBe(before + 1);
    const second = await agentFetch('https://api.test/v1/whoami');
    expect(second.status).toBe(401);
    expect(oauth.tokenRequests.length).toBe(before + 1);
    oauth.refuseAll = false;
  });

  it("a token host that shows the agent the client credentials airlock sent it: scrubbed (they are airlock's, like the token)", async () => {
    const r = await agentFetch('https://auth.test/oauth/debug', { method: 'POST' });
    expect(r.status).toBe(200);
    const body = JSON.parse(r.text);
    expect(body.authorization).toMatch(/^Basic \[redacted:injected\]\**$/);
    expect(body.decoded).toMatch(/^airlock-client:\[redacted:injected\]\**$/);
  });

  it('a policy reload keeps the token: no new fetch, and the token is still scrubbed', async () => {
    const before = oauth.tokenRequests.length;
    const reloads = output.split('policy reloaded').length;
    airlockProc.kill('SIGHUP');
    await expect.poll(() => output.split('policy reloaded').length, { timeout: 10_000 }).toBe(reloads + 1);
    const r = await agentFetch('https://api.test/v1/whoami');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text).seen).toMatch(/^\[redacted:injected\]\**$/);
    expect(oauth.tokenRequests.length).toBe(before);
  });

  it('a token endpoint that refuses the client: 502 JSON naming the reason, without the secret it quoted', async () => {
    const r = await agentFetch('https://api.badclient.test/v1/whoami');
    expect(r.status).toBe(502);
    const body = JSON.parse(r.text);
    expect(body).toMatchObject({ error: 'credential_unavailable', host: 'api.badclient.test', rule: 'api-badclient' });
    expect(body.hint).toContain('tell the operator');
    expect(body.reason).toContain('answered 401 (invalid_client: client airlock-client with secret [redacted] is not known)');
    expect(r.text).not.toContain(OAUTH_WRONG);
  });

  it('a token endpoint the policy does not allow is never contacted: 502, and the refusal is recorded', async () => {
    const r = await agentFetch('https://api.nopolicy.test/v1/whoami');
    expect(r.status).toBe(502);
    expect(JSON.parse(r.text).reason).toContain('the policy does not allow the token endpoint https://auth-missing.test/oauth/token (host_not_allowed');
  });

  it('a token endpoint with an untrusted certificate: 502 (TLS is verified as for any upstream)', async () => {
    const r = await agentFetch('https://api.test/badtls/x');
    expect(r.status).toBe(502);
    expect(JSON.parse(r.text).reason).toMatch(/TLS|certificate/);
  });
});

describe('GitHub App installation tokens', () => {
  it('git clone over HTTPS works with no credentials on the agent side (Basic x-access-token with a minted token)', async () => {
    const target = path.join(dir, 'clone');
    const r = await run('git', ['-c', `http.proxy=${proxyUrl}`, '-c', 'credential.helper=', 'clone', '-q', 'https://github.test/acme/demo.git', target], {
      env: { GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '/bin/false', GIT_SSL_CAINFO: caPath },
    });
    agentSaw.push(r.stdout, r.stderr);
    expect(r.stderr).toBe('');
    expect(fs.readFileSync(path.join(target, 'README.md'), 'utf8')).toBe('private repository\n');
    expect(github.mints.map((m) => m.refused)).toEqual([null]); // the JWT checked out, once
    const git = github.seen.filter((s) => s.host === 'github.test');
    expect(git.length).toBeGreaterThanOrEqual(2);
    for (const s of git) expect(s.authorization).toBe(`Basic ${Buffer.from(`x-access-token:${github.issued[0]}`).toString('base64')}`);
  });

  it('the REST API gets the same token as Bearer (one App, one token for both rules); its echo is scrubbed', async () => {
    const r = await curl(['https://api.github.test/repos/acme/demo']);
    expect(JSON.parse(r.stdout)).toMatchObject({ full_name: 'acme/demo', echoed: expect.stringMatching(/^Bearer \[redacted:injected\]\**$/) });
    expect(github.seen.at(-1)!.authorization).toBe(`Bearer ${github.issued[0]}`);
    expect(github.mints).toHaveLength(1);
  });
});

describe('Basic auth for a registry', () => {
  it('npm install from a registry that wants Basic auth, with only a placeholder in .npmrc', async () => {
    const project = path.join(dir, 'project');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'agent-project', version: '1.0.0', private: true, dependencies: { 'tiny-greeting': '1.0.0' } }));
    const npmrc = path.join(dir, 'agent.npmrc');
    fs.writeFileSync(npmrc, `registry=https://registry.test/\n//registry.test/:_auth=${Buffer.from(`ci-bot:${NPM_PLACEHOLDER}`).toString('base64')}\n`);
    const r = await run('npm', ['install', '--no-audit', '--no-fund', '--update-notifier=false', `--userconfig=${npmrc}`, `--cache=${path.join(dir, 'npm-cache')}`, `--proxy=${proxyUrl}`, `--https-proxy=${proxyUrl}`, `--cafile=${caPath}`], { cwd: project });
    agentSaw.push(r.stdout, r.stderr);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(project, 'node_modules', 'tiny-greeting', 'index.js'), 'utf8')).toContain('hello from the registry');
    expect(registry.seen.length).toBeGreaterThanOrEqual(2);
    expect(registry.seen.every((s) => s.ok)).toBe(true);
  });

  it('the registry placeholder sent to another host, inside a Basic header, is stopped as exfiltration', async () => {
    const r = await curl(['-u', `ci-bot:${NPM_PLACEHOLDER}`, 'https://files.test/echo']);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: 'placeholder_exfiltration', host: 'files.test' });
  });
});

describe('secret sources', () => {
  const seenBearer = () => files.seen.at(-1)!.headers.authorization;

  it('a file: secret that is rotated is used from the next request on; a removed file fails closed', async () => {
    const file = path.join(dir, 'rotating-token');
    await curl(['https://files.test/echo']);
    expect(seenBearer()).toBe(`Bearer ${FILE_TOKENS[0]}`);
    // Replaced by a rename, as editors and Kubernetes' ..data swap do.
    fs.writeFileSync(`${file}.new`, `${FILE_TOKENS[1]}\n`);
    fs.renameSync(`${file}.new`, file);
    const echoed = await curl(['https://files.test/echo']);
    expect(seenBearer()).toBe(`Bearer ${FILE_TOKENS[1]}`);
    expect(JSON.parse(echoed.stdout).headers.authorization).toMatch(/^\[redacted:injected\]\**$/);
    // Rewritten in place (same inode).
    fs.writeFileSync(file, `${FILE_TOKENS[2]}\n`);
    await curl(['https://files.test/echo']);
    expect(seenBearer()).toBe(`Bearer ${FILE_TOKENS[2]}`);
    fs.rmSync(file);
    const gone = await curl(['https://files.test/echo']);
    expect(JSON.parse(gone.stdout)).toMatchObject({ error: 'credential_unavailable', rule: 'files' });
    expect(JSON.parse(gone.stdout).reason).toContain(`${file} (file:rotating-token) no longer exists`);
    fs.writeFileSync(file, `${FILE_TOKENS[0]}\n`);
    await curl(['https://files.test/echo']);
    expect(seenBearer()).toBe(`Bearer ${FILE_TOKENS[0]}`);
  });

  it('a WebSocket upgrade waits for a credential that is not at hand yet (an exec: secret on its first use)', async () => {
    const dispatcher = new ProxyAgent({ uri: proxyUrl, requestTls: { ca: fs.readFileSync(caPath) } });
    const ws = new WebSocket('wss://ws.test/socket', { dispatcher });
    const reply = await new Promise<string>((resolve, reject) => {
      ws.onopen = () => ws.send('ping');
      ws.onmessage = (e) => resolve(String(e.data));
      ws.onerror = () => reject(new Error('WebSocket error'));
    });
    ws.close();
    await dispatcher.close();
    expect(reply).toBe('echo: ping');
    expect(files.seen.filter((s) => s.method === 'WS').at(-1)!.headers['x-api-key']).toBe(EXEC_TOKEN);
  });

  it('an exec: secret runs once and is reused for its cache lifetime', async () => {
    for (let i = 0; i < 3; i++) await curl(['https://exec.test/echo']);
    expect(files.seen.at(-1)!.headers['x-api-key']).toBe(EXEC_TOKEN);
    // One run in all: the WebSocket's rule names the same source, which both rules share.
    expect(fs.readFileSync(path.join(dir, 'exec-runs'), 'utf8')).toBe('run\n');
  });
});

describe('Range on a credential scheme', () => {
  it('is stripped like on inject.headers (no allow_range): an echo of the token cannot be read in windows', async () => {
    const r = await curl(['-H', 'Range: bytes=0-7', '-H', 'If-Range: "v1"', 'https://files.test/echo']);
    expect(JSON.parse(r.stdout).headers.authorization).toMatch(/^\[redacted:injected\]\**$/);
    const seen = files.seen.at(-1)!.headers;
    expect(seen.authorization).toBe(`Bearer ${FILE_TOKENS[0]}`);
    expect(seen.range).toBeUndefined();
    expect(seen['if-range']).toBeUndefined();
  });
});

describe('no real secret and no minted token anywhere the agent or an auditor can look', () => {
  it('the store files (with -wal), the data dir, the log, the UI and its API, and every answer to the agent', async () => {
    const secrets = [
      AWS_ID, AWS_SECRET, AWS_SESSION, AWS_WRONG_SECRET, OAUTH_SECRET, OAUTH_WRONG, NPM_PASSWORD, ...FILE_TOKENS, EXEC_TOKEN,
      APP_KEY.split('\n')[1], ...oauth.issued, ...github.issued,
    ];
    expect(oauth.issued.length).toBeGreaterThanOrEqual(3);
    expect(github.issued.length).toBe(1);
    const forms = secrets.flatMap((s) => [s, Buffer.from(s).toString('base64')]);
    forms.push(Buffer.from(`ci-bot:${NPM_PASSWORD}`).toString('base64'));
    // Give the writer time to commit what the last requests recorded.
    await new Promise((r) => setTimeout(r, 500));
    const places: [string, string][] = [['log', output], ['answers to the agent', agentSaw.join('\n')]];
    const walk = (d: string): string[] => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
    const dataFiles = walk(path.join(dir, 'data'));
    expect(dataFiles.some((f) => f.endsWith('-wal'))).toBe(true);
    for (const f of dataFiles) places.push([f, fs.readFileSync(f).toString('latin1')]);
    const api = (p: string) => fetch(`${uiBase}${p}`, { headers: { authorization: `Bearer ${uiToken}` } }).then((r) => r.text());
    const list = await api('/api/flows?limit=500');
    places.push(['/api/flows', list]);
    const ids: string[] = JSON.parse(list).flows.map((f: { flow_id: string }) => f.flow_id);
    expect(ids.length).toBeGreaterThan(20);
    const stored = JSON.parse(list).flows.filter((f: { host: string }) => f.host === 'api.test').length;
    expect(stored).toBeGreaterThan(5);
    for (const id of ids) {
      const one = await api(`/api/flows/${id}`);
      places.push([`/api/flows/${id}`, one]);
      // Bodies are stored compressed and by chunks: read back whole, as the API gives them.
      for (const b of (JSON.parse(one).bodies ?? []) as { base64?: string }[]) if (b.base64) places.push([`/api/flows/${id} body`, Buffer.from(b.base64, 'base64').toString('latin1')]);
    }
    places.push(['HAR export', await api('/api/export?format=har')], ['JSONL export', await api('/api/export?format=jsonl')]);
    const session = await uiLogin(uiBase, uiToken);
    const page = (p: string) => fetch(`${uiBase}${p}`, { headers: { cookie: session.cookie } }).then((r) => r.text());
    places.push(['/flows', await page('/flows')]);
    for (const id of ids) places.push([`/flows/${id}`, await page(`/flows/${id}`)]);
    // The store did keep the echoes (scrubbed), so the search above is not looking at nothing.
    expect(places.some(([where, text]) => where.startsWith('/api/flows/') && text.includes('[redacted:injected]'))).toBe(true);
    for (const [where, text] of places) {
      for (const s of forms) expect(text.includes(s), `${where} holds ${s.slice(0, 6)}...`).toBe(false);
    }
    // And the store did record what happened: token requests of airlock's own, with the secret masked.
    const tokenFlows = JSON.parse(list).flows.filter((f: { entry: string }) => f.entry === 'airlock');
    expect(tokenFlows.some((f: { host: string; status: number }) => f.host === 'auth.test' && f.status === 200)).toBe(true);
    expect(tokenFlows.some((f: { host: string; decision: string }) => f.host === 'auth-missing.test' && f.decision === 'deny')).toBe(true);
  });
});

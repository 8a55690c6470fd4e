// Real clients through a real airlock to a real HTTPS upstream on loopback: the request arrives
// with the injected credential, which the agent never had.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ProxyAgent, WebSocket, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, tempDir, type TestAirlock } from '../helpers/airlock.ts';
import { makeUpstreamPki } from '../helpers/certs.ts';
import { run } from '../helpers/run.ts';
import { loopbackIp, startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const SECRET = 'sk-test-REAL-KEY-7f3a9c1e5b';
let dir: string;
let ip: string;
let up: TestUpstream;
let airlock: TestAirlock;
let clientCa: string; // airlock's CA, what agents trust

beforeAll(async () => {
  dir = tempDir();
  ip = loopbackIp();
  const pki = makeUpstreamPki(path.join(dir, 'pki'), ['api.test']);
  const repos = path.join(dir, 'repos');
  fs.mkdirSync(repos);
  execFileSync('git', ['init', '-q', '--bare', path.join(repos, 'demo.git')]);
  const work = path.join(dir, 'work');
  execFileSync('git', ['init', '-q', '-b', 'main', work]);
  execFileSync('git', ['-C', work, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '--allow-empty', '-m', 'first']);
  execFileSync('git', ['-C', work, 'push', '-q', path.join(repos, 'demo.git'), 'main']);
  up = await startUpstream({ tls: pki, host: ip, port: 443, gitRoot: repos });
  airlock = await startTestAirlock(
    `
listen:
  proxy: 127.0.0.1:0
  transparent: 127.0.0.1:0
routes:
  - listen: unix:${dir}/anthropic.sock
    upstream: https://api.test
upstream:
  ca_files: [${pki.caCert}]
  resolve: { api.test: ${ip} }
hosts:
  - match: api.test
    inject:
      headers: { x-api-key: env:TEST_API_KEY }
`,
    { TEST_API_KEY: SECRET },
    dir,
  );
  clientCa = airlock.caCertPath;
});

afterAll(async () => {
  await airlock?.close();
  await up?.close();
});

function lastSeen(pathPrefix: string) {
  const s = [...up.seen].reverse().find((x) => x.url.startsWith(pathPrefix));
  expect(s, `upstream saw ${pathPrefix}`).toBeDefined();
  return s!;
}

/**
 * The upstream got the real key; the agent, reading the upstream's echo of it, sees only the
 * scrubbed marker (an echoing upstream must never hand the key back).
 */
function expectInjected(echoed: string, pathPrefix: string): void {
  expect(lastSeen(pathPrefix).headers['x-api-key']).toBe(SECRET);
  expect(echoed).toMatch(/^\[redacted:injected\]\**$/);
}

describe('real clients reach an allowed host with the credential injected', () => {
  it('curl through the explicit proxy (CONNECT)', async () => {
    const r = await run('curl', ['-sS', '--cacert', clientCa, '-x', airlock.proxyUrl, '-H', 'x-api-key: agent-guess', 'https://api.test/echo?via=curl']);
    expect(r.stderr).toBe('');
    expectInjected(JSON.parse(r.stdout).headers['x-api-key'], '/echo?via=curl');
  });

  it('curl transparently (--connect-to the transparent port, routed by SNI)', async () => {
    const t = airlock.addresses.transparent!.port!;
    const r = await run('curl', ['-sS', '--cacert', clientCa, '--connect-to', `api.test:443:127.0.0.1:${t}`, 'https://api.test/echo?via=transparent']);
    expect(r.stderr).toBe('');
    expectInjected(JSON.parse(r.stdout).headers['x-api-key'], '/echo?via=transparent');
  });

  it('curl --http2 speaks HTTP/2 to airlock', async () => {
    const r = await run('curl', ['-sS', '--http2', '--cacert', clientCa, '-x', airlock.proxyUrl, '-w', '\n%{http_version}', 'https://api.test/echo?via=h2']);
    const [json, version] = r.stdout.split('\n');
    expect(version).toBe('2');
    expectInjected(JSON.parse(json).headers['x-api-key'], '/echo?via=h2');
  });

  it("Node fetch through undici's ProxyAgent", async () => {
    const dispatcher = new ProxyAgent({ uri: airlock.proxyUrl, requestTls: { ca: airlock.caPem } });
    const res = await fetch('https://api.test/echo?via=fetch', { dispatcher });
    expect(res.status).toBe(200);
    expectInjected(((await res.json()) as { headers: Record<string, string> }).headers['x-api-key'], '/echo?via=fetch');
    await dispatcher.close();
  });

  it('python3 urllib with HTTPS_PROXY and strict X.509 verification', async () => {
    const script = `
import ssl, urllib.request, json, os
ctx = ssl.create_default_context(cafile=os.environ["CA"])
ctx.verify_flags |= ssl.VERIFY_X509_STRICT
opener = urllib.request.build_opener(urllib.request.ProxyHandler(), urllib.request.HTTPSHandler(context=ctx))
print(json.load(opener.open("https://api.test/echo?via=python"))["headers"]["x-api-key"])
`;
    const r = await run('python3', ['-c', script], { env: { HTTPS_PROXY: airlock.proxyUrl, CA: clientCa, NO_PROXY: '' } });
    expect(r.stderr).toBe('');
    expectInjected(r.stdout.trim(), '/echo?via=python');
  });

  it('git ls-remote over HTTPS against a smart-HTTP server', async () => {
    const r = await run('git', ['-c', `http.proxy=${airlock.proxyUrl}`, 'ls-remote', 'https://api.test/git/demo.git'], {
      env: { GIT_TERMINAL_PROMPT: '0', GIT_SSL_CAINFO: clientCa },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^[0-9a-f]{40}\trefs\/heads\/main$/m);
    expect(lastSeen('/git/demo.git/info/refs').headers['x-api-key']).toBe(SECRET);
  });

  it('a WebSocket client upgrades through the proxy and its messages round-trip', async () => {
    const dispatcher = new ProxyAgent({ uri: airlock.proxyUrl, requestTls: { ca: airlock.caPem } });
    const ws = new WebSocket('wss://api.test/socket', { dispatcher });
    const reply = await new Promise<string>((resolve, reject) => {
      ws.onopen = () => ws.send('ping');
      ws.onmessage = (e) => resolve(String(e.data));
      ws.onerror = () => reject(new Error('WebSocket error'));
    });
    ws.close();
    expect(reply).toBe('echo: ping');
    expect(lastSeen('/socket').headers['x-api-key']).toBe(SECRET);
    // The flow is recorded when both sides of the relay have closed.
    await expect.poll(async () => {
      await airlock.store.flush();
      return airlock.store.db.prepare("SELECT protocol, status, decision FROM flows WHERE path = '/socket'").get();
    }).toEqual({ protocol: 'ws', status: 101, decision: 'allow' });
    await dispatcher.close();
  });

  it('a Unix-socket base-URL route reaches its upstream origin', async () => {
    const r = await run('curl', ['-sS', '--unix-socket', path.join(dir, 'anthropic.sock'), 'http://airlock/echo?via=unix']);
    expect(r.stderr).toBe('');
    const body = JSON.parse(r.stdout);
    expect(body.headers.host).toBe('api.test');
    expectInjected(body.headers['x-api-key'], '/echo?via=unix');
  });

  it('the upstream saw every request with the key, and no agent request ever carried it', async () => {
    // The agent-side requests above were built by us without the secret; the store proves
    // what airlock forwarded was recorded masked.
    await airlock.store.flush();
    const rows = airlock.store.db.prepare("SELECT request_headers FROM flows WHERE decision = 'allow'").all() as { request_headers: string }[];
    expect(rows.length).toBeGreaterThanOrEqual(7);
    for (const r of rows) {
      expect(r.request_headers).not.toContain(SECRET);
      expect(JSON.parse(r.request_headers)['x-api-key']).toBe('[injected:x-api-key]');
    }
  });
});

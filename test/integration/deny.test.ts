// Default deny on every entry path, host consistency, and address checks after DNS.
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, tempDir, type TestAirlock } from '../helpers/airlock.ts';
import { makeUpstreamPki } from '../helpers/certs.ts';
import { startDns, type TestDns } from '../helpers/dns.ts';
import { parseResponse, rawExchange } from '../helpers/raw.ts';
import { run } from '../helpers/run.ts';
import { loopbackIp, startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const SECRET = 'sk-deny-test-SECRET-91c2d';
let api: TestUpstream;
let other: TestUpstream;
let untrusted: TestUpstream;
let dns: TestDns;
let airlock: TestAirlock;
let agentTrust: string;

beforeAll(async () => {
  const dir = tempDir();
  const ips = { api: loopbackIp(), other: loopbackIp(), untrusted: loopbackIp(), named: loopbackIp() };
  const pki = makeUpstreamPki(path.join(dir, 'pki'), ['api.test', 'other.test', 'named.test', 'loop.test']);
  const rogue = makeUpstreamPki(path.join(dir, 'rogue'), ['untrusted.test'], 'rogue CA');
  api = await startUpstream({ tls: pki, host: ips.api, port: 443 });
  other = await startUpstream({ tls: pki, host: ips.other, port: 443 });
  untrusted = await startUpstream({ tls: rogue, host: ips.untrusted, port: 443 });
  await startUpstream({ tls: pki, host: ips.named, port: 443 });
  dns = await startDns({ 'loop.test': '127.0.0.1', 'priv.test': '10.0.0.1', 'meta.test': '169.254.169.254', 'named.test': ips.named });
  airlock = await startTestAirlock(
    `
listen:
  proxy: 127.0.0.1:0
  transparent: 127.0.0.1:0
routes:
  - listen: 127.0.0.1:0
    upstream: https://limited.test
upstream:
  ca_files: [${pki.caCert}]
  resolve: { api.test: ${ips.api}, other.test: ${ips.other}, untrusted.test: ${ips.untrusted} }
  dns_servers: [${dns.server}]
hosts:
  - match: api.test
    inject: { headers: { x-api-key: env:DENY_TEST_KEY } }
    placeholder: airlock-placeholder-api
  - match: other.test
  - match: limited.test
    paths: [/v1/]
  - match: untrusted.test
    inject: { headers: { authorization: env:DENY_TEST_KEY } }
  - match: loop.test
  - match: priv.test
  - match: meta.test
  - name: named
    match: named.test
    allow_ips: [127.0.0.0/8]
`,
    { DENY_TEST_KEY: SECRET },
    dir,
  );
  agentTrust = airlock.caCertPath;
});

afterAll(async () => {
  await airlock?.close();
  await Promise.all([api, other, untrusted].map((u) => u?.close()));
  dns?.close();
});

const curl = (...args: string[]) => run('curl', ['-sS', '--cacert', agentTrust, ...args]);

describe('a denied host gets a 403 JSON on every path, and no leaf is minted', () => {
  it('explicit CONNECT', async () => {
    const before = airlock.minter.stats.minted;
    const res = parseResponse(await rawExchange(airlock.addresses.proxy!.port!, 'CONNECT denied.test:443 HTTP/1.1\r\nHost: denied.test:443\r\n\r\n'));
    expect(res.status).toBe(403);
    const body = JSON.parse(res.body);
    expect(body).toMatchObject({ error: 'host_not_allowed', host: 'denied.test', reason: 'host is not in the policy', rule: null });
    expect(body.hint).toMatch(/Do not retry/);
    expect(airlock.minter.stats.minted).toBe(before);
  });

  it('explicit absolute-form HTTP', async () => {
    const r = await curl('-x', airlock.proxyUrl, 'http://denied.test/x');
    expect(JSON.parse(r.stdout)).toMatchObject({ error: 'host_not_allowed', host: 'denied.test' });
  });

  it('transparent plain HTTP, routed by Host', async () => {
    const t = airlock.addresses.transparent!.port!;
    const r = await curl('-w', '\n%{http_code}', '--connect-to', `denied.test:80:127.0.0.1:${t}`, 'http://denied.test/x');
    const [json, code] = r.stdout.split('\n');
    expect(code).toBe('403');
    expect(JSON.parse(json)).toMatchObject({ error: 'host_not_allowed', host: 'denied.test' });
  });

  it('transparent TLS, routed by SNI: refused with an access_denied alert before any certificate', async () => {
    const before = airlock.minter.stats.minted;
    const t = airlock.addresses.transparent!.port!;
    const r = await curl('--connect-to', `denied.test:443:127.0.0.1:${t}`, 'https://denied.test/x');
    expect(r.code).toBe(35);
    expect(r.stderr).toMatch(/access denied/i);
    expect(airlock.minter.stats.minted).toBe(before);
  });

  it('base-URL route: a path the policy does not allow', async () => {
    // A route to a host no rule allows is a config error (see policy tests), so the route's
    // denial is per request: this rule allows only /v1/.
    const r = await curl('-w', '\n%{http_code}', `http://${airlock.addresses.routes[0].address}/admin`);
    const [json, code] = r.stdout.split('\n');
    expect(code).toBe('403');
    expect(JSON.parse(json)).toMatchObject({ error: 'path_not_allowed', host: 'limited.test' });
  });
});

describe('host consistency', () => {
  it('CONNECT to an allowed host with Host naming another host is 421 Misdirected Request; nothing reaches the other host', async () => {
    const before = other.seen.length;
    const r = await curl('-w', '\n%{http_code}', '-x', airlock.proxyUrl, '-H', 'Host: other.test', 'https://api.test/echo');
    const [json, code] = r.stdout.split('\n');
    expect(code).toBe('421');
    expect(JSON.parse(json)).toMatchObject({ error: 'host_mismatch' });
    expect(other.seen.length).toBe(before);
  });

  it('a TLS server name that differs from the CONNECT host is refused before the handshake', async () => {
    const before = other.seen.length;
    const r = await run('openssl', ['s_client', '-proxy', airlock.addresses.proxy!.address, '-connect', 'api.test:443', '-servername', 'other.test', '-brief'], {
      input: 'GET / HTTP/1.1\r\nHost: other.test\r\n\r\n',
    });
    expect(r.code).not.toBe(0);
    expect(other.seen.length).toBe(before);
  });

  it('each request on a keep-alive connection gets its own decision', async () => {
    const dispatcher = new ProxyAgent({ uri: airlock.proxyUrl, requestTls: { ca: airlock.caPem } });
    const ok = await request('https://api.test/echo?n=1', { dispatcher });
    expect(ok.statusCode).toBe(200);
    await ok.body.text();
    const bad = await request('https://api.test/echo?n=2', { dispatcher, headers: { host: 'other.test' } });
    expect(bad.statusCode).toBe(421);
    expect(JSON.parse(await bad.body.text()).error).toBe('host_mismatch');
    const again = await request('https://api.test/echo?n=3', { dispatcher });
    expect(again.statusCode).toBe(200);
    await again.body.text();
    await dispatcher.close();
  });
});

describe('addresses are checked after DNS', () => {
  for (const [name, ip] of [['loop.test', '127.0.0.1'], ['priv.test', '10.0.0.1'], ['meta.test', '169.254.169.254']]) {
    it(`${name} resolving to ${ip} is refused`, async () => {
      const r = await curl('-w', '\n%{http_code}', '-x', airlock.proxyUrl, `https://${name}/`);
      const [json, code] = r.stdout.split('\n');
      expect(code).toBe('403');
      const body = JSON.parse(json);
      expect(body.error).toBe('address_not_allowed');
      expect(body.reason).toContain(ip);
    });
  }

  it('a name resolving to loopback is reached when its rule names the address', async () => {
    const r = await curl('-w', '\n%{http_code}', '-x', airlock.proxyUrl, 'https://named.test/echo');
    expect(r.stdout.split('\n')[1]).toBe('200');
  });
});

describe('upstream failures', () => {
  it('an upstream whose certificate is not trusted gives 502, and no credential was sent', async () => {
    const r = await curl('-w', '\n%{http_code}', '-x', airlock.proxyUrl, 'https://untrusted.test/echo');
    const [json, code] = r.stdout.split('\n');
    expect(code).toBe('502');
    expect(JSON.parse(json).error).toBe('upstream_tls');
    expect(json).not.toContain(SECRET);
    expect(untrusted.seen).toHaveLength(0);
  });
});

describe('credentials', () => {
  it('a placeholder is swapped for the real key on its own host', async () => {
    const r = await curl('-x', airlock.proxyUrl, '-H', 'x-other: Bearer airlock-placeholder-api', 'https://api.test/echo?placeholder');
    expect(api.seen.at(-1)).toMatchObject({ url: '/echo?placeholder', headers: { 'x-other': `Bearer ${SECRET}` } });
    // The upstream's echo of it reaches the agent scrubbed.
    expect(JSON.parse(r.stdout).headers['x-other']).toMatch(/^Bearer \[redacted:injected\]/);
  });

  it('the same placeholder sent to another host is blocked as exfiltration', async () => {
    const before = other.seen.length;
    const r = await curl('-w', '\n%{http_code}', '-x', airlock.proxyUrl, '-H', 'authorization: Bearer airlock-placeholder-api', 'https://other.test/echo');
    const [json, code] = r.stdout.split('\n');
    expect(code).toBe('403');
    expect(JSON.parse(json).error).toBe('placeholder_exfiltration');
    expect(other.seen.length).toBe(before);
  });

  it('redirects go back to the agent and are not followed', async () => {
    const before = api.seen.length;
    const r = await curl('-w', '\n%{http_code} %{redirect_url}', '-x', airlock.proxyUrl, 'https://api.test/redirect');
    expect(r.stdout.split('\n')[1]).toBe('302 https://elsewhere.test/');
    expect(api.seen.length).toBe(before + 1);
  });

  it('an upstream echoing the key in a response header never hands it to the agent', async () => {
    const r = await curl('-D', '-', '-o', '/dev/null', '-x', airlock.proxyUrl, 'https://api.test/echo-headers');
    expect(r.stdout).toContain('echo-x-api-key: [redacted:injected]');
    expect(r.stdout).not.toContain(SECRET);
  });

  it('the agent cannot override the injected header', async () => {
    await curl('-x', airlock.proxyUrl, '-H', 'X-Api-Key: attacker-chosen', 'https://api.test/echo?override');
    expect(api.seen.at(-1)).toMatchObject({ url: '/echo?override', headers: { 'x-api-key': SECRET } });
  });
});

describe('the flow store', () => {
  it('holds every flow above with its decision, and never the injected secret', async () => {
    await airlock.store.flush();
    const rows = airlock.store.db.prepare('SELECT decision, code, host, status, method FROM flows').all() as {
      decision: string;
      code: string | null;
      host: string | null;
      status: number | null;
    }[];
    const count = (pred: (r: (typeof rows)[number]) => boolean) => rows.filter(pred).length;
    expect(count((r) => r.code === 'host_not_allowed' && r.host === 'denied.test')).toBe(4);
    expect(count((r) => r.code === 'path_not_allowed' && r.host === 'limited.test')).toBe(1);
    expect(count((r) => r.code === 'host_mismatch')).toBeGreaterThanOrEqual(3);
    expect(count((r) => r.code === 'address_not_allowed' && r.decision === 'deny')).toBe(3);
    expect(count((r) => r.code === 'upstream_tls' && r.decision === 'error' && r.status === 502)).toBe(1);
    expect(count((r) => r.code === 'placeholder_exfiltration')).toBe(1);
    expect(count((r) => r.decision === 'allow' && r.host === 'named.test' && r.status === 200)).toBe(1);
    expect(count((r) => r.decision === 'allow' && r.host === 'api.test')).toBeGreaterThanOrEqual(6);

    const file = airlock.config.store.path;
    await airlock.close();
    for (const f of [file, `${file}-wal`, `${file}-shm`]) {
      if (fs.existsSync(f)) expect(fs.readFileSync(f).includes(SECRET), f).toBe(false);
    }
  });
});

// explain_in_tls (off by default, rate-limited) and the CA page at airlock.invalid, through a
// real airlock with curl.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, type TestAirlock } from '../helpers/airlock.ts';
import { parseResponse, rawExchange } from '../helpers/raw.ts';
import { run } from '../helpers/run.ts';
import { hintFor } from '../../proxy/respond.ts';

const started: TestAirlock[] = [];
afterAll(async () => {
  for (const a of started) await a.close();
});

async function start(extra: string): Promise<TestAirlock> {
  const a = await startTestAirlock(`listen:\n  proxy: 127.0.0.1:0\n  transparent: 127.0.0.1:0\nhosts: []\ndeny:\n  - { match: "*", paths: [/] }\n${extra}`);
  started.push(a);
  return a;
}

const curl = (a: TestAirlock, ...args: string[]) => run('curl', ['-sS', '--cacert', a.caCertPath, '-x', a.proxyUrl, '--max-time', '10', ...args]);

describe('explain_in_tls', () => {
  let on: TestAirlock;
  beforeAll(async () => {
    on = await start('explain_in_tls: { enabled: true, per_minute: 2 }\n');
  });

  it('off by default: a refused CONNECT is a 403 before TLS, which curl cannot show', async () => {
    const off = await start('');
    const r = await curl(off, '-w', '%{http_code}', 'https://denied.test/');
    expect(r.stderr).toMatch(/CONNECT tunnel failed, response 403/);
    const [rows] = [off.store.db];
    await off.store.flush();
    expect(rows.prepare("SELECT count(*) AS n FROM flows WHERE code = 'host_not_allowed'").get()).toEqual({ n: 1 });
  });

  it('on: the agent reads the 403 JSON with its hint inside TLS, and both the connection and the request are recorded', async () => {
    const r = await curl(on, '-i', 'https://denied.test/some/path');
    expect(r.stdout).toMatch(/^HTTP\/2 403/m);
    expect(r.stdout).toMatch(/^proxy-status: airlock; error=http_request_denied; details="host_not_allowed: host is not in the policy"/m);
    const body = JSON.parse(r.stdout.slice(r.stdout.indexOf('{')));
    expect(body).toEqual({ error: 'host_not_allowed', host: 'denied.test', reason: 'host is not in the policy', rule: null, hint: hintFor('host_not_allowed') });
    await on.store.flush();
    expect(on.store.db.prepare("SELECT method, path, decision, code FROM flows WHERE host = 'denied.test' ORDER BY id").all()).toEqual([
      { method: 'CONNECT', path: null, decision: 'deny', code: 'host_not_allowed' },
      { method: 'GET', path: '/some/path', decision: 'deny', code: 'host_not_allowed' },
    ]);
  });

  it('rate-limited per client: past per_minute, refusals are plain CONNECT 403s again', async () => {
    await curl(on, 'https://denied2.test/');
    const r = await curl(on, 'https://denied3.test/');
    expect(r.stderr).toMatch(/CONNECT tunnel failed, response 403/);
  });

  it('never for a name that is not a valid host name: no leaf is minted for it', async () => {
    const raw = parseResponse(await rawExchange(on.addresses.proxy!.port!, 'CONNECT bad_name!.test:443 HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(raw.status).toBe(400);
    expect(on.minter.has('bad_name!.test')).toBe(false);
  });
});

describe('the CA page at airlock.invalid', () => {
  let a: TestAirlock;
  beforeAll(async () => {
    a = await start('');
  });

  it('serves install steps and the public certificate over plain HTTP through the proxy, whatever the policy denies', async () => {
    const page = await run('curl', ['-sS', '-x', a.proxyUrl, 'http://airlock.invalid/']);
    expect(page.stdout).toMatch(/^airlock CA certificate/);
    expect(page.stdout).toContain('NODE_EXTRA_CA_CERTS');
    expect(page.stdout).toContain(a.caPem.trim());
    expect(page.stdout).not.toMatch(/PRIVATE KEY/);
    const pem = await run('curl', ['-sS', '-x', a.proxyUrl, 'http://airlock.invalid/ca.pem']);
    expect(pem.stdout).toBe(a.caPem);
    const der = await run('curl', ['-sS', '-x', a.proxyUrl, '-o', '/dev/null', '-w', '%{content_type} %{size_download}', 'http://airlock.invalid/ca.der']);
    expect(der.stdout).toMatch(/^application\/pkix-cert \d{3,}$/);
  });

  it('over HTTPS once the CA is trusted, and recorded as a flow of its own', async () => {
    const r = await curl(a, 'https://airlock.invalid/ca.pem');
    expect(r.stdout).toBe(a.caPem);
    expect((await run('curl', ['-sS', '-x', a.proxyUrl, '-o', '/dev/null', '-w', '%{http_code}', 'http://airlock.invalid/ca.key'])).stdout).toBe('404');
    await a.store.flush();
    const rows = a.store.db.prepare("SELECT path, status, decision, rule_id FROM flows WHERE host = 'airlock.invalid' ORDER BY id").all();
    expect(rows).toContainEqual({ path: '/ca.pem', status: 200, decision: 'allow', rule_id: 'airlock-ca-page' });
    expect(rows).toContainEqual({ path: '/ca.key', status: 404, decision: 'allow', rule_id: 'airlock-ca-page' });
  });
});

// Refusals as an agent reads them, through a real airlock: every one carries Proxy-Status
// (RFC 9209) and the JSON hint for its code, the CONNECT 403 included; none that sent nothing
// upstream says the upstream failed.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, tempDir, type TestAirlock } from '../helpers/airlock.ts';
import { run } from '../helpers/run.ts';
import { parseResponse, rawExchange } from '../helpers/raw.ts';
import { hintFor } from '../../proxy/respond.ts';
import { startTlsUpstream, type TestUpstream } from '../helpers/upstream.ts';

let airlock: TestAirlock;
let up: TestUpstream;
let port: number;

beforeAll(async () => {
  const dir = tempDir();
  const u = await startTlsUpstream(dir, ['api.test', 'other.test']);
  up = u.up;
  airlock = await startTestAirlock(
    `
listen:
  proxy: 127.0.0.1:0
upstream:
  ca_files: [${u.pki.caCert}]
  resolve: { api.test: ${u.ip}, other.test: ${u.ip}, closed.test: 127.0.0.1 }
hosts:
  - name: api
    match: api.test
    methods: [GET]
    paths: [/v1/]
    inject: { headers: { x-api-key: env:KEY } }
    placeholder: airlock-placeholder-api
  - name: other
    match: other.test
  - name: closed
    match: closed.test
    ports: [1]
    plain_http: true
  - name: local
    match: localhost
deny:
  - name: no-admin
    match: "*"
    paths: [/admin]
  - name: no-gone
    match: gone.test
`,
    { KEY: 'sk-real-refusals-key' },
    path.join(dir),
  );
  port = airlock.addresses.proxy!.port!;
});

afterAll(async () => {
  await airlock?.close();
  await up?.close();
});

/** curl through the proxy: status, headers (lower-cased), body. */
async function curl(...args: string[]) {
  const r = await run('curl', ['-s', '-i', '--cacert', airlock.caCertPath, '-x', airlock.proxyUrl, '--max-time', '10', ...args]);
  const blocks = r.stdout.split('\r\n\r\n');
  // -i also prints the CONNECT's 200; the last head before the body is the answer's.
  let i = 0;
  while (/^HTTP\/1\.1 200 Connection established/i.test(blocks[i] ?? '')) i++;
  const head = blocks[i] ?? '';
  return { status: Number(head.split(' ')[1]), headers: head.toLowerCase(), body: blocks.slice(i + 1).join('\r\n\r\n') };
}

function expectRefusal(r: { status: number; headers: string; body: string }, status: number, code: string) {
  expect(r.status, r.headers).toBe(status);
  expect(r.headers).toMatch(new RegExp(`^proxy-status: airlock; error=[a-z_]+; details="${code}: `, 'm'));
  const body = JSON.parse(r.body) as { error: string; hint: string };
  expect(body.error).toBe(code);
  expect(body.hint).not.toMatch(/upstream (request )?failed/i);
  return body;
}

describe('every refusal is readable', () => {
  it('CONNECT to a host not in the policy: 403 with Proxy-Status before any TLS', async () => {
    const raw = parseResponse(await rawExchange(port, 'CONNECT nowhere.test:443 HTTP/1.1\r\nHost: nowhere.test:443\r\n\r\n'));
    expect(raw.status).toBe(403);
    expect(raw.headers).toMatch(/^proxy-status: airlock; error=http_request_denied; details="host_not_allowed: host is not in the policy"$/m);
    expect(JSON.parse(raw.body)).toMatchObject({ error: 'host_not_allowed', hint: hintFor('host_not_allowed') });
  });

  it('CONNECT to a host a deny rule names', async () => {
    const raw = parseResponse(await rawExchange(port, 'CONNECT gone.test:443 HTTP/1.1\r\nHost: gone.test:443\r\n\r\n'));
    expect(raw.status).toBe(403);
    expect(raw.headers).toMatch(/^proxy-status: airlock; error=http_request_denied; details="host_denied_by_rule: /m);
  });

  it('method_not_allowed and path_not_allowed name what is allowed, not an upstream failure', async () => {
    const m = expectRefusal(await curl('-X', 'POST', 'https://api.test/v1/x'), 403, 'method_not_allowed');
    expect(m.hint).toMatch(/allows only GET/);
    const p = expectRefusal(await curl('https://api.test/v2/x'), 403, 'path_not_allowed');
    expect(p.hint).toMatch(/paths starting with \/v1\//);
  });

  it('request_denied_by_rule, plain_http_not_allowed, port_not_allowed', async () => {
    expectRefusal(await curl('https://other.test/admin'), 403, 'request_denied_by_rule');
    expectRefusal(await curl('http://other.test/x'), 403, 'plain_http_not_allowed');
    expectRefusal(parseResponse(await rawExchange(port, 'CONNECT other.test:8443 HTTP/1.1\r\nHost: other.test:8443\r\n\r\n')), 403, 'port_not_allowed');
  });

  it('placeholder_exfiltration and dlp_blocked', async () => {
    expectRefusal(await curl('-H', 'x-token: airlock-placeholder-api', 'https://other.test/x'), 403, 'placeholder_exfiltration');
    const d = expectRefusal(await curl('-d', 'aws_access_key_id=AKIAQYLPMN5HHHFPZAM2', 'https://other.test/upload'), 403, 'dlp_blocked');
    expect(d.hint).toMatch(/Nothing was sent upstream/);
  });

  it('a malformed request gets 400 bad_request with Proxy-Status', async () => {
    const raw = parseResponse(await rawExchange(port, 'GET http://other.test/x HTTP/1.1\r\nHost: other.test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n'));
    expect(raw.status).toBe(400);
    expect(raw.headers).toMatch(/^proxy-status: airlock; error=http_request_error; details="bad_request: /m);
  });

  it('upstream failures say so, with their own error types', async () => {
    // closed.test is pinned to 127.0.0.1, where nothing listens on port 1.
    const c = await curl('http://closed.test:1/x');
    expect(c.status).toBe(502);
    expect(c.headers).toMatch(/^proxy-status: airlock; error=destination_unavailable; details="upstream_connect: /m);
    expect(JSON.parse(c.body)).toMatchObject({ error: 'upstream_connect', hint: hintFor('upstream_connect') });
    // localhost resolves to loopback, which no rule names: refused after DNS, nothing dialled.
    const p = await curl('https://localhost/x');
    expect(p.status).toBe(403);
    expect(p.headers).toMatch(/^proxy-status: airlock; error=destination_ip_prohibited; details="address_not_allowed: /m);
  });
});

// Deny rules beat wildcards on every entry path: explicit CONNECT (before any TLS), absolute-form
// HTTP, transparent SNI and Host, a base-URL route, and the same route on a Unix socket; at
// connection time for a whole host and per request for paths, however the path is spelled. The
// 403 names the rule, the flow is recorded, and nothing reaches an upstream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientHello, inRecords } from '../../bench/fuzz-props.ts';
import { run } from '../helpers/run.ts';
import { raw, type Rig, startRig, tlsTo } from './harness.ts';

let rig: Rig;
beforeAll(async () => {
  // `wild` allows *.wild.test and `api` allows api.test (harness.ts); these deny rules carve
  // exceptions out of them and out of every host.
  rig = await startRig(`
deny:
  - name: no-admin
    match: admin.wild.test
  - name: no-secrets
    match: "*"
    paths: [/secret]
  - name: no-deletes
    match: api.test
    methods: [DELETE]
`);
});
afterAll(() => rig?.close());

const curl = (...args: string[]) => run('curl', ['-sS', '--path-as-is', '--cacert', `${rig.dir}/agent-ca.pem`, '-w', '\n%{http_code}', ...args]);
const body = (out: string) => {
  const i = out.lastIndexOf('\n');
  return { status: Number(out.slice(i + 1)), json: out.slice(0, i) ? (JSON.parse(out.slice(0, i)) as { error: string; rule: string | null; reason: string; hint: string }) : null };
};

beforeAll(async () => {
  const fs = await import('node:fs');
  fs.writeFileSync(`${rig.dir}/agent-ca.pem`, rig.ca);
});

describe('a whole host denied under a wildcard allow', () => {
  it('explicit CONNECT: 403 naming the rule before any TLS, in any spelling of the name; no certificate minted', async () => {
    for (const name of ['admin.wild.test', 'ADMIN.Wild.test.']) {
      const mark = await rig.mark();
      const minted = rig.airlock.minter.stats.minted;
      const r = await raw(rig.ports.proxy, `CONNECT ${name}:443 HTTP/1.1\r\nHost: ${name}:443\r\n\r\n`);
      expect(r.status, r.text).toBe(403);
      const json = JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4));
      expect(json).toMatchObject({ error: 'host_denied_by_rule', rule: 'no-admin', host: 'admin.wild.test', reason: 'host is denied by a deny rule' });
      expect(json.hint).toMatch(/deny rule no-admin/);
      expect(rig.airlock.minter.stats.minted).toBe(minted);
      const flows = await rig.flowsAfter(mark);
      expect(flows).toHaveLength(1);
      expect(flows[0]).toMatchObject({ decision: 'deny', code: 'host_denied_by_rule', method: 'CONNECT', host: 'admin.wild.test' });
    }
    // The wildcard still admits the other names under it.
    const mark = await rig.mark();
    const sibling = await raw(rig.ports.proxy, 'CONNECT other.wild.test:443 HTTP/1.1\r\nHost: other.wild.test:443\r\n\r\n', 500);
    expect(sibling.text).toMatch(/^HTTP\/1\.1 200 Connection Established/);
    // The tunnel closed without a request: recorded once airlock sees the close.
    let flows = await rig.flowsAfter(mark);
    for (let i = 0; i < 40 && flows.length === 0; i++) flows = await rig.flowsAfter(mark);
    expect(flows.map((f) => [f.code, f.reason])).toEqual([['client_closed', 'CONNECT tunnel: the agent closed the connection before sending anything']]);
  });

  it('curl through the explicit proxy: the 403 JSON names the rule', async () => {
    const mark = await rig.mark();
    // https: curl sees the CONNECT refused with 403 (and reports it itself); the flow says why.
    const tunnel = await curl('-x', `http://127.0.0.1:${rig.ports.proxy}`, 'https://admin.wild.test/');
    expect(tunnel.code).not.toBe(0);
    expect(tunnel.stderr).toMatch(/403/);
    const plain = body((await curl('-x', `http://127.0.0.1:${rig.ports.proxy}`, 'http://admin.wild.test/')).stdout);
    expect(plain.status).toBe(403);
    expect(plain.json).toMatchObject({ error: 'host_denied_by_rule', rule: 'no-admin' });
    expect((await rig.flowsAfter(mark)).map((f) => [f.method, f.code, f.entry])).toEqual([
      ['CONNECT', 'host_denied_by_rule', 'explicit'],
      ['GET', 'host_denied_by_rule', 'explicit'],
    ]);
    rig.untouched();
  });

  it('transparent TLS: the SNI gets access_denied, no certificate, recorded with the rule', async () => {
    const mark = await rig.mark();
    const minted = rig.airlock.minter.stats.minted;
    const r = await raw(rig.ports.transparent, inRecords(clientHello({ sni: 'admin.wild.test' }), []), 2000);
    expect(r.text.startsWith('\x15')).toBe(true);
    expect(rig.airlock.minter.stats.minted).toBe(minted);
    const flows = await rig.flowsAfter(mark);
    expect(flows).toHaveLength(1);
    expect(flows[0]).toMatchObject({ decision: 'deny', code: 'host_denied_by_rule', host: 'admin.wild.test', entry: 'transparent' });
  });

  it('transparent plain HTTP routed by Host: 403 naming the rule', async () => {
    const mark = await rig.mark();
    const r = await raw(rig.ports.transparent, 'GET / HTTP/1.1\r\nHost: Admin.Wild.Test\r\nConnection: close\r\n\r\n');
    expect(r.status).toBe(403);
    expect(r.text).toMatch(/"error":"host_denied_by_rule"[\s\S]*"rule":"no-admin"/);
    expect((await rig.flowsAfter(mark))[0]).toMatchObject({ code: 'host_denied_by_rule', entry: 'transparent' });
  });
});

describe('a path denied on every host, however it is spelled, per request', () => {
  const SPELLINGS = ['/secret', '/secret/keys', '/SECRET', '/Secret/x', '/./secret', '//secret', '/x/../secret', '/%73ecret', '/%2573ecret', '/secret;v=1', '/v1/%2e%2e/secret'];

  it('explicit proxy, absolute-form HTTP', async () => {
    for (const p of SPELLINGS) {
      const mark = await rig.mark();
      const r = body((await curl('-x', `http://127.0.0.1:${rig.ports.proxy}`, `http://plain.test:${rig.plain.port}${p}`)).stdout);
      expect(r.status, p).toBe(403);
      expect(r.json, p).toMatchObject({ error: 'request_denied_by_rule', rule: 'no-secrets' });
      expect((await rig.flowsAfter(mark))[0], p).toMatchObject({ decision: 'deny', code: 'request_denied_by_rule' });
    }
    rig.untouched();
  });

  it('explicit proxy, inside a CONNECT tunnel (TLS, curl); the connection itself is allowed', async () => {
    const mark = await rig.mark();
    for (const p of SPELLINGS.slice(0, 5)) {
      const r = body((await curl('-x', `http://127.0.0.1:${rig.ports.proxy}`, `https://api.test${p}`)).stdout);
      expect(r.status, p).toBe(403);
      expect(r.json, p).toMatchObject({ error: 'request_denied_by_rule', rule: 'no-secrets' });
    }
    const ok = body((await curl('-x', `http://127.0.0.1:${rig.ports.proxy}`, 'https://api.test/echo')).stdout);
    expect(ok.status).toBe(200);
    const flows = await rig.flowsAfter(mark);
    expect(flows.map((f) => f.code)).toEqual(['request_denied_by_rule', 'request_denied_by_rule', 'request_denied_by_rule', 'request_denied_by_rule', 'request_denied_by_rule', null]);
  });

  it('transparent TLS (HTTP/1.1 on one keep-alive connection)', async () => {
    const t = await tlsTo(rig.ports.transparent, { servername: 'api.test', ca: rig.ca, ALPNProtocols: ['http/1.1'] });
    const before = rig.api.seen.length;
    t.socket!.write('GET /Secret/../secret HTTP/1.1\r\nHost: api.test\r\n\r\nGET /%73ecret HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n');
    const text = await new Promise<string>((r) => {
      let d = '';
      t.socket!.on('data', (c) => (d += c));
      t.socket!.on('close', () => r(d));
    });
    expect(text.match(/HTTP\/1\.1 403 /g)).toHaveLength(2);
    expect(rig.api.seen.length).toBe(before);
  });

  it('a base-URL route, over TCP and over a Unix socket', async () => {
    const mark = await rig.mark();
    for (const p of ['/secret/x', '/a/../SECRET']) {
      const tcp = body((await curl(`http://127.0.0.1:${rig.ports.route}${p}`)).stdout);
      expect(tcp.status, p).toBe(403);
      expect(tcp.json).toMatchObject({ error: 'request_denied_by_rule', rule: 'no-secrets' });
      const unix = body((await curl('--unix-socket', rig.routeSocket, `http://localhost${p}`)).stdout);
      expect(unix.status, p).toBe(403);
      expect(unix.json).toMatchObject({ error: 'request_denied_by_rule', rule: 'no-secrets' });
    }
    const ok = body((await curl('--unix-socket', rig.routeSocket, 'http://localhost/echo')).stdout);
    expect(ok.status).toBe(200);
    const flows = await rig.flowsAfter(mark);
    expect(flows.map((f) => [f.entry, f.code])).toEqual([
      ['route', 'request_denied_by_rule'],
      ['route', 'request_denied_by_rule'],
      ['route', 'request_denied_by_rule'],
      ['route', 'request_denied_by_rule'],
      ['route', null],
    ]);
  });
});

describe('a method denied on one host', () => {
  it('DELETE is refused on every path; other methods pass', async () => {
    const mark = await rig.mark();
    const del = body((await curl('-X', 'DELETE', `http://127.0.0.1:${rig.ports.route}/items/1`)).stdout);
    expect(del.status).toBe(403);
    expect(del.json).toMatchObject({ error: 'request_denied_by_rule', rule: 'no-deletes' });
    const get = body((await curl(`http://127.0.0.1:${rig.ports.route}/echo`)).stdout);
    expect(get.status).toBe(200);
    expect((await rig.flowsAfter(mark)).map((f) => f.code)).toEqual(['request_denied_by_rule', null]);
  });
});

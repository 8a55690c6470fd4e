// Entry-path details: WebSocket on every path, plain HTTP rules, upstream time-outs, and the
// entry path each flow is recorded under.
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestAirlock, tempDir, type TestAirlock } from '../helpers/airlock.ts';
import { makeUpstreamPki } from '../helpers/certs.ts';
import { parseResponse, rawExchange } from '../helpers/raw.ts';
import { run } from '../helpers/run.ts';
import { loopbackIp, startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const KEY = 'ws-path-secret-3141';
let api: TestUpstream;
let plain: TestUpstream;
let airlock: TestAirlock;

beforeAll(async () => {
  const dir = tempDir();
  const ips = { api: loopbackIp(), plain: loopbackIp() };
  const pki = makeUpstreamPki(path.join(dir, 'pki'), ['api.test']);
  api = await startUpstream({ tls: pki, host: ips.api, port: 443 });
  plain = await startUpstream({ host: ips.plain, port: 80 });
  airlock = await startTestAirlock(
    `
listen:
  proxy: 127.0.0.1:0
  transparent: 127.0.0.1:0
routes:
  - listen: 127.0.0.1:0
    upstream: https://api.test
upstream:
  ca_files: [${pki.caCert}]
  resolve: { api.test: ${ips.api}, plain.test: ${ips.plain} }
  response_timeout_ms: 500
hosts:
  - match: api.test
    ports: [443, 80]
    inject: { headers: { x-api-key: env:PATHS_KEY } }
  - match: plain.test
    plain_http: true
`,
    { PATHS_KEY: KEY },
    dir,
  );
});

afterAll(async () => {
  await airlock?.close();
  await api?.close();
  await plain?.close();
});

function echoOnce(ws: WebSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    ws.on('open', () => ws.send('hello'));
    ws.on('message', (m) => {
      resolve(String(m));
      ws.close();
    });
    ws.on('error', reject);
  });
}

describe('WebSocket on every entry path', () => {
  it('base-URL route: ws:// to airlock, wss:// upstream, key injected', async () => {
    const ws = new WebSocket(`ws://${airlock.addresses.routes[0].address}/socket?via=route`);
    expect(await echoOnce(ws)).toBe('echo: hello');
    expect(api.seen.find((s) => s.url === '/socket?via=route')?.headers['x-api-key']).toBe(KEY);
  });

  it('transparent: wss:// routed by SNI', async () => {
    const port = airlock.addresses.transparent!.port!;
    const ws = new WebSocket('wss://api.test/socket?via=transparent', {
      createConnection: () => tls.connect({ host: '127.0.0.1', port, servername: 'api.test', ca: airlock.caPem, ALPNProtocols: ['http/1.1'] }),
    });
    expect(await echoOnce(ws)).toBe('echo: hello');
    expect(api.seen.find((s) => s.url === '/socket?via=transparent')?.headers['x-api-key']).toBe(KEY);
  });

  it('a non-WebSocket upgrade (h2c) is refused', async () => {
    const res = parseResponse(
      await rawExchange(airlock.addresses.routes[0].port!, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n'),
    );
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error).toBe('bad_request');
  });
});

describe('plain HTTP', () => {
  it('inside a CONNECT tunnel is refused unless the rule allows plain HTTP', async () => {
    const before = api.seen.length;
    const res = parseResponse(
      (await rawExchange(airlock.addresses.proxy!.port!, 'CONNECT api.test:80 HTTP/1.1\r\nHost: api.test:80\r\n\r\nGET /echo HTTP/1.1\r\nHost: api.test\r\n\r\n', 1500))
        .split('\r\n\r\n')
        .slice(1)
        .join('\r\n\r\n'),
    );
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).error).toBe('plain_http_not_allowed');
    expect(api.seen.length).toBe(before);
  });

  it('is forwarded on every path when the rule allows it', async () => {
    const t = airlock.addresses.transparent!.port!;
    const viaProxy = await run('curl', ['-sS', '-x', airlock.proxyUrl, 'http://plain.test/echo?via=absolute']);
    expect(JSON.parse(viaProxy.stdout).url).toBe('/echo?via=absolute');
    const transparent = await run('curl', ['-sS', '--connect-to', `plain.test:80:127.0.0.1:${t}`, 'http://plain.test/echo?via=transparent']);
    expect(JSON.parse(transparent.stdout).url).toBe('/echo?via=transparent');
    const tunnel = await run('curl', ['-sS', '-p', '-x', airlock.proxyUrl, 'http://plain.test/echo?via=tunnel']);
    expect(JSON.parse(tunnel.stdout).url).toBe('/echo?via=tunnel');
  });
});

describe('upstream time-outs', () => {
  it('an upstream that never answers gives a 504 JSON and the flow is recorded', async () => {
    const r = await run('curl', ['-sS', '-w', '\n%{http_code}', '--cacert', airlock.caCertPath, '-x', airlock.proxyUrl, 'https://api.test/hang']);
    const [json, code] = r.stdout.split('\n');
    expect(code).toBe('504');
    expect(JSON.parse(json).error).toBe('upstream_timeout');
  });
});

describe('recording', () => {
  it('records each flow under the entry path it came through', async () => {
    await airlock.store.flush();
    const rows = airlock.store.db.prepare("SELECT entry, path, query, protocol, decision, code, status, error FROM flows WHERE host IS NOT NULL").all() as Record<string, unknown>[];
    const find = (q: string) => rows.find((r) => r.query === q);
    expect(find('via=route')).toMatchObject({ entry: 'route', protocol: 'ws', status: 101, decision: 'allow' });
    expect(find('via=transparent')).toMatchObject({ entry: 'transparent', protocol: 'ws', status: 101 });
    expect(find('via=absolute')).toMatchObject({ entry: 'explicit', protocol: 'h1', status: 200 });
    expect(rows.find((r) => r.path === '/hang')).toMatchObject({ decision: 'error', code: 'upstream_timeout', status: 504 });
  });
});

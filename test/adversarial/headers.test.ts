// Header names that alias. Many upstreams read "_" like "-" in header names (CGI, nginx's
// underscores_in_headers, Envoy's headers_with_underscores_action, frameworks): an agent header
// whose name differs from a framing, hop-by-hop, Proxy-* or injected header only by case or
// "_"/"-" must never reach the upstream beside the real one. Asserted on the bytes a raw TCP
// upstream received (a Node server would hide duplicates and spellings).
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, type Rig, SECRET, startRig, tlsTo } from './harness.ts';

let rig: Rig;
beforeAll(async () => {
  rig = await startRig();
  rig.raw.reply('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
});
afterAll(() => rig?.close());

const head = (extra: string, method = 'GET', body = '') =>
  `${method} http://raw.test:${rig.raw.port}/h HTTP/1.1\r\nHost: raw.test:${rig.raw.port}\r\n${extra}Connection: close\r\n\r\n${body}`;

/** The request head the raw upstream received on its newest connection, lines lower-cased by name. */
function received(before: number): string[] {
  const seen = rig.raw.seen().slice(before);
  expect(seen, 'exactly one upstream request').toHaveLength(1);
  return seen[0].split('\r\n\r\n')[0].split('\r\n').slice(1);
}
const named = (lines: string[], name: string) => lines.filter((l) => l.slice(0, l.indexOf(':')).toLowerCase() === name);

// [header line, what it aliases]
const ALIASES: [string, string][] = [
  ['Transfer_Encoding: chunked', 'transfer-encoding'],
  ['transfer_encoding: chunked', 'transfer-encoding'],
  ['Content_Length: 5', 'content-length'],
  ['CONTENT_LENGTH: 0', 'content-length'],
  ['Keep_Alive: timeout=5', 'keep-alive'],
  ['Proxy_Authorization: Basic YWxpY2U6eA==', 'proxy-authorization'],
  ['Proxy_Connection: keep-alive', 'proxy-connection'],
  ['X_Raw_Key: agent-chosen-key', 'x-raw-key'],
  ['x_raw_key: agent-chosen-key', 'x-raw-key'],
  ['X_RAW-KEY: agent-chosen-key', 'x-raw-key'],
];

describe('a name that aliases a framing, hop-by-hop or injected header is refused, never forwarded', () => {
  for (const [line, alias] of ALIASES) {
    it(`${line} (reads as ${alias})`, async () => {
      const mark = await rig.mark();
      const before = rig.raw.seen().length;
      const r = await raw(rig.ports.proxy, head(`${line}\r\n`));
      expect(r.status, r.text).toBe(400);
      expect(r.text).toMatch(/"error":"header_alias"/);
      expect(r.closed).toBe(true);
      expect(rig.raw.seen().length, 'the upstream was reached').toBe(before);
      const flows = await rig.flowsAfter(mark);
      expect(flows).toHaveLength(1);
      expect(flows[0]).toMatchObject({ decision: 'refuse', code: 'header_alias', status: 400, host: 'raw.test' });
      expect(flows[0].reason).toContain(JSON.stringify(alias));
      await rig.stillServes();
    });
  }

  it('a POST whose body framing an alias would change: nothing of it is forwarded, and the bytes behind it are not read as a request', async () => {
    const before = rig.raw.seen().length;
    const smuggled = `GET http://canary.test/ HTTP/1.1\r\nHost: canary.test\r\n\r\n`;
    // Keep-alive: without the refusal, the bytes after the 5-byte body would be read as the next request.
    const r = await raw(
      rig.ports.proxy,
      `POST http://raw.test:${rig.raw.port}/h HTTP/1.1\r\nHost: raw.test:${rig.raw.port}\r\nContent-Length: 5\r\nTransfer_Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    );
    expect(r.status).toBe(400);
    expect(r.text.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(rig.raw.seen().length).toBe(before);
    rig.untouched();
  });

  it('the same on HTTP/2 (transparent TLS) and on a base-URL route, for the injected x-api-key', async () => {
    const mark = await rig.mark();
    const session = http2.connect(`https://127.0.0.1:${rig.ports.transparent}`, { servername: 'api.test', ca: rig.ca });
    const get = (headers: http2.OutgoingHttpHeaders) =>
      new Promise<number>((resolve, reject) => {
        const s = session.request({ ':method': 'GET', ':path': '/echo', ':authority': 'api.test', ...headers });
        s.on('response', (h) => resolve(Number(h[':status'])));
        s.on('error', reject);
        s.resume();
        s.end();
      });
    expect(await get({ x_api_key: 'agent-chosen-key' })).toBe(400);
    expect(await get({ transfer_encoding: 'chunked' })).toBe(400);
    session.close();
    const r = await raw(rig.ports.route, 'GET /echo HTTP/1.1\r\nHost: api.test\r\nX_Api_Key: agent-chosen-key\r\nConnection: close\r\n\r\n');
    expect(r.status).toBe(400);
    const flows = await rig.flowsAfter(mark);
    expect(flows.map((f) => [f.entry, f.protocol, f.code])).toEqual([
      ['transparent', 'h2', 'header_alias'],
      ['transparent', 'h2', 'header_alias'],
      ['route', 'h1', 'header_alias'],
    ]);
    rig.untouched();
  });

  it('a WebSocket upgrade carrying an alias is refused before the upstream sees it', async () => {
    const before = rig.raw.seen().length;
    const r = await raw(
      rig.ports.proxy,
      `GET http://raw.test:${rig.raw.port}/ws HTTP/1.1\r\nHost: raw.test:${rig.raw.port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX_Raw_Key: k\r\n\r\n`,
    );
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/header_alias/);
    expect(rig.raw.seen().length).toBe(before);
  });
});

describe('names that differ only by case are the same header', () => {
  it('the injected header in any case: the upstream gets exactly one, with airlock\'s value', async () => {
    for (const line of ['X-RAW-KEY: agent-chosen-key', 'x-Raw-Key: agent-chosen-key']) {
      const before = rig.raw.seen().length;
      const r = await raw(rig.ports.proxy, head(`${line}\r\n`));
      expect(r.status, r.text).toBe(200);
      const lines = received(before);
      expect(named(lines, 'x-raw-key'), line).toEqual([`x-raw-key: ${SECRET}`]);
      expect(lines.join('\n')).not.toContain('agent-chosen-key');
    }
  });

  it('framing headers in any case: the upstream gets airlock\'s framing only', async () => {
    const before = rig.raw.seen().length;
    const r = await raw(rig.ports.proxy, head('TRANSFER-ENCODING: chunked\r\n', 'POST', '5\r\nhello\r\n0\r\n\r\n'));
    expect(r.status, r.text).toBe(200);
    const lines = received(before);
    const framing = [...named(lines, 'transfer-encoding'), ...named(lines, 'content-length')];
    expect(framing, lines.join('\n')).toHaveLength(1);
    expect(lines.filter((l) => /^(transfer|content)[-_]/i.test(l) && !/^(transfer-encoding|content-length|content-type):/i.test(l))).toEqual([]);
  });
});

describe('other names with "_": limits.headers_with_underscores (default reject)', () => {
  it('X_Custom is refused with 400 header_underscore, recorded, the upstream untouched', async () => {
    const mark = await rig.mark();
    const before = rig.raw.seen().length;
    const r = await raw(rig.ports.proxy, head('X_Custom: 1\r\n'));
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/"error":"header_underscore"/);
    expect(rig.raw.seen().length).toBe(before);
    expect((await rig.flowsAfter(mark))[0]).toMatchObject({ code: 'header_underscore', decision: 'refuse' });
  });

  it('through TLS too', async () => {
    const t = await tlsTo(rig.ports.transparent, { servername: 'api.test', ca: rig.ca, ALPNProtocols: ['http/1.1'] });
    t.socket!.write('GET /echo HTTP/1.1\r\nHost: api.test\r\nX_Custom: 1\r\nConnection: close\r\n\r\n');
    const text = await new Promise<string>((r) => {
      let d = '';
      t.socket!.on('data', (c) => (d += c));
      t.socket!.on('close', () => r(d));
    });
    expect(text).toMatch(/^HTTP\/1\.1 400 [\s\S]*header_underscore/);
  });
});

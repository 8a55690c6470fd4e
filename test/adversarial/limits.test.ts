// Every limit of the policy's `limits:` section: the agent gets a clear answer, the hit is
// recorded as a flow with its code and reason, and airlock keeps serving.
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, type Rig, startRig, tlsTo, viaProxy } from './harness.ts';

let rig: Rig;
beforeAll(async () => {
  rig = await startRig();
});
afterAll(() => rig?.close());

const plainReq = (extra = '', path = '/echo') => `GET http://plain.test:${rig.plain.port}${path} HTTP/1.1\r\nHost: plain.test:${rig.plain.port}\r\n${extra}Connection: close\r\n\r\n`;

describe('sizes', () => {
  it('headers over limits.max_header_bytes: 431 headers_too_large', async () => {
    const mark = await rig.mark();
    const r = await raw(rig.ports.proxy, plainReq(`X-Big: ${'a'.repeat(9000)}\r\n`));
    expect(r.status).toBe(431);
    const flows = await rig.flowsAfter(mark);
    expect(flows[0]).toMatchObject({ code: 'headers_too_large', status: 431 });
    expect(flows[0].reason).toMatch(/limits\.max_header_bytes \(8192\)/);
    rig.untouched();
    await rig.stillServes();
  });

  it('more header fields than limits.max_headers: 431, never silently truncated', async () => {
    const mark = await rig.mark();
    const many = Array.from({ length: 45 }, (_, i) => `X-H${i}: ${i}\r\n`).join('');
    const r = await raw(rig.ports.proxy, plainReq(many));
    expect(r.status).toBe(431);
    expect((await rig.flowsAfter(mark))[0]).toMatchObject({ code: 'too_many_headers' });
    rig.untouched();
    const fine = await raw(rig.ports.proxy, plainReq(Array.from({ length: 30 }, (_, i) => `X-H${i}: ${i}\r\n`).join('')));
    expect(fine.status).toBe(200);
  });

  it('a URL over limits.max_url_bytes: 414 url_too_long', async () => {
    const mark = await rig.mark();
    const r = await raw(rig.ports.proxy, plainReq('', `/echo?q=${'a'.repeat(3000)}`));
    expect(r.status).toBe(414);
    expect((await rig.flowsAfter(mark))[0]).toMatchObject({ code: 'url_too_long', status: 414 });
    rig.untouched();
  });

  it('HTTP/2: a header list over the limit resets the stream; the connection and airlock go on', async () => {
    const session = http2.connect(`https://127.0.0.1:${rig.ports.transparent}`, { servername: 'api.test', ca: rig.ca });
    const big = await new Promise<string>((resolve) => {
      const s = session.request({ ':path': '/echo', ':authority': 'api.test', 'x-big': 'a'.repeat(20_000) });
      s.on('response', (h) => resolve(String(h[':status'])));
      s.on('error', (e) => resolve(`error ${(e as Error).message}`));
      s.on('close', () => resolve(`closed ${s.rstCode}`));
      s.end();
    });
    expect(big).not.toBe('200');
    const ok = http2.connect(`https://127.0.0.1:${rig.ports.transparent}`, { servername: 'api.test', ca: rig.ca });
    const status = await new Promise<number>((resolve, reject) => {
      const s = ok.request({ ':path': '/echo', ':authority': 'api.test' });
      s.on('response', (h) => resolve(Number(h[':status'])));
      s.on('error', reject);
      s.end();
    });
    expect(status).toBe(200);
    session.destroy();
    ok.close();
  });
});

describe('slow agents', () => {
  it('slowloris: headers dribbled slower than limits.header_timeout get 408 header_timeout (explicit, transparent, inside TLS)', async () => {
    const mark = await rig.mark();
    const slow = (connect: () => net.Socket) =>
      new Promise<string>((resolve) => {
        const s = connect();
        let out = '';
        const parts = ['GET /echo HTTP/1.1\r\n', 'Host: api.test\r\n', 'X-A: 1\r\n', 'X-B: 2\r\n', 'X-C: 3\r\n', 'X-D: 4\r\n'];
        let i = 0;
        const timer = setInterval(() => (i < parts.length ? s.write(parts[i++]) : undefined), 700);
        s.on('data', (c) => (out += c));
        s.on('error', () => {});
        s.on('close', () => {
          clearInterval(timer);
          resolve(out);
        });
      });
    const [a, b, c] = await Promise.all([
      slow(() => net.connect(rig.ports.proxy, '127.0.0.1')),
      slow(() => net.connect(rig.ports.transparent, '127.0.0.1')),
      slow(() => tls.connect({ port: rig.ports.transparent, host: '127.0.0.1', servername: 'api.test', ca: rig.ca, ALPNProtocols: ['http/1.1'] }) as unknown as net.Socket),
    ]);
    for (const out of [a, b, c]) expect(out).toMatch(/^HTTP\/1\.1 408[\s\S]*header_timeout/);
    const flows = await rig.flowsAfter(mark);
    expect(flows.filter((f) => f.code === 'header_timeout')).toHaveLength(3);
    expect(flows.find((f) => f.code === 'header_timeout')!.reason).toMatch(/limits\.header_timeout \(2s\)/);
    rig.untouched();
    await rig.stillServes();
  }, 30_000);

  it('a connection that never sends a byte is closed after limits.header_timeout and recorded', async () => {
    const mark = await rig.mark();
    const [p, t] = await Promise.all([raw(rig.ports.proxy, '', 8000), raw(rig.ports.transparent, '', 8000)]);
    expect(p.closed && t.closed).toBe(true);
    const flows = await rig.flowsAfter(mark);
    expect(flows.map((f) => f.code).sort()).toEqual(['header_timeout', 'header_timeout']);
  }, 20_000);

  it('a request body that stalls longer than limits.body_timeout: the request fails with request_body_timeout (408), recorded', async () => {
    const mark = await rig.mark();
    const s = net.connect(rig.ports.proxy, '127.0.0.1');
    s.write(`POST http://plain.test:${rig.plain.port}/upload HTTP/1.1\r\nHost: plain.test:${rig.plain.port}\r\nContent-Length: 100\r\n\r\n0123456789`);
    const out = await new Promise<string>((resolve) => {
      let d = '';
      s.on('data', (c) => (d += c));
      s.on('error', () => {});
      s.on('close', () => resolve(d));
    });
    expect(out === '' || /^HTTP\/1\.1 408/.test(out), out).toBe(true);
    const flows = await rig.flowsAfter(mark);
    const hit = flows.find((f) => f.code === 'request_body_timeout');
    expect(hit, JSON.stringify(flows)).toBeDefined();
    expect(hit).toMatchObject({ host: 'plain.test' });
    expect(hit!.error ?? hit!.reason).toMatch(/limits\.body_timeout/);
    await rig.stillServes();
  }, 20_000);

  it('an upload the upstream reads slowly is not a slow body: a large body still goes through', async () => {
    const body = 'x'.repeat(4 * 1024 * 1024);
    const r = await raw(rig.ports.proxy, `POST http://plain.test:${rig.plain.port}/upload HTTP/1.1\r\nHost: plain.test:${rig.plain.port}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`, 20_000);
    expect(r.status).toBe(200);
    expect(r.text).toContain(`"bodyBytes":${body.length}`);
  }, 30_000);
});

describe('per-client limits', () => {
  it('connections beyond limits.max_connections_per_client are closed and recorded; another client address is unaffected', async () => {
    const mark = await rig.mark();
    const sockets: net.Socket[] = [];
    for (let i = 0; i < 205; i++) {
      const s = net.connect({ port: rig.ports.transparent, host: '127.0.0.1', localAddress: '127.0.0.3' });
      s.on('error', () => {});
      sockets.push(s);
    }
    await new Promise((r) => setTimeout(r, 500));
    const other = await viaProxy(rig.ports.proxy, `http://plain.test:${rig.plain.port}/echo`, {}, '127.0.0.4');
    expect(other.status).toBe(200);
    const flows = await rig.flowsAfter(mark);
    const hits = flows.filter((f) => f.code === 'connection_limit');
    expect(hits.length).toBeGreaterThanOrEqual(5);
    expect(hits[0].reason).toMatch(/limits\.max_connections_per_client \(200\)/);
    for (const s of sockets) s.destroy();
  });

  it('new host names beyond limits.leaf_mints_per_minute get access_denied; names already minted still work', async () => {
    const mark = await rig.mark();
    const minted = rig.airlock.minter.stats.minted;
    const results: boolean[] = [];
    for (let i = 0; i < 50; i++) {
      const t = await tlsTo(rig.ports.transparent, { servername: `n${i}.wild.test`, ca: rig.ca, localAddress: '127.0.0.5' } as tls.ConnectionOptions);
      results.push(t.ok);
      t.socket?.destroy();
    }
    expect(results.filter(Boolean)).toHaveLength(40);
    expect(rig.airlock.minter.stats.minted - minted).toBe(40);
    const again = await tlsTo(rig.ports.transparent, { servername: 'n1.wild.test', ca: rig.ca, localAddress: '127.0.0.5' } as tls.ConnectionOptions);
    expect(again.ok).toBe(true);
    again.socket?.destroy();
    const fresh = await tlsTo(rig.ports.transparent, { servername: 'other.wild.test', ca: rig.ca, localAddress: '127.0.0.6' } as tls.ConnectionOptions);
    expect(fresh.ok).toBe(true);
    fresh.socket?.destroy();
    const flows = await rig.flowsAfter(mark);
    const hits = flows.filter((f) => f.code === 'leaf_mint_limit');
    expect(hits).toHaveLength(10);
    expect(hits[0].reason).toMatch(/limits\.leaf_mints_per_minute \(40\)/);
  });
});

describe('HTTP/2', () => {
  it('SETTINGS advertise limits.h2_max_concurrent_streams; streams beyond it are refused, airlock goes on', async () => {
    const session = http2.connect(`https://127.0.0.1:${rig.ports.transparent}`, { servername: 'api.test', ca: rig.ca, peerMaxConcurrentStreams: 1000 });
    await new Promise<void>((r) => session.once('remoteSettings', () => r()));
    expect(session.remoteSettings.maxConcurrentStreams).toBe(20);
    const results = await Promise.all(
      Array.from({ length: 40 }, () =>
        new Promise<string>((resolve) => {
          const s = session.request({ ':path': '/slow?ms=300', ':authority': 'api.test' });
          s.on('response', (h) => resolve(String(h[':status'])));
          s.on('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? 'error'));
          s.end();
        }),
      ),
    );
    // Node's client queues streams beyond the peer's limit; none is lost, none is a tunnel.
    expect(results.every((r) => r === '200' || /REFUSED|ERR_HTTP2/.test(r))).toBe(true);
    session.close();
    await rig.stillServes();
  });

  it('a CONTINUATION flood (a header block that never ends) is cut off; airlock keeps serving', async () => {
    const t = await tlsTo(rig.ports.transparent, { servername: 'api.test', ca: rig.ca, ALPNProtocols: ['h2'] });
    expect(t.alpn).toBe('h2');
    const s = t.socket!;
    const frame = (type: number, flags: number, stream: number, payload: Buffer) => {
      const h = Buffer.alloc(9);
      h.writeUIntBE(payload.length, 0, 3);
      h[3] = type;
      h[4] = flags;
      h.writeUInt32BE(stream, 5);
      return Buffer.concat([h, payload]);
    };
    s.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    s.write(frame(4, 0, 0, Buffer.alloc(0))); // SETTINGS
    // HEADERS without END_HEADERS (literal header fields, never indexed), then endless CONTINUATION.
    const literal = (name: string, value: string) => Buffer.concat([Buffer.from([0x10, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
    s.write(frame(1, 0x4 ^ 0x4, 1, Buffer.concat([Buffer.from([0x82, 0x84, 0x87]), literal(':authority', 'api.test')])));
    let closed = false;
    s.on('close', () => (closed = true));
    s.on('error', () => {});
    const chunk = literal('x-flood', 'a'.repeat(100));
    for (let i = 0; i < 2000 && !closed; i++) {
      s.write(frame(9, 0, 1, chunk));
      if (i % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 500));
    expect(closed).toBe(true);
    await rig.stillServes();
  });
});

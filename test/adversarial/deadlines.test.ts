// Slow and padded request bodies (policy `limits:`): a body trickled a byte a second is cut by the
// minimum rate, a body that keeps the rate but never ends by the total deadline, and chunk
// extensions are bounded per request, not only per chunk. Each is answered (408 or 400),
// recorded with its code, and airlock keeps serving; honest slow bodies still go through.
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../helpers/run.ts';
import { type Rig, startRig, tlsTo } from './harness.ts';

let rig: Rig;
beforeAll(async () => {
  rig = await startRig(
    '',
    `  request_timeout: 6s
  min_body_rate: 1KiB
  min_body_rate_window: 1s
  max_chunk_extension_bytes: 4KiB
`,
  );
  const fs = await import('node:fs');
  fs.writeFileSync(`${rig.dir}/agent-ca.pem`, rig.ca);
  fs.writeFileSync(`${rig.dir}/body-100`, 'x'.repeat(100));
});
afterAll(() => rig?.close());

/** Writes `parts` with `gapMs` between them on `socket`; resolves with everything read until close. */
function dribble(socket: net.Socket | tls.TLSSocket, parts: (string | Buffer)[], gapMs: number): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    let i = 0;
    const timer = setInterval(() => {
      if (i >= parts.length || socket.destroyed) return clearInterval(timer);
      socket.write(parts[i++]);
    }, gapMs);
    socket.on('data', (c) => (text += c.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(timer);
      resolve(text);
    });
  });
}

const upload = (len: number, extra = '') => `POST http://plain.test:${rig.plain.port}/upload HTTP/1.1\r\nHost: plain.test:${rig.plain.port}\r\n${extra}Content-Length: ${len}\r\n\r\n`;

describe('limits.min_body_rate', () => {
  it('curl sending its body at 1 byte per second (through TLS) is cut with 408 request_body_too_slow, recorded', async () => {
    const mark = await rig.mark();
    const r = await run('curl', [
      '-sS', '--cacert', `${rig.dir}/agent-ca.pem`, '-x', `http://127.0.0.1:${rig.ports.proxy}`, '--limit-rate', '1', '-w', '\n%{http_code}',
      '-H', 'content-type: application/octet-stream', '--data-binary', `@${rig.dir}/body-100`, 'https://api.test/upload',
    ]);
    const out = r.stdout.trim().split('\n');
    expect(out[out.length - 1], r.stdout + r.stderr).toBe('408');
    expect(JSON.parse(out[0])).toMatchObject({ error: 'request_body_too_slow', host: 'api.test' });
    const hit = (await rig.flowsAfter(mark)).find((f) => f.code === 'request_body_too_slow');
    expect(hit).toMatchObject({ decision: 'refuse', status: 408, host: 'api.test', method: 'POST' });
    expect(hit!.error ?? hit!.reason).toMatch(/limits\.min_body_rate/);
    await rig.stillServes();
  }, 20_000);

  it('a byte a second on the explicit proxy (plain HTTP) and on HTTP/2: the same', async () => {
    const mark = await rig.mark();
    const s = net.connect(rig.ports.proxy, '127.0.0.1');
    const text = await dribble(s, [upload(100), ...'x'.repeat(100)], 1000);
    expect(text).toMatch(/^HTTP\/1\.1 408 [\s\S]*request_body_too_slow/);

    const session = http2.connect(`https://127.0.0.1:${rig.ports.transparent}`, { servername: 'api.test', ca: rig.ca });
    const stream = session.request({ ':method': 'POST', ':path': '/upload', ':authority': 'api.test', 'content-length': '100' });
    const status = await new Promise<number>((resolve) => {
      let i = 0;
      const timer = setInterval(() => (i++ < 100 && !stream.destroyed ? stream.write('x') : clearInterval(timer)), 1000);
      stream.on('response', (h) => {
        clearInterval(timer);
        resolve(Number(h[':status']));
      });
      stream.on('error', () => {});
    });
    expect(status).toBe(408);
    stream.close();
    session.close();
    const codes = (await rig.flowsAfter(mark)).map((f) => [f.protocol, f.code]);
    expect(codes).toContainEqual(['h1', 'request_body_too_slow']);
    expect(codes).toContainEqual(['h2', 'request_body_too_slow']);
    await rig.stillServes();
  }, 20_000);

  it('an honest slow body (40 KiB/s, about 3 s) goes through', async () => {
    const s = net.connect(rig.ports.proxy, '127.0.0.1');
    // 8 KiB a step: even a window that sees a single step (a stalled test process) has enough.
    const parts = [upload(120 * 1024, 'Connection: close\r\n'), ...Array.from({ length: 15 }, () => 'y'.repeat(8192))];
    const text = await dribble(s, parts, 200);
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(text).toContain(`"bodyBytes":${120 * 1024}`);
  }, 20_000);
});

describe('limits.request_timeout', () => {
  it('a body that keeps the minimum rate but would take 16 s is cut at the 6 s deadline: 408 request_timeout, recorded', async () => {
    const mark = await rig.mark();
    const s = net.connect(rig.ports.proxy, '127.0.0.1');
    const started = Date.now();
    // 64 KiB/s, far above the minimum rate (and past DLP's first scan window within a second).
    const parts = [upload(1024 * 1024), ...Array.from({ length: 64 }, () => 'z'.repeat(16 * 1024))];
    const text = await dribble(s, parts, 250);
    expect(text).toMatch(/^HTTP\/1\.1 408 [\s\S]*request_timeout/);
    expect(Date.now() - started).toBeLessThan(15_000); // cut, not completed
    const hit = (await rig.flowsAfter(mark)).find((f) => f.code === 'request_timeout');
    expect(hit).toMatchObject({ decision: 'refuse', status: 408, host: 'plain.test' });
    expect(hit!.error ?? hit!.reason).toMatch(/limits\.request_timeout/);
    await rig.stillServes();
  }, 30_000);
});

describe('limits.max_chunk_extension_bytes: in total per request, not only per chunk', () => {
  const chunkedHead = (extra = '') => `POST http://plain.test:${rig.plain.port}/upload HTTP/1.1\r\nHost: plain.test:${rig.plain.port}\r\n${extra}Transfer-Encoding: chunked\r\n\r\n`;
  // Each chunk's extension is far under Node's own 16 KiB per-chunk bound; together they are not.
  const padded = Array.from({ length: 12 }, () => `1;pad=${'p'.repeat(1000)}\r\nq\r\n`);

  it('plain HTTP: 400 chunk_extensions_too_large, recorded, the connection closed', async () => {
    const mark = await rig.mark();
    const s = net.connect(rig.ports.proxy, '127.0.0.1');
    const text = await dribble(s, [chunkedHead(), ...padded, '0\r\n\r\n'], 30);
    expect(text).toMatch(/^HTTP\/1\.1 400 [\s\S]*chunk_extensions_too_large/);
    const hit = (await rig.flowsAfter(mark)).find((f) => f.code === 'chunk_extensions_too_large');
    expect(hit).toMatchObject({ decision: 'refuse', status: 400, host: 'plain.test' });
    await rig.stillServes();
  });

  it('HTTP/1.1 over TLS: the same', async () => {
    const t = await tlsTo(rig.ports.transparent, { servername: 'api.test', ca: rig.ca, ALPNProtocols: ['http/1.1'] });
    const text = await dribble(t.socket!, ['POST /upload HTTP/1.1\r\nHost: api.test\r\nTransfer-Encoding: chunked\r\n\r\n', ...padded, '0\r\n\r\n'], 30);
    expect(text).toMatch(/^HTTP\/1\.1 400 [\s\S]*chunk_extensions_too_large/);
  });

  it('chunked bodies without extensions, or with a few small ones, go through whatever their chunk sizes', async () => {
    const tiny = Array.from({ length: 3000 }, () => '1\r\nb\r\n').join('');
    const s1 = net.connect(rig.ports.proxy, '127.0.0.1');
    expect(await dribble(s1, [chunkedHead('Connection: close\r\n'), tiny, '0\r\n\r\n'], 20)).toMatch(/^HTTP\/1\.1 200 [\s\S]*"bodyBytes":3000/);
    const s2 = net.connect(rig.ports.proxy, '127.0.0.1');
    const small = Array.from({ length: 20 }, (_, i) => `400;name=v${i}\r\n${'c'.repeat(1024)}\r\n`);
    expect(await dribble(s2, [chunkedHead('Connection: close\r\n'), ...small, '0\r\n\r\n'], 20)).toMatch(/^HTTP\/1\.1 200 [\s\S]*"bodyBytes":20480/);
  });
});

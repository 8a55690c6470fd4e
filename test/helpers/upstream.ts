// A real HTTPS (or HTTP) upstream on loopback that records what reached it.
import crypto from 'node:crypto';
import path from 'node:path';
import { makeUpstreamPki, type UpstreamPki } from './certs.ts';
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { WebSocketServer } from 'ws';

export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  bodyBytes: number;
}

export interface TestUpstream {
  port: number;
  seen: Seen[];
  close(): Promise<void>;
}

/**
 * Endpoints: /echo (JSON of the request), /bytes?n=N (N bytes "a" streamed), /random?n=N (N random
 * bytes), /upload (counts the body),
 * /redirect (302 elsewhere), /hang (never answers), /slow?ms=N (answers after N ms), /echo-headers (reflects request headers into response headers),
 * /gzip and /br (the /echo JSON, compressed with that Content-Encoding),
 * /git/... (git smart HTTP via git http-backend, when gitRoot is given), and a WebSocket echo (an upgrade
 * to /ws-refuse is refused with 403).
 * /reverse (the request body reversed, text/plain), POST /v1/messages (a streamed Anthropic
 * Messages response, ANTHROPIC_SSE, sent one event at a time).
 */
export async function startUpstream(
  opts: { tls?: { cert: string; key: string }; gitRoot?: string; host?: string; port?: number } = {},
): Promise<TestUpstream> {
  const seen: Seen[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const entry: Seen = { method: req.method!, url: req.url!, headers: req.headers, bodyBytes: 0 };
    seen.push(entry);
    const url = new URL(req.url!, 'http://x');
    if (url.pathname.startsWith('/git/') && opts.gitRoot) return gitBackend(req, res, opts.gitRoot, url, entry);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      entry.bodyBytes += c.length;
      if (url.pathname === '/reverse') chunks.push(c);
    });
    req.on('end', () => {
      if (url.pathname === '/hang') return; // never answers: upstream timeout tests
      if (url.pathname === '/slow') {
        setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('slow done'), Number(url.searchParams.get('ms')));
        return;
      }
      if (url.pathname === '/reverse') {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        return res.end([...Buffer.concat(chunks).toString('utf8')].reverse().join(''));
      }
      if (url.pathname === '/v1/messages' && req.method === 'POST') return streamEvents(res, ANTHROPIC_SSE);
      if (url.pathname === '/bytes') return streamBytes(res, Number(url.searchParams.get('n')));
      if (url.pathname === '/random') return streamBytes(res, Number(url.searchParams.get('n')), true);
      if (url.pathname === '/redirect') {
        res.writeHead(302, { location: 'https://elsewhere.test/' });
        return res.end();
      }
      if (url.pathname === '/echo-headers') {
        const reflected: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k.startsWith('x-')) reflected[`echo-${k}`] = v;
        res.writeHead(200, reflected);
        return res.end('ok');
      }
      const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bodyBytes: entry.bodyBytes });
      if (url.pathname === '/gzip' || url.pathname === '/br') {
        const packed = url.pathname === '/gzip' ? zlib.gzipSync(body) : zlib.brotliCompressSync(body);
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': url.pathname.slice(1) });
        return res.end(packed);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
  };
  const server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, handler) : http.createServer(handler);
  // /ws-refuse: the upgrade is refused with 403 and a body (an upstream that does not want WebSocket there).
  const wss = new WebSocketServer({
    server,
    verifyClient: (info, done) => (info.req.url?.startsWith('/ws-refuse') ? done(false, 403, 'no websocket here') : done(true)),
  });
  wss.on('connection', (ws, req) => {
    seen.push({ method: 'WS', url: req.url!, headers: req.headers, bodyBytes: 0 });
    ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo: ${data}`));
  });
  await new Promise<void>((r) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise((r) => {
        wss.close();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A streamed Anthropic Messages response that ends in a tool call (the API's documented event shapes). */
export const ANTHROPIC_SSE = [
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5-20250929","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2}}}\n\n',
  'event: ping\ndata: {"type": "ping"}\n\n',
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me check the weather."}}\n\n',
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
  'event: content_block_start\ndata: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"location\\": \\"Paris\\"}"}}\n\n',
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":1}\n\n',
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}\n\n',
  'event: message_stop\ndata: {"type":"message_stop"}\n\n',
];

function streamEvents(res: http.ServerResponse, events: string[]): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  let i = 0;
  const next = () => {
    if (i === events.length) return void res.end();
    res.write(events[i++]);
    setTimeout(next, 2);
  };
  next();
}

/** n bytes of "a", or with `random` bytes no store can share or compress (to fill a disk). */
function streamBytes(res: http.ServerResponse, n: number, random = false): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let left = n;
  const pump = () => {
    while (left > 0) {
      const c = random ? crypto.randomBytes(Math.min(left, chunk.length)) : left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= c.length;
      if (!res.write(c)) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}

/** git's smart HTTP protocol through the real git-http-backend CGI program. */
export function gitBackend(req: http.IncomingMessage, res: http.ServerResponse, root: string, url: URL, entry: Seen): void {
  const cgi = spawn('git', ['http-backend'], {
    env: {
      ...process.env,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: url.pathname.slice('/git'.length),
      QUERY_STRING: url.search.slice(1),
      REQUEST_METHOD: req.method!,
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      REMOTE_ADDR: '127.0.0.1',
    },
  });
  req.on('data', (c: Buffer) => (entry.bodyBytes += c.length));
  req.pipe(cgi.stdin);
  relayCgi(cgi.stdout, res);
}

/** A CGI program's output as an HTTP answer: its header block (with "Status:"), then the body as it comes. */
export function relayCgi(out: NodeJS.ReadableStream, res: http.ServerResponse): void {
  let buf = Buffer.alloc(0);
  let headersDone = false;
  out.on('data', (c: Buffer) => {
    if (headersDone) return void res.write(c);
    buf = Buffer.concat([buf, c]);
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    headersDone = true;
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of buf.subarray(0, end).toString().split('\r\n')) {
      const i = line.indexOf(':');
      const k = line.slice(0, i).trim().toLowerCase();
      const v = line.slice(i + 1).trim();
      if (k === 'status') status = parseInt(v, 10);
      else headers[k] = v;
    }
    res.writeHead(status, headers);
    res.write(buf.subarray(end + 4));
  });
  out.on('end', () => res.end());
}

/** A random loopback address, so each test's upstream can own :443 and :80 without clashes. */
export function loopbackIp(): string {
  const r = () => 1 + Math.floor(Math.random() * 250);
  return `127.${r()}.${r()}.${r()}`;
}

/** The usual fixture: a TLS upstream for `names` on :443 of its own loopback address, signed by a fresh test CA. */
export async function startTlsUpstream(dir: string, names: string[]): Promise<{ ip: string; pki: UpstreamPki; up: TestUpstream }> {
  const ip = loopbackIp();
  const pki = makeUpstreamPki(path.join(dir, 'pki'), names);
  return { ip, pki, up: await startUpstream({ tls: pki, host: ip, port: 443 }) };
}

// Secrets against a compromised agent and a reflecting upstream (issue 12, items 1, 2, 4):
// - at rest: a secret that DLP found (blocked on a header or the URL, or in a request refused
//   for another reason) is in no byte of the data dir, the exports, the UI API, the log or /metrics;
// - read-back: an upstream that echoes the injected key in every encoding docs/security.md lists,
//   in headers and bodies, plain or compressed, in pieces, or in Range windows, never lets the
//   agent (or the store) hold it, judged by an independent decoder (encodings.ts);
// - placeholders: another rule's placeholder anywhere in a request (URL, header, body, compressed
//   body, HTTP/2, WebSocket message) is refused before any byte of it leaves, and recorded.
// Real clients (curl, python3, Node fetch), real TLS upstreams, a real SQLite store.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { ProxyAgent, WebSocket, fetch } from 'undici';
import { WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFlows } from '../../proxy/cli/flows.ts';
import { startTestAirlock, tempDir, type TestAirlock } from '../helpers/airlock.ts';
import { makeUpstreamPki } from '../helpers/certs.ts';
import { run } from '../helpers/run.ts';
import { loopbackIp } from '../helpers/upstream.ts';
import { ECHO_ENCODINGS, holdsSecret } from '../../bench/echo-encodings.ts';
import { raw } from './harness.ts';

const TOKEN = 'sk-echo-REAL-7c1e9b3f5a2d4e60c8b1';
const INJECTED = `Bearer ${TOKEN}`;
const PLACEHOLDER = 'airlock-placeholder-echo';
// Secrets an agent sends (DLP findings): block, block, block, log, log.
const GHP = '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';
const AWS = 'AKIAQYLPMN5HHHFPZAM2';
const SLACK = 'xoxb-300538256625-4168513559044-EjiLihue6dRH29bqddIvmMvt';
const EMAIL = 'jane.doe+billing@acme-corp.co.uk';
const AGENT_SECRETS = [GHP, AWS, SLACK, EMAIL];

let dir: string;
let airlock: TestAirlock;
let tlsServer: https.Server;
let plainServer: http.Server;
let plainPort: number;
/** What the upstreams received: path, headers, body bytes. */
const seen: { host: string; url: string; headers: http.IncomingHttpHeaders; body: Buffer }[] = [];
const wsSeen: Buffer[] = [];
let stdout = '';
const writeOut = process.stdout.write.bind(process.stdout);

beforeAll(async () => {
  dir = tempDir('airlock-secrets-');
  const ip = loopbackIp();
  const pki = makeUpstreamPki(path.join(dir, 'pki'), ['echo.test', 'ranged.test', 'mirror.test']);
  tlsServer = https.createServer({ cert: pki.cert, key: pki.key }, reflect);
  plainServer = http.createServer(reflect);
  new WebSocketServer({ server: plainServer }).on('connection', (ws) => ws.on('message', (m: Buffer) => wsSeen.push(Buffer.from(m))));
  // A WebSocket upstream that sends back the Authorization of its handshake in every encoding, then
  // closes with the token as its reason.
  new WebSocketServer({ server: tlsServer }).on('connection', (ws, req) => {
    const got = String(req.headers.authorization ?? '');
    for (const [, enc] of ECHO_ENCODINGS) ws.send(`echo: ${enc(got)}`);
    ws.close(4000, got.replace(/^Bearer /, ''));
  });
  await new Promise<void>((r) => tlsServer.listen(443, ip, r));
  await new Promise<void>((r) => plainServer.listen(0, '127.0.0.1', r));
  plainPort = (plainServer.address() as AddressInfo).port;
  // Every flow line the airlock logs is kept (not printed): no secret may be in it.
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('latin1');
    return true;
  }) as typeof process.stdout.write;
  airlock = await startTestAirlock(
    `
listen:
  proxy: 127.0.0.1:0
  admin: 127.0.0.1:0
  ui: 127.0.0.1:0
upstream:
  ca_files: [${pki.caCert}]
  resolve: { echo.test: ${ip}, ranged.test: ${ip}, mirror.test: ${ip}, other.test: 127.0.0.1, nodlp.test: 127.0.0.1 }
dlp:
  exceptions:
    - hosts: [nodlp.test]
      rules: ['*']
hosts:
  - name: echo
    match: echo.test
    inject: { headers: { authorization: env:SECRETS_TEST_KEY } }
    placeholder: ${PLACEHOLDER}
  - name: ranged
    match: ranged.test
    allow_range: true
    inject: { headers: { authorization: env:SECRETS_TEST_KEY } }
  - name: mirror
    match: mirror.test
  - name: other
    match: other.test
    plain_http: true
    ports: [${plainPort}]
  - name: nodlp
    match: nodlp.test
    plain_http: true
    ports: [${plainPort}]
log: { flows: true }
`,
    { SECRETS_TEST_KEY: INJECTED },
    dir,
  );
});

afterAll(async () => {
  process.stdout.write = writeOut;
  await airlock?.close();
  tlsServer?.closeAllConnections();
  tlsServer?.close();
  plainServer?.closeAllConnections();
  plainServer?.close();
});

/**
 * The reflecting upstream. /reflect?enc=N[&in=header][&coding=gzip|br|deflate][&split=1]: the
 * Authorization it received, encoded with ECHO_ENCODINGS[N], in the body (or a header), maybe
 * compressed, maybe in 7-byte writes. Honours Range (206 windows); /always-206 answers 206 to anything.
 */
function reflect(req: http.IncomingMessage, res: http.ServerResponse): void {
  // Recorded as the bytes arrive: a request airlock cuts off still shows what reached the upstream.
  const entry = { host: req.headers.host ?? '', url: req.url!, headers: req.headers, body: Buffer.alloc(0) };
  seen.push(entry);
  req.on('data', (c: Buffer) => (entry.body = Buffer.concat([entry.body, c])));
  req.on('error', () => {});
  req.on('end', () => {
    const url = new URL(req.url!, 'http://x');
    const got = String(req.headers.authorization ?? '');
    if (url.pathname === '/always-206') {
      res.writeHead(206, { 'content-range': 'bytes 0-6/100', 'content-type': 'text/plain' });
      return void res.end(got.slice(0, 7));
    }
    if (url.pathname !== '/reflect') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    const encoded = ECHO_ENCODINGS[Number(url.searchParams.get('enc') ?? 0)][1](got);
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'text/plain; charset=latin1' };
    if (url.searchParams.get('in') === 'header') {
      headers['x-echo'] = encoded;
      return void res.writeHead(200, headers).end('see header\n');
    }
    let body = Buffer.from(`echo: ${encoded}\nend\n`, 'latin1');
    const range = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ''));
    if (range) {
      const [a, b] = [Number(range[1]), Math.min(Number(range[2]), body.length - 1)];
      res.writeHead(206, { ...headers, 'content-range': `bytes ${a}-${b}/${body.length}` });
      return void res.end(body.subarray(a, b + 1));
    }
    const coding = url.searchParams.get('coding');
    if (coding) {
      headers['content-encoding'] = coding;
      body = coding === 'gzip' ? zlib.gzipSync(body) : coding === 'br' ? zlib.brotliCompressSync(body) : zlib.deflateSync(body);
    }
    res.writeHead(200, headers);
    if (!url.searchParams.get('split')) return void res.end(body);
    // The echo in 7-byte writes, each flushed on its own.
    let at = 0;
    const next = () => {
      if (at >= body.length) return void res.end();
      res.write(body.subarray(at, (at += 7)));
      setTimeout(next, 1);
    };
    next();
  });
}

const proxy = () => airlock.proxyUrl;
const curl = (...args: string[]) => run('curl', ['-sS', '--proxy', proxy(), '--cacert', airlock.caCertPath, ...args]);

async function flowsSince(id: number) {
  await new Promise((r) => setTimeout(r, 50));
  await airlock.store.flush();
  return airlock.store.db.prepare('SELECT * FROM flows WHERE id > ? ORDER BY id').all(id) as Record<string, unknown>[];
}

async function mark(): Promise<number> {
  await airlock.store.flush();
  return ((airlock.store.db.prepare('SELECT max(id) AS id FROM flows').get() as { id: number | null }).id ?? 0);
}

const findingsOf = (flowId: unknown) => airlock.store.db.prepare('SELECT rule_id, location, action, preview FROM findings WHERE flow_id = ?').all(flowId) as Record<string, string>[];

/** Whether a text holds any 10-character piece of an agent's secret (a masked preview shows at most 6). */
function holdsPieceOf(text: string, secret: string): boolean {
  for (let i = 0; i + 10 <= secret.length; i++) if (text.includes(secret.slice(i, i + 10))) return true;
  return false;
}

describe('secrets at rest: DLP findings are redacted in every stored copy, whatever stopped the request', () => {
  it('a header-blocked secret (curl): the 403 names the rule; the record keeps every header redacted, the ones after the block too', async () => {
    const m = await mark();
    const r = await curl('-w', '\n%{http_code}', '-H', `x-contact: ${EMAIL}`, '-H', `x-debug: ${GHP}`, '-H', `x-later: ${SLACK}`, `http://other.test:${plainPort}/h?q=${encodeURIComponent(EMAIL)}`);
    expect(r.stdout).toMatch(/"error":"dlp_blocked".*github-pat[\s\S]*403$/);
    const [f] = await flowsSince(m);
    expect(f).toMatchObject({ code: 'dlp_blocked', decision: 'deny' });
    const headers = JSON.parse(f.request_headers as string);
    expect(headers['x-debug']).toBe('[REDACTED:github-pat]');
    expect(headers['x-later']).toBe('[REDACTED:slack-bot-token]');
    expect(headers['x-contact']).toBe('[REDACTED:email-address]');
    expect(f.query).toBe('q=%5BREDACTED%3Aemail-address%5D');
    expect(findingsOf(f.id).map((x) => x.rule_id)).toEqual(expect.arrayContaining(['github-pat', 'email-address']));
  });

  it('a URL-blocked secret (python3): path and query are stored redacted', async () => {
    const m = await mark();
    const script = `
import urllib.request, sys
opener = urllib.request.build_opener(urllib.request.ProxyHandler({'http': sys.argv[1]}))
try:
    opener.open(sys.argv[2])
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
`;
    const r = await run('python3', ['-c', script, proxy(), `http://other.test:${plainPort}/v1/${AWS}/x?mail=${encodeURIComponent(EMAIL)}&k=${SLACK}`]);
    expect(r.stdout).toMatch(/^403 .*dlp_blocked/);
    const [f] = await flowsSince(m);
    expect(f).toMatchObject({ code: 'dlp_blocked', path: '/v1/%5BREDACTED%3Aaws-access-key-id%5D/x' });
    expect(f.query).toBe('mail=%5BREDACTED%3Aemail-address%5D&k=%5BREDACTED%3Aslack-bot-token%5D');
  });

  it('a secret in a path blocked through a CONNECT tunnel (Node fetch)', async () => {
    const m = await mark();
    const dispatcher = new ProxyAgent({ uri: proxy(), requestTls: { ca: airlock.caPem } });
    const res = await fetch(`https://mirror.test/upload/${GHP}`, { dispatcher, headers: { 'x-note': EMAIL } });
    expect(res.status).toBe(403);
    await res.text();
    const [f] = await flowsSince(m);
    expect(f).toMatchObject({ code: 'dlp_blocked', path: '/upload/%5BREDACTED%3Agithub-pat%5D' });
    expect(JSON.parse(f.request_headers as string)['x-note']).toBe('[REDACTED:email-address]');
    await dispatcher.close();
  });

  it('requests refused before DLP (a denied host, a malformed target, an odd Upgrade, the agent user) keep no secret either', async () => {
    const m = await mark();
    const denied = await curl('-w', '\n%{http_code}', '-H', `x-debug: ${GHP}`, `http://denied.test/a/${AWS}?t=${SLACK}`);
    expect(denied.stdout).toMatch(/host_not_allowed[\s\S]*403$/);
    const port = airlock.addresses.proxy!.port!;
    const frag = await raw(port, `GET http://other.test:${plainPort}/a?x=1#${AWS} HTTP/1.1\r\nHost: other.test:${plainPort}\r\n\r\n`);
    expect(frag.status).toBe(400);
    const upgrade = await raw(port, `GET http://other.test:${plainPort}/ HTTP/1.1\r\nHost: other.test:${plainPort}\r\nConnection: upgrade\r\nUpgrade: tls-${GHP}\r\n\r\n`);
    expect(upgrade.status).toBe(400);
    const user = Buffer.from(`${AWS}:pw`).toString('base64');
    const authed = await raw(port, `GET http://denied.test/ HTTP/1.1\r\nHost: denied.test\r\nProxy-Authorization: Basic ${user}\r\nConnection: close\r\n\r\n`);
    expect(authed.status).toBe(403);
    const flows = await flowsSince(m);
    expect(flows.map((f) => f.code)).toEqual(['host_not_allowed', 'bad_request', 'bad_request', 'host_not_allowed']);
    const text = JSON.stringify(flows);
    for (const s of AGENT_SECRETS) expect(holdsPieceOf(text, s), s).toBe(false);
    expect(flows[0]).toMatchObject({ path: '/a/%5BREDACTED%3Aaws-access-key-id%5D', query: 't=%5BREDACTED%3Aslack-bot-token%5D' });
    // DLP stops at the first block (as on an admitted request); everything after it is still stored redacted.
    expect(findingsOf(flows[0].id)).toEqual([expect.objectContaining({ rule_id: 'aws-access-key-id', action: 'block' })]);
    expect(JSON.parse(flows[0].request_headers as string)['x-debug']).toBe('[REDACTED:github-pat]');
    expect(flows[1].path).toContain('[REDACTED:aws-access-key-id]');
    expect(flows[2].reason).toContain('[REDACTED:github-pat]');
    expect(flows[3].agent_user).toBe('[REDACTED:aws-access-key-id]');
  });
});

describe('read-back: an echoing upstream never lets the agent hold the injected key', () => {
  it.each(ECHO_ENCODINGS.map(([name], i) => [name, i] as const))('in the body, %s (curl)', async (_name, i) => {
    const r = await run('curl', ['-sS', '--proxy', proxy(), '--cacert', airlock.caCertPath, '-D', '-', `https://echo.test/reflect?enc=${i}`]);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 200/);
    expect(holdsSecret(r.stdout, TOKEN)).toBe(false);
    expect(r.stdout).toMatch(/\[redacted:injected\]|\*{6}/);
  });

  it.each(ECHO_ENCODINGS.flatMap(([name, enc], i) => (/[\0-\x1f\x7f-\xff]/.test(enc(INJECTED)) ? [] : [[name, i] as const])))('in a response header, %s (curl)', async (_name, i) => {
    const r = await run('curl', ['-sS', '--proxy', proxy(), '--cacert', airlock.caCertPath, '-D', '-', '-o', '/dev/null', `https://echo.test/reflect?enc=${i}&in=header`]);
    expect(r.stdout).toMatch(/^x-echo: /m);
    expect(holdsSecret(r.stdout, TOKEN)).toBe(false);
  });

  it('compressed (gzip, br, deflate) and in 7-byte writes, every encoding (Node fetch)', async () => {
    const dispatcher = new ProxyAgent({ uri: proxy(), requestTls: { ca: airlock.caPem } });
    for (const coding of ['gzip', 'br', 'deflate', '']) {
      for (let i = 0; i < ECHO_ENCODINGS.length; i++) {
        const res = await fetch(`https://echo.test/reflect?enc=${i}&split=1${coding ? `&coding=${coding}` : ''}`, { dispatcher });
        const body = Buffer.from(await res.arrayBuffer()); // fetch decodes the Content-Encoding
        expect(res.status).toBe(200);
        expect(holdsSecret(body, TOKEN), `${ECHO_ENCODINGS[i][0]} ${coding}`).toBe(false);
        expect(body.toString('latin1')).toMatch(/^echo: [\s\S]*\nend\n$/);
      }
    }
    await dispatcher.close();
  });

  it('python3 (urllib, gzip decoded by hand) sees the same', async () => {
    const script = `
import urllib.request, ssl, sys, gzip
ctx = ssl.create_default_context(cafile=sys.argv[2])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({'https': sys.argv[1]}), urllib.request.HTTPSHandler(context=ctx))
for i in range(int(sys.argv[3])):
    body = opener.open('https://echo.test/reflect?coding=gzip&split=1&enc=%d' % i).read()
    sys.stdout.write(gzip.decompress(body).decode('latin1'))
`;
    const r = await run('python3', ['-c', script, proxy(), airlock.caCertPath, String(ECHO_ENCODINGS.length)]);
    expect(r.stderr).toBe('');
    expect(r.stdout.match(/^echo: /gm)).toHaveLength(ECHO_ENCODINGS.length);
    expect(holdsSecret(r.stdout, TOKEN)).toBe(false);
  });

  it('in WebSocket messages and a close reason from the upstream (undici WebSocket over wss)', async () => {
    const ws = new WebSocket('wss://echo.test/ws', { dispatcher: new ProxyAgent({ uri: proxy(), requestTls: { ca: airlock.caPem } }) });
    const got: string[] = [];
    ws.addEventListener('message', (e) => got.push(String(e.data)));
    const closed = await new Promise<{ code: number; reason: string }>((r) => ws.addEventListener('close', (e) => r({ code: e.code, reason: e.reason })));
    expect(got).toHaveLength(ECHO_ENCODINGS.length);
    expect(closed.code).toBe(4000);
    expect(closed.reason).toMatch(/^\[redacted:injected\]\**$/);
    expect(holdsSecret(got.join('\n'), TOKEN)).toBe(false);
  });

  it('Range windows: Range and If-Range are stripped on a rule that injects, so 8-byte windows cannot be joined into the key', async () => {
    const before = seen.length;
    let joined = '';
    for (const i of [0, 1, 4, 16]) {
      for (let a = 0; a < 120; a += 8) {
        const r = await curl('-H', `Range: bytes=${a}-${a + 7}`, '-H', 'If-Range: "x"', '-w', '\n%{http_code}', `https://echo.test/reflect?enc=${i}`);
        expect(r.stdout.endsWith('\n200')).toBe(true); // the whole (scrubbed) body, not a window
        joined += r.stdout.slice(0, -4);
      }
    }
    expect(holdsSecret(joined, TOKEN)).toBe(false);
    for (const s of seen.slice(before)) expect([s.headers.range, s.headers['if-range']]).toEqual([undefined, undefined]);
  });

  it('a 206 the agent did not get to ask for is refused (502 partial_response_refused) and recorded', async () => {
    const m = await mark();
    const r = await curl('-w', '\n%{http_code}', 'https://echo.test/always-206');
    expect(r.stdout).toMatch(/"error":"partial_response_refused"[\s\S]*502$/);
    expect(holdsSecret(r.stdout, TOKEN)).toBe(false);
    expect((await flowsSince(m))[0]).toMatchObject({ code: 'partial_response_refused', status: 502, decision: 'error' });
  });

  it('allow_range: true relays Range and 206 windows (the operator accepted pieces of echoes; docs/security.md)', async () => {
    const before = seen.length;
    const r = await curl('-H', 'Range: bytes=0-5', '-w', '\n%{http_code}', 'https://ranged.test/reflect?enc=3');
    expect(r.stdout).toBe('echo: \n206');
    expect(seen[before].headers.range).toBe('bytes=0-5');
  });
});

describe('placeholders: another rule’s placeholder is refused before any byte of it leaves', () => {
  const expectRefused = async (m: number, host: string) => {
    const [f] = await flowsSince(m);
    expect(f).toMatchObject({ code: 'placeholder_exfiltration', decision: 'deny', host, status: 403 });
    expect(f.reason).toBe(`a credential placeholder for echo.test was sent to ${host}`);
  };
  const received = (since: number) => Buffer.concat(seen.slice(since).map((s) => Buffer.concat([Buffer.from(s.url), s.body])));

  for (const host of ['other.test', 'nodlp.test']) {
    it(`in a body to ${host} (curl; DLP ${host === 'other.test' ? 'on' : 'off'})`, async () => {
      const [m, before] = [await mark(), seen.length];
      const r = await curl('-w', '\n%{http_code}', '--data-binary', `{"note":"use ${PLACEHOLDER} here"}`, `http://${host}:${plainPort}/post`);
      expect(r.stdout).toMatch(/placeholder_exfiltration[\s\S]*403$/);
      await expectRefused(m, host);
      expect(received(before).includes('airlock-pl')).toBe(false);
    });

    it(`in a gzip body to ${host}`, async () => {
      const [m, before] = [await mark(), seen.length];
      const file = path.join(dir, 'placeholder.gz');
      fs.writeFileSync(file, zlib.gzipSync(`${'filler '.repeat(5000)}${PLACEHOLDER}`));
      const r = await curl('-w', '\n%{http_code}', '-H', 'content-encoding: gzip', '--data-binary', `@${file}`, `http://${host}:${plainPort}/post`);
      expect(r.stdout).toMatch(/placeholder_exfiltration[\s\S]*403$/);
      await expectRefused(m, host);
      const got = Buffer.concat(seen.slice(before).map((s) => s.body));
      const plain = got.length ? zlib.gunzipSync(got, { finishFlush: zlib.constants.Z_SYNC_FLUSH }) : got;
      expect(plain.includes('airlock-pl')).toBe(false);
    });

    it(`split across writes after 100 KiB, to ${host} (Node http): the upstream gets none of it`, async () => {
      const [m, before] = [await mark(), seen.length];
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: airlock.addresses.proxy!.port, method: 'POST', path: `http://${host}:${plainPort}/post`, headers: { host: `${host}:${plainPort}`, 'transfer-encoding': 'chunked' } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
        req.write(Buffer.alloc(100 * 1024, 'a'));
        req.write(`x ${PLACEHOLDER.slice(0, 11)}`);
        setTimeout(() => req.end(`${PLACEHOLDER.slice(11)} y`), 100);
      });
      expect(status).toBe(403);
      await expectRefused(m, host);
      const got = received(before);
      expect(got.includes('airlock-p')).toBe(false);
      expect(got.includes(PLACEHOLDER.slice(0, 2))).toBe(false);
    });

    it(`percent-encoded in the URL, to ${host}`, async () => {
      const m = await mark();
      const r = await curl('-w', '\n%{http_code}', `http://${host}:${plainPort}/q?k=%61irlock%2Dplaceholder-echo`);
      expect(r.stdout).toMatch(/placeholder_exfiltration[\s\S]*403$/);
      await expectRefused(m, host);
    });

    it(`in a WebSocket message to ${host}: closed with 1008 before the message is relayed`, async () => {
      const m = await mark();
      const before = wsSeen.length;
      const ws = new WebSocket(`ws://${host}:${plainPort}/ws`, { dispatcher: new ProxyAgent(proxy()) });
      await new Promise((r, j) => {
        ws.addEventListener('open', r);
        ws.addEventListener('error', j);
      });
      ws.send('hello');
      ws.send(`my key is ${PLACEHOLDER}`);
      const code = await Promise.race([new Promise<number>((r) => ws.addEventListener('close', (e) => r(e.code))), new Promise<number>((r) => setTimeout(() => r(-1), 5000))]);
      ws.close();
      expect(code).toBe(1008);
      const f = (await flowsSince(m)).find((x) => x.host === host && x.protocol === 'ws');
      expect(f).toMatchObject({ code: 'placeholder_exfiltration', decision: 'deny' });
      expect(wsSeen.slice(before).map(String)).toEqual(['hello']);
    });
  }

  it('in an HTTP/2 request body (curl --http2), to a TLS host', async () => {
    const m = await mark();
    const r = await curl('--http2', '-w', '\n%{http_code} %{http_version}', '--data-binary', `k=${PLACEHOLDER}`, 'https://mirror.test/post');
    expect(r.stdout).toMatch(/placeholder_exfiltration[\s\S]*403 2$/);
    await expectRefused(m, 'mirror.test');
  });

  it('in a header or the path, on HTTP/2 too', async () => {
    const m = await mark();
    const a = await curl('--http2', '-w', '\n%{http_code}', '-H', `authorization: Bearer ${PLACEHOLDER}`, 'https://mirror.test/h');
    const b = await curl('--http2', '-w', '\n%{http_code}', `https://mirror.test/p/${PLACEHOLDER}`);
    expect([a.stdout.slice(-3), b.stdout.slice(-3)]).toEqual(['403', '403']);
    expect((await flowsSince(m)).map((f) => f.code)).toEqual(['placeholder_exfiltration', 'placeholder_exfiltration']);
  });

  it('in a body to its own host it is forwarded as it is, never swapped for the key', async () => {
    const before = seen.length;
    const r = await curl('--data-binary', `{"p":"${PLACEHOLDER}"}`, 'https://echo.test/post');
    expect(r.stdout).toBe('ok');
    expect(seen[before].body.toString()).toBe(`{"p":"${PLACEHOLDER}"}`);
    expect(seen[before].headers.authorization).toBe(INJECTED);
  });
});

describe('no byte of the data dir, of any export, of the log or of /metrics holds a secret', () => {
  it('grep every file of the data dir (SQLite, -wal, -shm), flows show/export, the UI API, stdout and /metrics', async () => {
    await airlock.store.flush();
    const texts: [string, string][] = [];
    const data = path.dirname(airlock.config.store.path);
    for (const f of fs.readdirSync(data, { recursive: true }) as string[]) {
      const p = path.join(data, f);
      if (fs.statSync(p).isFile()) texts.push([`data dir: ${f}`, fs.readFileSync(p).toString('latin1')]);
    }
    expect(texts.map(([n]) => n)).toEqual(expect.arrayContaining(['data dir: flows.sqlite', 'data dir: flows.sqlite-wal']));
    const db = airlock.config.store.path;
    const cli = async (...args: string[]) => {
      let out = '';
      await runFlows([...args, '--db', db], { out: (t) => void (out += t), err: (t) => void (out += t) });
      return out;
    };
    texts.push(['flows export jsonl', await cli('export', '--format', 'jsonl', '--limit', '10000')]);
    texts.push(['flows export har', await cli('export', '--format', 'har', '--limit', '10000')]);
    const ids = airlock.store.db.prepare('SELECT id FROM flows').pluck().all() as number[];
    expect(ids.length).toBeGreaterThan(0);
    let shown = '';
    for (const id of ids) shown += await cli('show', String(id));
    texts.push(['flows show', shown]);
    const ui = `http://${airlock.addresses.ui!.address}`;
    const auth = { authorization: `Bearer ${airlock.uiToken}` };
    for (const format of ['jsonl', 'har']) texts.push([`UI API export ${format}`, await (await fetch(`${ui}/api/export?format=${format}&limit=10000`, { headers: auth })).text()]);
    let api = '';
    for (const id of ids) api += await (await fetch(`${ui}/api/flows/${id}`, { headers: auth })).text();
    texts.push(['UI API flows', api]);
    await new Promise((r) => setTimeout(r, 20)); // the log is written once per tick
    texts.push(['stdout (flow log)', stdout]);
    texts.push(['/metrics', await (await fetch(`http://${airlock.addresses.admin!.address}/metrics`)).text()]);
    expect(stdout).toMatch(/"code":"dlp_blocked"/);
    for (const [where, text] of texts) {
      expect(holdsSecret(text, TOKEN), `${where} holds the injected key`).toBe(false);
      for (const s of AGENT_SECRETS) expect(holdsPieceOf(text, s), `${where} holds ${s.slice(0, 6)}…`).toBe(false);
    }
  });
});

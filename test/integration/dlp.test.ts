// DLP through the proxy with real clients (curl, Node fetch, python3): every encoding the issue
// names is caught before any byte of the secret reaches a real TLS upstream, and recorded.
import { bodiesOf } from '../../proxy/store/bodies.ts';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import Database from 'better-sqlite3';
import { ProxyAgent, WebSocket, fetch } from 'undici';
import { WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFlows } from '../../proxy/cli/flows.ts';
import { startTestAirlock, tempDir, type TestAirlock } from '../helpers/airlock.ts';
import { makeUpstreamPki } from '../helpers/certs.ts';
import { run } from '../helpers/run.ts';
import { loopbackIp } from '../helpers/upstream.ts';

const KEY = 'sk-live-injected-ECHO-7f3a9c2e5b1d4f60';
const AWS = 'AKIAQYLPMN5HHHFPZAM2';
const PEM = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const PEM_BODY = PEM.split('\n')[1]; // a line of the key material: must never arrive
const CARD = '4539 1488 0343 6467'; // Luhn-valid, not a documentation number

interface Received {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  complete: boolean;
}

let dir: string;
let airlock: TestAirlock;
let server: https.Server;
const received: Received[] = [];
const wsMessages: string[] = [];

beforeAll(async () => {
  dir = tempDir();
  const ip = loopbackIp();
  const pki = makeUpstreamPki(path.join(dir, 'pki'), ['api.test', 'docs.test']);
  // Keeps every byte it receives (these tests are about exactly which bytes arrive) and answers
  // /echo with the request's headers and body, as a hostile or careless upstream might.
  server = https.createServer({ cert: pki.cert, key: pki.key }, (req, res) => {
    const r: Received = { path: req.url!, headers: req.headers, body: Buffer.alloc(0), complete: false };
    received.push(r);
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('error', () => (r.body = Buffer.concat(parts)));
    req.on('close', () => (r.body = Buffer.concat(parts)));
    req.on('end', () => {
      r.body = Buffer.concat(parts);
      r.complete = true;
      const body = JSON.stringify({ headers: req.headers, body: r.body.toString('utf8').slice(0, 100_000), bytes: r.body.length, sha256: sha(r.body) });
      if (req.url === '/echo-gzip') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
        return res.end(zlib.gzipSync(body));
      }
      if (req.url === '/sse') {
        // An SSE stream whose second event carries a card number (response rules, event by event).
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('event: a\ndata: {"text":"hello"}\n\n');
        return void setTimeout(() => res.end(`event: b\ndata: {"card":"${CARD}"}\n\nevent: c\ndata: done\n\n`), 50);
      }
      if (req.url?.startsWith('/echo-split')) {
        // The key echoed across two writes, split inside the key.
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write(`key=${KEY.slice(0, 11)}`);
        return void setTimeout(() => res.end(`${KEY.slice(11)};`), 50);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  new WebSocketServer({ server }).on('connection', (ws) => {
    ws.on('message', (m) => {
      wsMessages.push(String(m));
      ws.send(`echo: ${m}`);
    });
  });
  await new Promise<void>((r) => server.listen(443, ip, r));
  airlock = await startTestAirlock(
    `
listen: { proxy: 127.0.0.1:0, admin: 127.0.0.1:0 }
upstream:
  ca_files: [${pki.caCert}]
  resolve: { api.test: ${ip}, docs.test: ${ip} }
hosts:
  - name: api
    match: api.test
    inject: { headers: { x-api-key: env:DLP_TEST_KEY } }
  - name: docs
    match: docs.test
dlp:
  exceptions:
    - hosts: [docs.test]
      paths: [/keys]
      rules: ['*']
      action: log
`,
    { DLP_TEST_KEY: KEY },
    dir,
  );
}, 120_000);

afterAll(async () => {
  await airlock?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

/** A second airlock for api.test with its own policy tail (dlp:, limits:), in its own data dir. */
function anotherAirlock(tail: string): Promise<TestAirlock> {
  return startTestAirlock(
    `listen: { proxy: 127.0.0.1:0 }
upstream:
  ca_files: [${path.join(dir, 'pki', 'ca.crt')}]
  resolve: { api.test: ${(server.address() as AddressInfo).address} }
hosts:
  - match: api.test
${tail}`,
    {},
    tempDir(),
  );
}

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

async function curl(url: string, args: string[]): Promise<{ status: number; body: string }> {
  const r = await run('curl', ['-sS', '--proxy', airlock.proxyUrl, '--cacert', airlock.caCertPath, '-o', '-', '-w', '\n%{http_code}', ...args, url]);
  const at = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(at + 1)), body: r.stdout.slice(0, at) };
}

/** The last flow to `path`, with its findings, once the writer has committed it. */
async function flowTo(p: string): Promise<{ code: string | null; decision: string; findings: { rule_id: string; location: string; action: string; preview: string }[] }> {
  await airlock.store.flush();
  const db = new Database(airlock.config.store.path, { readonly: true });
  try {
    const f = db.prepare('SELECT id, code, decision FROM flows WHERE path = ? ORDER BY id DESC LIMIT 1').get(p) as { id: number; code: string | null; decision: string };
    const findings = db.prepare('SELECT rule_id, location, action, preview FROM findings WHERE flow_id = ? ORDER BY id').all(f.id) as never[];
    return { ...f, findings };
  } finally {
    db.close();
  }
}

/** Everything any upstream request received so far, for "never arrived" checks. */
const allReceived = () => Buffer.concat(received.flatMap((r) => [Buffer.from(JSON.stringify(r.headers)), Buffer.from(r.path), r.body]));

async function expectBlocked(p: string, status: number, body: string, rule: RegExp, secretPiece: string) {
  expect(status, body).toBe(403);
  const answer = JSON.parse(body);
  expect(answer.error).toBe('dlp_blocked');
  expect(answer.rule).toMatch(rule);
  expect(body).not.toContain(secretPiece);
  const flow = await flowTo(p);
  expect(flow).toMatchObject({ decision: 'deny', code: 'dlp_blocked' });
  expect(flow.findings.some((f) => rule.test(f.rule_id) && f.action === 'block')).toBe(true);
  expect(JSON.stringify(flow.findings)).not.toContain(secretPiece);
  expect(allReceived().includes(secretPiece)).toBe(false);
}

const PEM_RULE = /private-key|pem/;
const AWS_RULE = /aws-access-key/;

describe('blocked before any byte of the secret leaves', () => {
  it('a PEM key in JSON, escaped (\\n)', async () => {
    const r = await curl('https://api.test/json-pem', ['-H', 'content-type: application/json', '--data-binary', JSON.stringify({ note: 'deploy', key: PEM })]);
    await expectBlocked('/json-pem', r.status, r.body, PEM_RULE, PEM_BODY);
  });

  it('a form field (URL-encoded)', async () => {
    const r = await curl('https://api.test/form', ['--data-urlencode', `key=${PEM}`]);
    await expectBlocked('/form', r.status, r.body, PEM_RULE, PEM_BODY);
  });

  it('a multipart upload', async () => {
    const file = path.join(dir, 'id.pem');
    fs.writeFileSync(file, PEM);
    const r = await curl('https://api.test/multipart', ['-F', 'name=x', '-F', `file=@${file}`]);
    await expectBlocked('/multipart', r.status, r.body, PEM_RULE, PEM_BODY);
  });

  it('a gzip body and a br body', async () => {
    const json = Buffer.from(JSON.stringify({ aws_access_key_id: AWS }));
    const gz = path.join(dir, 'b.gz');
    fs.writeFileSync(gz, zlib.gzipSync(json));
    let r = await curl('https://api.test/gzip', ['-H', 'content-encoding: gzip', '-H', 'content-type: application/json', '--data-binary', `@${gz}`]);
    await expectBlocked('/gzip', r.status, r.body, AWS_RULE, AWS);
    const br = path.join(dir, 'b.br');
    fs.writeFileSync(br, zlib.brotliCompressSync(json));
    r = await curl('https://api.test/br', ['-H', 'content-encoding: br', '--data-binary', `@${br}`]);
    await expectBlocked('/br', r.status, r.body, AWS_RULE, AWS);
  });

  it('over HTTP/2 too, and the connection goes on serving (curl --http2, two requests, one connection)', async () => {
    const r = await run('curl', ['-sS', '--http2', '--proxy', airlock.proxyUrl, '--cacert', airlock.caCertPath, '-w', '\n%{http_code} %{http_version} %{num_connects}\n',
      '--data-binary', `id=${AWS}`, 'https://api.test/h2-block', '--next', '--http2', '--proxy', airlock.proxyUrl, '--cacert', airlock.caCertPath, '-w', '\n%{http_code} %{http_version} %{num_connects}\n', 'https://api.test/h2-after']);
    expect(r.stdout).toMatch(/"error":"dlp_blocked"[^\n]*\n403 2 1\n/);
    expect(r.stdout).toMatch(/\n200 2 0\n$/); // the second request reused the connection
    expect(allReceived().includes(AWS)).toBe(false);
  });

  it('base64 inside JSON', async () => {
    const doc = Buffer.from(`[default]\naws_access_key_id = ${AWS}\nregion = eu-west-1\n`).toString('base64');
    const r = await curl('https://api.test/b64', ['-H', 'content-type: application/json', '--data-binary', JSON.stringify({ attachment: doc })]);
    await expectBlocked('/b64', r.status, r.body, AWS_RULE, AWS);
    expect((await flowTo('/b64')).findings[0].location).toMatch(/base64/);
    // `airlock flows show` lists it, masked.
    const db = new Database(airlock.config.store.path, { readonly: true });
    const { id } = db.prepare("SELECT id FROM flows WHERE path = '/b64'").get() as { id: number };
    db.close();
    let shown = '';
    await runFlows(['show', String(id), '--db', airlock.config.store.path], { out: (t) => void (shown += t), err: () => {} });
    expect(shown).toMatch(/^ {2}finding: aws-access-key-id {2}block {2}request body@\d+ via base64 {2}AKIA…/m);
    expect(shown).not.toContain(AWS);
  });

  it('the URL query and a header', async () => {
    let r = await curl(`https://api.test/query?id=${AWS}`, []);
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).rule).toMatch(AWS_RULE);
    r = await curl('https://api.test/header', ['-H', `x-debug: ${AWS}`]);
    await expectBlocked('/header', r.status, r.body, AWS_RULE, AWS);
    expect((await flowTo('/header')).findings[0].location).toMatch(/^header:x-debug@/);
    expect(allReceived().includes(AWS)).toBe(false);
  });

  it("a cookie is read as cookies are: a base64 secret with '+' in it is found whole (curl -b)", async () => {
    const secret = '27WsOHTFkkVWxMHatVnYPWa+hzGa8TqbJzrUDyPo';
    const r = await curl('https://api.test/cookie', ['-b', `theme=dark; aws_secret_access_key=${secret}`]);
    await expectBlocked('/cookie', r.status, r.body, /^aws-secret-access-key$/, secret.slice(0, 24));
    expect((await flowTo('/cookie')).findings).toEqual([expect.objectContaining({ rule_id: 'aws-secret-access-key', location: 'header:cookie@34', action: 'block' })]);
  });

  it('split across a 64 KiB chunk boundary (Node fetch streaming the body in two writes)', async () => {
    const before = Buffer.alloc(65_536 - 8, 'a');
    const secret = Buffer.from(` ${AWS} `);
    const body = new ReadableStream<Uint8Array>({
      async start(c) {
        c.enqueue(Buffer.concat([before, secret.subarray(0, 8)]));
        await new Promise((r) => setTimeout(r, 200));
        c.enqueue(secret.subarray(8));
        c.close();
      },
    });
    const res = await fetch('https://api.test/split', {
      method: 'POST',
      body,
      duplex: 'half',
      dispatcher: new ProxyAgent({ uri: airlock.proxyUrl, requestTls: { ca: airlock.caPem } }),
    } as unknown as Parameters<typeof fetch>[1]);
    await expectBlocked('/split', res.status, await res.text(), AWS_RULE, AWS);
    const got = received.find((x) => x.path === '/split');
    // Whatever arrived is a prefix of the body that ends before the secret starts.
    if (got) expect(got.body.length).toBeLessThanOrEqual(before.length + 1);
  });

  it('near the end of a 20 MiB body; a clean 20 MiB body arrives byte-identical', async () => {
    const clean = crypto.randomBytes(10 * 1024 * 1024).toString('hex'); // text, 20 MiB
    const file = path.join(dir, 'big.txt');
    fs.writeFileSync(file, clean);
    let r = await curl('https://api.test/big-clean', ['-H', 'content-type: text/plain', '--data-binary', `@${file}`]);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ bytes: clean.length, sha256: sha(Buffer.from(clean)) });
    fs.appendFileSync(file, ` ${AWS} tail`);
    r = await curl('https://api.test/big-secret', ['-H', 'content-type: text/plain', '--data-binary', `@${file}`]);
    await expectBlocked('/big-secret', r.status, r.body, AWS_RULE, AWS);
  });
});

describe('WebSocket messages from the agent', () => {
  it('a clean message round-trips; one carrying a key closes the connection (1008) and never arrives', async () => {
    const dispatcher = new ProxyAgent({ uri: airlock.proxyUrl, requestTls: { ca: airlock.caPem } });
    const ws = new WebSocket('wss://api.test/ws', { dispatcher });
    const events: string[] = [];
    const closed = new Promise<number>((resolve) => (ws.onclose = (e) => resolve(e.code)));
    ws.onmessage = (e) => events.push(String(e.data));
    await new Promise((r, j) => ((ws.onopen = r), (ws.onerror = j)));
    ws.send('hello');
    await expect.poll(() => events).toEqual(['echo: hello']);
    ws.send(JSON.stringify({ note: 'config', aws_access_key_id: AWS }));
    expect(await closed).toBe(1008);
    expect(wsMessages).toEqual(['hello']);
    const flow = await flowTo('/ws');
    expect(flow).toMatchObject({ decision: 'deny', code: 'dlp_blocked' });
    expect(flow.findings[0].location).toMatch(/^websocket@/);
    await dispatcher.close();
  });
});

describe('limits and modes', () => {
  it('a coding DLP cannot read is refused, even one named like an object property', async () => {
    for (const coding of ['zstd', 'constructor']) {
      const r = await curl(`https://api.test/coding-${coding}`, ['-H', `content-encoding: ${coding}`, '--data-binary', 'x']);
      expect(r.status, coding).toBe(415);
      expect(JSON.parse(r.body).error).toBe('unscannable_encoding');
    }
    expect(received.some((x) => x.path.startsWith('/coding-'))).toBe(false);
  });

  it('a decompression bomb is blocked with a clear reason, and recorded', async () => {
    const bomb = path.join(dir, 'bomb.gz');
    fs.writeFileSync(bomb, zlib.gzipSync(Buffer.alloc(300 * 1024 * 1024), { level: 9 }));
    const r = await curl('https://api.test/bomb', ['-H', 'content-encoding: gzip', '--data-binary', `@${bomb}`]);
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toMatchObject({ error: 'decompression_bomb' });
    expect(JSON.parse(r.body).reason).toMatch(/decompresses more than 100:1/);
    expect((await flowTo('/bomb')).code).toBe('decompression_bomb');
  });

  it('report mode forwards unchanged and records what would have been blocked; response rules redact SSE events', async () => {
    const other = await anotherAirlock(`
dlp:
  mode: report
  responses: true
  actions: { payment-card-number: redact }
`);
    try {
      const r = await run('curl', ['-sS', '--proxy', other.proxyUrl, '--cacert', other.caCertPath, '--data-binary', `key=${AWS}`, 'https://api.test/report']);
      expect(JSON.parse(r.stdout).body).toBe(`key=${AWS}`);
      await other.store.flush();
      const db = new Database(other.config.store.path, { readonly: true });
      const f = db.prepare("SELECT action FROM findings JOIN flows ON flows.id = findings.flow_id WHERE flows.path = '/report'").get();
      db.close();
      expect(f).toEqual({ action: 'would-block' });
      // Report mode: the SSE event is only recorded, not changed...
      const sse = await run('curl', ['-sS', '-N', '--proxy', other.proxyUrl, '--cacert', other.caCertPath, 'https://api.test/sse']);
      expect(sse.stdout).toContain(CARD);
    } finally {
      await other.close();
    }
    // ...while enforcing, the card in the second event is redacted and the events still arrive whole.
    const enforcing = await anotherAirlock(`
dlp:
  responses: true
`);
    try {
      const sse = await run('curl', ['-sS', '-N', '--proxy', enforcing.proxyUrl, '--cacert', enforcing.caCertPath, 'https://api.test/sse']);
      expect(sse.stdout).not.toContain('4539');
      expect(sse.stdout).toMatch(/event: a\ndata: \{"text":"hello"\}\n\nevent: b\ndata: \{"card":"\[REDACTED[^"]*"\}\n\nevent: c\ndata: done\n\n$/);
    } finally {
      await enforcing.close();
    }
  });
});

describe('WebSocket message size (limits, DLP off)', () => {
  it('messages under limits.max_websocket_message_bytes pass; a larger one closes with 1009 and is recorded', async () => {
    const other = await anotherAirlock(`
limits: { max_websocket_message_bytes: 64KiB }
dlp: { enabled: false }
`);
    const dispatcher = new ProxyAgent({ uri: other.proxyUrl, requestTls: { ca: other.caPem } });
    try {
      const ws = new WebSocket('wss://api.test/ws-size', { dispatcher });
      const replies: string[] = [];
      const closed = new Promise<number>((resolve) => (ws.onclose = (e) => resolve(e.code)));
      ws.onmessage = (e) => replies.push(String(e.data));
      await new Promise((r, j) => ((ws.onopen = r), (ws.onerror = j)));
      const before = wsMessages.length;
      ws.send(`small ${AWS}`); // DLP is off here: it passes
      await expect.poll(() => replies.length).toBe(1);
      ws.send('x'.repeat(100 * 1024));
      expect(await closed).toBe(1009);
      expect(wsMessages.slice(before)).toEqual([`small ${AWS}`]);
      await other.store.flush();
      const db = new Database(other.config.store.path, { readonly: true });
      const f = db.prepare("SELECT decision, code FROM flows WHERE path = '/ws-size'").get();
      db.close();
      expect(f).toEqual({ decision: 'refuse', code: 'websocket_message_too_large' });
    } finally {
      await dispatcher.close();
      await other.close();
    }
  });
});

describe('redact and log', () => {
  it('a card number is redacted in place: same length, valid JSON upstream, recorded as redact', async () => {
    const sent = JSON.stringify({ customer: 'x', card: CARD, note: 'thanks' });
    const r = await curl('https://api.test/card', ['-H', 'content-type: application/json', '--data-binary', sent]);
    expect(r.status).toBe(200);
    const got = received.find((x) => x.path === '/card')!;
    expect(got.body.length).toBe(sent.length);
    const parsed = JSON.parse(got.body.toString());
    expect(parsed.card).toMatch(/^\[REDACTED/);
    expect(got.body.toString()).not.toContain('4539');
    const flow = await flowTo('/card');
    expect(flow.findings[0]).toMatchObject({ action: 'redact' });
    expect(flow.decision).toBe('allow');
  });

  it('card numbers in CSV and TSV fields are redacted; decimal commas and a form-looking cookie pass as sent', async () => {
    const csv = 'id,name,card\n7,Jane Doe,4166560542561019\n8,"John Roe","5165077516189071"\nJane\t6011131238450073\tx\nMesswert;0,4525965890921903;mV\n';
    const cookie = 'pay=4166+5605+4256+1019';
    const r = await curl('https://api.test/csv', ['-H', 'content-type: text/csv', '-b', cookie, '--data-binary', csv]);
    expect(r.status).toBe(200);
    const got = received.find((x) => x.path === '/csv')!;
    const body = got.body.toString();
    for (const card of ['4166560542561019', '5165077516189071', '6011131238450073']) expect(body).not.toContain(card);
    expect(body).toContain('Messwert;0,4525965890921903;mV');
    expect(got.headers.cookie).toBe(cookie);
    const flow = await flowTo('/csv');
    expect(flow.findings.map((f) => [f.rule_id, f.action])).toEqual([
      ['payment-card-number', 'redact'],
      ['payment-card-number', 'redact'],
      ['payment-card-number', 'redact'],
    ]);
  });

  it('an exception lets a PEM key through to one path of one host, logged', async () => {
    const r = await curl('https://docs.test/keys', ['--data-binary', PEM]);
    expect(r.status).toBe(200);
    const flow = await flowTo('/keys');
    expect(flow.decision).toBe('allow');
    expect(flow.findings[0]).toMatchObject({ action: 'log' });
    expect(flow.findings[0].preview).not.toContain(PEM_BODY);
    // The stored body keeps it redacted even though it went upstream.
    const db = new Database(airlock.config.store.path, { readonly: true });
    const id = db.prepare("SELECT id FROM flows WHERE path = '/keys'").pluck().get() as number;
    const stored = bodiesOf(db)(id).find((b) => b.direction === 'request')!;
    db.close();
    expect(stored.data!.length).toBeGreaterThan(0);
    expect(stored.data!.toString()).not.toContain(PEM_BODY);
    // The same key to another path of that host is still blocked.
    const other = await curl('https://docs.test/other', ['--data-binary', PEM]);
    expect(other.status).toBe(403);
  });
});

describe('an echoing upstream never hands the injected key back', () => {
  it('headers and body echoed, plain, gzip and split across writes', async () => {
    for (const p of ['/echo', '/echo-gzip', '/echo-split']) {
      const r = await run('curl', ['-sS', '--compressed', '--proxy', airlock.proxyUrl, '--cacert', airlock.caCertPath, '-D', '-', '--data-binary', 'hello', `https://api.test${p}`]);
      expect(r.stdout, p).not.toContain(KEY);
      expect(r.stdout, p).not.toContain(KEY.slice(0, 12));
      expect(r.stdout, p).toContain('[redacted:injected]');
    }
    // The upstream really did receive (and echo) the key.
    expect(received.find((x) => x.path === '/echo')!.headers['x-api-key']).toBe(KEY);
  });

  it('python3 (urllib) sees the same', async () => {
    const script = `
import urllib.request, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({'https': sys.argv[1]}), urllib.request.HTTPSHandler(context=ctx))
print(opener.open(urllib.request.Request('https://api.test/echo', data=b'x')).read().decode())
`;
    const r = await run('python3', ['-c', script, airlock.proxyUrl, airlock.caCertPath]);
    expect(r.stderr).toBe('');
    expect(r.stdout).not.toContain(KEY);
    expect(r.stdout).toContain('[redacted:injected]');
  });
});

describe('metrics', () => {
  it('/metrics counts findings by rule, action and kind of place', async () => {
    const text = await (await fetch(`http://${airlock.addresses.admin!.address}/metrics`)).text();
    expect(text).toMatch(/airlock_dlp_findings_total\{rule="aws-access-key-id",action="block",location="request body"\} [1-9]/);
    expect(text).toMatch(/airlock_dlp_findings_total\{rule="aws-access-key-id",action="block",location="header"\} 1/);
  });
});

// A policy reload is atomic per request: a request (HTTP/1.1, HTTP/2, a WebSocket) is handled
// start to end under the policy in force when it arrived, however long it takes and however
// many reloads happen meanwhile. Policies A and B differ in the upstream address (upstream.resolve),
// the injected credential, the host rule's name, a DLP rule's action, response DLP, a rule's
// description and a rule only A has; what the upstream received, what the agent got and what was
// recorded must all follow one.
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import tls from 'node:tls';
import Database from 'better-sqlite3';
import { ProxyAgent, WebSocket, request } from 'undici';
import { WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, tempDir, type TestAirlock } from '../helpers/airlock.ts';
import { makeUpstreamPki, type UpstreamPki } from '../helpers/certs.ts';
import { loopbackIp } from '../helpers/upstream.ts';

type Version = 'A' | 'B';
const KEY = { A: 'reload-key-AAAA-0f1e2d3c4b5a', B: 'reload-key-BBBB-5a4b3c2d1e0f' };
const IN_TAG = 'INTAG-111111'; // in-tag: redacted under A, logged (forwarded as is) under B
const OUT_TAG = 'OUTTAG-222222'; // in every answer: response DLP redacts it under A only
const USER = 'bot-ONLYA-444444'; // the agent user: only A has a rule that finds it (sealed in the record)
const AUTH = `Basic ${Buffer.from(`${USER}:pw`).toString('base64')}`;

interface Received {
  /** Which policy's upstream address it reached. */
  server: Version;
  key: string | undefined;
  body: string;
  messages: string[];
}

let dir: string;
const ip = { A: loopbackIp(), B: loopbackIp() };
let pki: UpstreamPki;
const servers: https.Server[] = [];
let airlock: TestAirlock;
let admin: string;
const received = new Map<string, Received>();

const policy = (v: Version) => `
listen: { proxy: 127.0.0.1:0, admin: 127.0.0.1:0 }
upstream:
  ca_files: [${pki.caCert}]
  resolve: { api.test: ${ip[v]}, mcp.test: ${ip[v]} }
hosts:
  - name: api-${v}
    match: api.test
    inject: { headers: { x-api-key: env:RELOAD_KEY_${v} } }
  - name: mcp-${v}
    match: mcp.test
    mcp: {}
    inject: { headers: { x-api-key: env:RELOAD_KEY_${v} } }
dlp:
  responses: ${v === 'A'}
  custom:
    - { id: in-tag, description: in tag of policy ${v}, pattern: 'INTAG-[0-9]{6}', action: ${v === 'A' ? 'redact' : 'log'} }
    - { id: out-tag, description: out tag of policy ${v}, pattern: 'OUTTAG-[0-9]{6}', action: redact }
    - { id: stop-tag, description: stop tag of policy ${v}, pattern: 'STOPTAG-[0-9]{6}', action: block }
${v === 'A' ? "    - { id: only-a, description: only in policy A, pattern: 'ONLYA-[0-9]{6}', action: block }" : ''}
log: { flows: false }
`;

function use(v: Version): void {
  fs.writeFileSync(path.join(dir, 'policy.yaml'), policy(v));
  expect(airlock.reload()).toEqual({ ok: true, restartNeeded: [] });
}

/** The upstream at policy `v`'s address: keeps what each request (by path) brought, the credential, the body, WebSocket messages. */
async function serve(v: Version): Promise<void> {
  const server = https.createServer({ cert: pki.cert, key: pki.key }, (req, res) => {
    const r: Received = { server: v, key: req.headers['x-api-key'] as string | undefined, body: '', messages: [] };
    received.set(req.url!, r);
    req.on('data', (c: Buffer) => (r.body += c.toString('latin1')));
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end(`answer ${OUT_TAG} for ${req.url}`));
  });
  new WebSocketServer({ server }).on('connection', (ws, req) => {
    const r: Received = { server: v, key: req.headers['x-api-key'] as string | undefined, body: '', messages: [] };
    received.set(req.url!, r);
    ws.on('message', (m) => {
      r.messages.push(String(m));
      ws.send(`echo: ${m}`);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(443, ip[v], r));
}

beforeAll(async () => {
  dir = tempDir();
  pki = makeUpstreamPki(path.join(dir, 'pki'), ['api.test', 'mcp.test']);
  await Promise.all([serve('A'), serve('B')]);
  // Reloads read secrets from this process's environment.
  process.env.RELOAD_KEY_A = KEY.A;
  process.env.RELOAD_KEY_B = KEY.B;
  airlock = await startTestAirlock(policy('A'), {}, dir);
  admin = `http://${airlock.addresses.admin!.address}`;
}, 60_000);

afterAll(async () => {
  delete process.env.RELOAD_KEY_A;
  delete process.env.RELOAD_KEY_B;
  await airlock?.close();
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

/** Resolves once airlock counts `n` requests in progress (each has been admitted: its policy is taken). */
async function admitted(n: number): Promise<void> {
  await expect.poll(async () => ((await (await request(`${admin}/healthz`)).body.json()) as { active: number }).active, { interval: 10, timeout: 10_000 }).toBe(n);
}

interface Recorded {
  rule_id: string;
  decision: string;
  code: string | null;
  reason: string | null;
  agent_user: string | null;
  findings: { rule_id: string; action: string; location: string }[];
}

/** The flow recorded for `p`, with its findings. */
async function recorded(p: string): Promise<Recorded> {
  await airlock.store.flush();
  const db = new Database(airlock.config.store.path, { readonly: true });
  try {
    const f = db.prepare('SELECT id, rule_id, decision, code, reason, agent_user FROM flows WHERE path = ? ORDER BY id DESC LIMIT 1').get(p) as Recorded & { id: number };
    const findings = db.prepare('SELECT rule_id, action, location FROM findings WHERE flow_id = ? ORDER BY id').all(f.id) as Recorded['findings'];
    return { ...f, findings };
  } finally {
    db.close();
  }
}

/** Everything about one forwarded request follows policy `v`: upstream, agent, record. */
function expectPolicy(v: Version, host: 'api' | 'mcp', got: { status: number; body: string }, up: Received | undefined, flow: Recorded): void {
  const what = `${host} request under policy ${v}`;
  expect(flow.rule_id, what).toBe(`${host}-${v}`);
  expect(got.status, what).toBe(200);
  expect(up?.server, `${what}: the upstream address it was sent to`).toBe(v);
  expect(up?.key, `${what}: the credential the upstream saw`).toBe(KEY[v]);
  expect(up?.body.includes(IN_TAG), `${what}: in-tag ${v === 'A' ? 'redacted' : 'forwarded'}`).toBe(v === 'B');
  expect(flow.findings.find((f) => f.rule_id === 'in-tag')?.action, `${what}: in-tag's recorded action`).toBe(v === 'A' ? 'redact' : 'log');
  expect(got.body.includes(OUT_TAG), `${what}: response DLP ${v === 'A' ? 'on' : 'off'}`).toBe(v === 'B');
  expect(flow.findings.some((f) => f.rule_id === 'out-tag' && f.location.startsWith('response body')), `${what}: response finding`).toBe(v === 'A');
  expect(flow.agent_user?.includes('ONLYA-444444'), `${what}: the agent user sealed by A's rule only`).toBe(v === 'B');
}

/** A JSON-RPC call (an MCP server reads it whole, api.test streams it), split after in-tag. */
const CALL = [`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"lookup","arguments":{"q":"${IN_TAG}",`, '"n":1}}}'];

/** HTTP/1.1 through the explicit proxy: the first part, then `between()`, then the rest. */
async function h1(url: string, parts: string[], between: () => Promise<void>): Promise<{ status: number; body: string }> {
  const dispatcher = new ProxyAgent({ uri: airlock.proxyUrl, token: AUTH, requestTls: { ca: airlock.caPem } });
  try {
    const body = new PassThrough();
    body.write(parts[0]);
    const res = request(url, { method: 'POST', dispatcher, body, headers: { 'content-type': 'application/json' } });
    await between();
    body.end(parts[1]);
    const r = await res;
    return { status: r.statusCode, body: await r.body.text() };
  } finally {
    await dispatcher.close();
  }
}

/** HTTP/2 inside a CONNECT tunnel: the first part, then `between()`, then the rest. */
async function h2(host: string, p: string, parts: string[], between: () => Promise<void>): Promise<{ status: number; body: string }> {
  const proxy = new URL(airlock.proxyUrl);
  const connect = http.request({ host: proxy.hostname, port: proxy.port, method: 'CONNECT', path: `${host}:443`, headers: { 'proxy-authorization': AUTH } });
  connect.end();
  const socket = await new Promise<import('node:net').Socket>((resolve, reject) => {
    connect.once('connect', (_res, s) => resolve(s));
    connect.once('error', reject);
  });
  const session = http2.connect(`https://${host}`, { createConnection: () => tls.connect({ socket, servername: host, ca: airlock.caPem, ALPNProtocols: ['h2'] }) });
  try {
    const stream = session.request({ ':method': 'POST', ':path': p, 'content-type': 'application/json' });
    stream.write(parts[0]);
    await between();
    stream.end(parts[1]);
    const [headers, body] = await Promise.all([
      new Promise<http2.IncomingHttpHeaders>((r) => stream.once('response', r)),
      (async () => {
        let text = '';
        for await (const c of stream) text += String(c);
        return text;
      })(),
    ]);
    return { status: Number(headers[':status']), body };
  } finally {
    session.close();
    socket.destroy();
  }
}

describe('a reload while a request is under way', () => {
  const cases = [
    { name: 'HTTP/1.1, body streamed upstream', host: 'api' as const, send: (p: string, between: () => Promise<void>) => h1(`https://api.test${p}`, CALL, between) },
    { name: 'HTTP/1.1, body read whole first (MCP)', host: 'mcp' as const, send: (p: string, between: () => Promise<void>) => h1(`https://mcp.test${p}`, CALL, between) },
    { name: 'HTTP/2, body streamed upstream', host: 'api' as const, send: (p: string, between: () => Promise<void>) => h2('api.test', p, CALL, between) },
  ];
  for (const [i, c] of cases.entries()) {
    for (const [from, to] of [['A', 'B'], ['B', 'A']] as const) {
      it(`${c.name}: arrived under ${from}, ${to} loaded before its body ends: all ${from}`, async () => {
        use(from);
        const p = `/slow-${i}-${from}`;
        const got = await c.send(p, async () => {
          await admitted(1);
          use(to);
        });
        expectPolicy(from, c.host, got, received.get(p), await recorded(p));
        // The next request takes the new policy.
        const next = `/next-${i}-${from}`;
        expectPolicy(to, c.host, await c.send(next, async () => {}), received.get(next), await recorded(next));
      });
    }
  }

  it("a DLP block after the reload is explained and recorded with the request's policy", async () => {
    use('A');
    const got = await h1('https://api.test/stop', ['{"note":"hello",', '"token":"STOPTAG-333333"}'], async () => {
      await admitted(1);
      use('B');
    });
    expect(got.status).toBe(403);
    expect(JSON.parse(got.body)).toMatchObject({ error: 'dlp_blocked', rule: 'stop-tag' });
    expect(JSON.parse(got.body).reason).toContain('stop tag of policy A');
    const flow = await recorded('/stop');
    expect(flow).toMatchObject({ rule_id: 'api-A', decision: 'deny', code: 'dlp_blocked' });
    expect(flow.reason).toContain('stop tag of policy A');
    expect(flow.agent_user).not.toContain('ONLYA-444444');
    expect(received.get('/stop')?.body ?? '').not.toContain('STOPTAG-333333');
  });

  it('a WebSocket keeps the policy it was admitted with for as long as it lives', async () => {
    use('A');
    const dispatcher = new ProxyAgent({ uri: airlock.proxyUrl, token: AUTH, requestTls: { ca: airlock.caPem } });
    const ws = new WebSocket('wss://api.test/ws-long', { dispatcher });
    const echoes: string[] = [];
    const closed = new Promise<number>((resolve) => (ws.onclose = (e) => resolve(e.code)));
    ws.onmessage = (e) => echoes.push(String(e.data));
    await new Promise((r, j) => ((ws.onopen = r), (ws.onerror = j)));
    use('B');
    ws.send(`first ${IN_TAG}`); // A redacts it (B would forward it as is)
    await expect.poll(() => echoes.length).toBe(1);
    ws.send('then ONLYA-555555'); // only A has this rule: it closes the WebSocket
    expect(await closed).toBe(1008);
    await dispatcher.close();
    const up = received.get('/ws-long')!;
    expect(up).toMatchObject({ server: 'A', key: KEY.A });
    expect(up.messages).toHaveLength(1);
    expect(up.messages[0]).not.toContain(IN_TAG);
    const flow = await recorded('/ws-long');
    expect(flow).toMatchObject({ rule_id: 'api-A', decision: 'deny', code: 'dlp_blocked' });
    expect(flow.reason).toContain('only in policy A');
    expect(flow.findings.map((f) => [f.rule_id, f.action, f.location.split('@')[0]])).toEqual([
      ['in-tag', 'redact', 'websocket'],
      ['only-a', 'block', 'websocket'],
      ['only-a', 'block', 'agent user'],
    ]);
    expect(flow.agent_user).not.toContain('ONLYA-444444');
  });
});

describe('reloads under load', () => {
  it('never mix policies within one request', async () => {
    use('A');
    const dispatcher = new ProxyAgent({ uri: airlock.proxyUrl, token: AUTH, requestTls: { ca: airlock.caPem } });
    const results: { p: string; host: 'api' | 'mcp'; status: number; body: string }[] = [];
    let running = true;
    let reloads = 0;
    // A and B in turn, as often as the event loop lets a reload in between requests' steps.
    const flipping = (async () => {
      while (running) {
        use(reloads++ % 2 ? 'A' : 'B');
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    const CLIENTS = 8;
    const EACH = 25;
    try {
      await Promise.all(
        Array.from({ length: CLIENTS }, async (_, c) => {
          for (let i = 0; i < EACH; i++) {
            const host = (c + i) % 2 ? 'api' : 'mcp';
            const p = `/load-${c}-${i}`;
            const r = await request(`https://${host}.test${p}`, { method: 'POST', dispatcher, body: CALL.join(''), headers: { 'content-type': 'application/json' } });
            results.push({ p, host, status: r.statusCode, body: await r.body.text() });
          }
        }),
      );
    } finally {
      running = false;
      await flipping;
      await dispatcher.close();
    }
    const seen = { A: 0, B: 0 };
    for (const r of results) {
      const flow = await recorded(r.p);
      const v = flow.rule_id.slice(-1) as Version;
      seen[v]++;
      expectPolicy(v, r.host, r, received.get(r.p), flow);
    }
    expect(results).toHaveLength(CLIENTS * EACH);
    // Both policies served requests, with reloads in between: the test could have seen a mix.
    expect(seen.A).toBeGreaterThan(0);
    expect(seen.B).toBeGreaterThan(0);
    expect(reloads).toBeGreaterThan(10);
  }, 120_000);
});

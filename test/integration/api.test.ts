// The web UI's JSON API (web-ui/app.ts) over a store filled by a real airlock, a real upstream and
// real curl: auth, read-only, filters as bound parameters, pagination, detail, stats, export; then
// the real listener, and the proof that it is never reachable through the proxy.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../proxy/cli/flows.ts';
import { sqliteReader } from '../../proxy/store/sqlite-reader.ts';
import { createApi } from '../../web-ui/app.ts';
import { TOKEN_FILE } from '../../web-ui/token.ts';
import { startTestAirlock, tempDir, type TestAirlock } from '../helpers/airlock.ts';
import { freePort } from '../helpers/dns.ts';
import { run } from '../helpers/run.ts';
import { type TestUpstream, startTlsUpstream } from '../helpers/upstream.ts';

const SECRET = 'sk-api-test-SECRET-9c2d41';
let api: TestUpstream;
let airlock: TestAirlock;
let dir: string;
let token: string;
let db: Database.Database;
let app: ReturnType<typeof createApi>;
let uiPort: number;

const BINARY = Buffer.from([0x00, 0x01, 0x02, 0xff, 0xfe, 0x00, 0x7f, 0x80]);

beforeAll(async () => {
  dir = tempDir();
  const { ip, pki, up: started } = await startTlsUpstream(dir, ['api.test', 'other.test']);
  api = started;
  uiPort = await freePort();
  airlock = await startTestAirlock(
    `
listen:
  proxy: 127.0.0.1:0
  ui: 127.0.0.1:${uiPort}
upstream:
  ca_files: [${pki.caCert}]
  resolve: { api.test: ${ip}, other.test: ${ip}, ui.test: 127.0.0.1 }
hosts:
  - match: api.test
    name: api
    inject: { headers: { x-api-key: env:API_TEST_KEY } }
  - match: other.test
    name: other
  - match: ui.test
    name: ui
    plain_http: true
    ports: [${uiPort}]
    allow_ips: [127.0.0.0/8]
`,
    { API_TEST_KEY: SECRET },
    dir,
  );
  token = airlock.uiToken!;
  const curl = (...args: string[]) => run('curl', ['-sS', '--cacert', airlock.caCertPath, '-x', airlock.proxyUrl, ...args]);
  fs.writeFileSync(path.join(dir, 'bin'), BINARY);
  await curl('https://api.test/echo?q=wombat');
  await curl('-H', 'content-type: text/plain', '--data-binary', 'platypus says hello', 'https://api.test/reverse');
  await curl('-H', 'content-type: application/octet-stream', '--data-binary', `@${path.join(dir, 'bin')}`, 'https://api.test/upload');
  await curl('-H', 'content-type: application/json', '-d', '{"model":"claude-sonnet-4-5","messages":[]}', 'https://api.test/v1/messages');
  await curl('https://other.test/echo');
  await curl('https://nope.test/');
  await curl('https://nope.test/');
  await airlock.store.flush();
  db = openStore(airlock.config.store.path);
  app = createApi({ reader: sqliteReader(() => db), tokenHash: fs.readFileSync(path.join(airlock.config.dataDir, TOKEN_FILE), 'utf8').trim() });
});

afterAll(async () => {
  db?.close();
  await airlock?.close();
  await api?.close();
});

const auth = () => ({ authorization: `Bearer ${token}` });
const get = (url: string, init: RequestInit = {}) => app.request(url, { ...init, headers: { ...auth(), ...(init.headers as Record<string, string>) } });
const json = async (url: string) => {
  const r = await get(url);
  return { status: r.status, body: (await r.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
};
const ids = async (query: string) => ((await json(`/api/flows?${query}`)).body.flows as { id: number }[]).map((f) => f.id);

function expectSecurityHeaders(r: Response) {
  expect(r.headers.get('x-content-type-options')).toBe('nosniff');
  expect(r.headers.get('cache-control')).toBe('no-store');
  expect(r.headers.get('content-security-policy')).toMatch(/^default-src 'none'/);
}

describe('auth and methods', () => {
  it('prints the token only on the start that made it, and keeps only its hash on disk', () => {
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const file = path.join(airlock.config.dataDir, TOKEN_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(file, 'utf8')).not.toContain(token);
  });

  it('answers 401 JSON without a token or with a wrong one, and 200 with the right one', async () => {
    const cases: Record<string, string>[] = [{}, { authorization: 'Bearer wrong' }, { authorization: token }, { authorization: `Basic ${token}` }];
    for (const headers of cases) {
      const r = await app.request('/api/flows', { headers });
      expect(r.status, JSON.stringify(headers)).toBe(401);
      expectSecurityHeaders(r);
      expect(await r.json()).toMatchObject({ error: 'unauthorized' });
    }
    const unknown = await app.request('/nothing');
    expect(unknown.status).toBe(401); // no endpoint is discoverable without the token
    const ok = await get('/api/flows');
    expect(ok.status).toBe(200);
    expectSecurityHeaders(ok);
  });

  it('is read-only: 405 for anything but GET and HEAD', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const r = await get('/api/flows', { method });
      expect(r.status, method).toBe(405);
      expect(r.headers.get('allow')).toBe('GET, HEAD');
      expectSecurityHeaders(r);
      expect(await r.json()).toMatchObject({ error: 'method_not_allowed' });
    }
    const head = await get('/api/flows', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('answers unknown endpoints with 404 JSON', async () => {
    const r = await json('/api/nope');
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ error: 'not_found' });
  });
});

describe('GET /api/flows', () => {
  it('lists flows oldest first with the CLI filters', async () => {
    const { status, body } = await json('/api/flows');
    expect(status).toBe(200);
    expect(body.flows).toHaveLength(7);
    expect(body.next).toBeNull();
    const all = body.flows as { id: number; host: string; decision: string; url: string | null }[];
    expect(all.map((f) => f.id)).toEqual([...all.map((f) => f.id)].sort((a, b) => a - b));
    expect(all[0]).toMatchObject({ host: 'api.test', decision: 'allow', url: 'https://api.test/echo?q=wombat', rule_id: 'api', status: 200 });
    expect(await ids('host=api.test')).toHaveLength(4);
    expect(await ids('host=*.test&decision=deny')).toHaveLength(2);
    expect(await ids('method=post&path=/v1/')).toHaveLength(1);
    expect(await ids('rule=other')).toHaveLength(1);
    expect(await ids('status=2xx')).toHaveLength(5);
    expect(await ids('text=platypus')).toHaveLength(1);
    expect(await ids('since=1h&until=' + encodeURIComponent(new Date(Date.now() + 60_000).toISOString()))).toHaveLength(7);
    expect(await ids('has_finding=true')).toEqual([]);
  });

  it('treats SQL- and FTS-looking input as values: no match, 200', async () => {
    for (const q of [
      `host=${encodeURIComponent("x' OR 1=1 --")}`,
      `rule=${encodeURIComponent("api' OR '1'='1")}`,
      `path=${encodeURIComponent('%')}`,
      `text=${encodeURIComponent('" OR 1=1 NEAR(a b) *')}`,
      `text=${encodeURIComponent('url:api* OR wombat)')}`,
      `agent=${encodeURIComponent('1; DROP TABLE flows')}`,
    ]) {
      const r = await json(`/api/flows?${q}`);
      expect(r.status, q).toBe(200);
      expect(r.body.flows, q).toEqual([]);
    }
    expect(await ids('')).toHaveLength(7); // nothing was dropped
  });

  it('answers bad input with 400 JSON', async () => {
    for (const q of ['decision=maybe', 'status=abc', 'since=yesterday', 'limit=0', 'limit=501', 'after=-1', 'hots=api.test', 'has_finding=yes', 'host=a&host=b']) {
      const r = await json(`/api/flows?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error, q).toBe('bad_request');
      expect(typeof r.body.reason, q).toBe('string');
    }
  });

  it('validates every filter value, never guesses: junk is a 400 whose reason names the field', async () => {
    const cases: [string, string][] = [
      ['/api/flows?since=junk%202001', 'since'], // Date.parse would read 2001-01-01 and return every flow
      ['/api/flows?until=2025-02-30', 'until'],
      ['/api/flows?since=1', 'since'],
      ['/api/flows?status=600', 'status'],
      ['/api/flows?status=4XY', 'status'],
      ['/api/flows?decision=ALLOW', 'decision'],
      ['/api/flows?method=G%20E%20T', 'method'],
      ['/api/flows?limit=abc', 'limit'],
      ['/api/flows?limit=1e2', 'limit'],
      ['/api/flows?after=0x10', 'after'],
      ['/api/flows?has_finding=2', 'has_finding'],
      ['/api/stats?since=soon', 'since'],
      ['/api/export?format=csv', 'format'],
      ['/api/export?limit=-5', 'limit'],
      ['/api/export?until=tomorrow', 'until'],
    ];
    for (const [url, field] of cases) {
      const r = await json(url);
      expect(r.status, url).toBe(400);
      expect(r.body.error, url).toBe('bad_request');
      expect(r.body.reason, url).toMatch(new RegExp(`^${field}\\b`));
    }
    expect((await json('/api/flows?since=2000-01-01T00:00:00Z&until=2000-01-02')).body.flows).toEqual([]);
  });

  it('pages forward with after and limit, with no gaps or repeats', async () => {
    const seen: number[] = [];
    let after = 0;
    for (let pages = 0; pages < 10; pages++) {
      const { body } = await json(`/api/flows?limit=3&after=${after}`);
      seen.push(...(body.flows as { id: number }[]).map((f) => f.id));
      if (body.next === null) break;
      after = body.next as number;
    }
    expect(seen).toEqual(await ids('limit=500'));
    // Without a cursor: the newest page, like `airlock flows list`.
    expect(await ids('limit=2')).toEqual(seen.slice(-2));
  });
});

describe('GET /api/flows/:id', () => {
  it('shows headers, text and base64 bodies, and the LLM fields; by id or flow_id', async () => {
    const all = (await json('/api/flows?limit=500')).body.flows as { id: number; flow_id: string; path: string | null }[];
    const reverse = all.find((f) => f.path === '/reverse')!;
    const r = await json(`/api/flows/${reverse.id}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: reverse.id, decision: 'allow', findings: [] });
    expect(r.body.request_headers['x-api-key']).toBe('[injected:x-api-key]');
    const req = (r.body.bodies as Record<string, unknown>[]).find((b) => b.direction === 'request');
    expect(req).toMatchObject({ content_type: 'text/plain', text: 'platypus says hello', truncated: false });
    expect(JSON.stringify(r.body)).not.toContain(SECRET);
    expect((await json(`/api/flows/${reverse.flow_id}`)).body.id).toBe(reverse.id);

    const upload = all.find((f) => f.path === '/upload')!;
    const u = await json(`/api/flows/${upload.id}`);
    const bin = (u.body.bodies as Record<string, unknown>[]).find((b) => b.direction === 'request');
    expect(bin).toMatchObject({ content_type: 'application/octet-stream', base64: BINARY.toString('base64') });

    const llm = all.find((f) => f.path === '/v1/messages')!;
    expect((await json(`/api/flows/${llm.id}`)).body).toMatchObject({
      llm_provider: 'anthropic',
      llm_model: 'claude-sonnet-4-5-20250929',
      llm_input_tokens: 472,
      llm_output_tokens: 89,
      llm_stop_reason: 'tool_use',
      llm_tools: ['get_weather'],
    });
  });

  it('answers 404 for a flow that does not exist', async () => {
    for (const ref of ['999999', 'no-such-flow', encodeURIComponent("1' OR '1'='1")]) {
      const r = await json(`/api/flows/${ref}`);
      expect(r.status, ref).toBe(404);
      expect(r.body.error).toBe('not_found');
    }
  });
});

describe('GET /api/stats', () => {
  it('counts decisions per minute, bytes, top hosts and rules, and latency percentiles', async () => {
    const { status, body } = await json('/api/stats?since=1h');
    expect(status).toBe(200);
    expect(body.total).toBe(7);
    expect(body.decisions).toMatchObject({ allow: 5, deny: 2, refuse: 0, error: 0 });
    const perMinute = body.per_minute as { minute: string; counts: Record<string, number> }[];
    expect(perMinute.reduce((n, m) => n + m.counts.allow + m.counts.deny, 0)).toBe(7);
    expect(perMinute[0].minute).toMatch(/:00\.000Z$/);
    expect(body.bytes.up).toBeGreaterThan(0);
    expect(body.bytes.down).toBeGreaterThan(0);
    expect(body.top_hosts[0]).toEqual({ host: 'api.test', count: 4 });
    expect(body.top_hosts).toContainEqual({ host: 'nope.test', count: 2 });
    expect(body.top_rules[0]).toEqual({ rule: 'api', count: 4 });
    const l = body.latency_ms;
    expect(l.count).toBeGreaterThan(0);
    expect(l.p50).toBeLessThanOrEqual(l.p90);
    expect(l.p90).toBeLessThanOrEqual(l.p99);
    expect((await json('/api/stats?since=' + encodeURIComponent(new Date(Date.now() + 60_000).toISOString()))).body).toMatchObject({
      total: 0,
      latency_ms: { count: 0, p50: null },
    });
    expect((await json('/api/stats?since=soon')).status).toBe(400);
  });
});

describe('GET /api/export', () => {
  it('streams JSONL and HAR as attachments, with the same filters', async () => {
    const r = await get('/api/export?format=jsonl');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-disposition')).toMatch(/^attachment; filename="airlock-flows-.*\.jsonl"$/);
    expectSecurityHeaders(r);
    const lines = (await r.text()).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(7);
    expect(lines[0]).toHaveProperty('bodies');

    const h = await get('/api/export?format=har&host=api.test');
    expect(h.headers.get('content-disposition')).toMatch(/\.har"$/);
    const har = (await h.json()) as { log: { version: string; entries: { request: { url: string } }[] } };
    expect(har.log.version).toBe('1.2');
    expect(har.log.entries.map((e) => new URL(e.request.url).host)).toEqual(['api.test', 'api.test', 'api.test', 'api.test']);

    const limited = await (await get('/api/export?format=jsonl&limit=2&decision=allow')).text();
    expect(limited.trim().split('\n')).toHaveLength(2);
    expect((await json('/api/export?format=csv')).status).toBe(400);
  });
});

describe('the UI listener', () => {
  it('serves the API on listen.ui with the token', async () => {
    const base = `http://${airlock.addresses.ui!.address}`;
    const denied = await request(`${base}/api/flows`);
    expect(denied.statusCode).toBe(401);
    expect(denied.headers['x-content-type-options']).toBe('nosniff');
    await denied.body.dump();
    const ok = await request(`${base}/api/flows?host=api.test`, { headers: auth() });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['cache-control']).toBe('no-store');
    expect(((await ok.body.json()) as { flows: unknown[] }).flows).toHaveLength(4);
  });

  it('is never reachable through the proxy, even when a rule allows its address', async () => {
    const r = await run('curl', ['-sS', '-x', airlock.proxyUrl, '-H', `authorization: Bearer ${token}`, `http://ui.test:${uiPort}/api/flows`]);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: 'address_not_allowed' });
    const code = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-x', airlock.proxyUrl, `http://ui.test:${uiPort}/api/flows`]);
    expect(code.stdout).toBe('403');
  });

  it('does not print the token again on the next start', async () => {
    await airlock.close();
    const again = await startTestAirlock(fs.readFileSync(path.join(dir, 'policy.yaml'), 'utf8'), { API_TEST_KEY: SECRET }, dir);
    try {
      expect(again.uiToken).toBeUndefined();
      const r = await request(`http://${again.addresses.ui!.address}/api/stats`, { headers: auth() });
      expect(r.statusCode).toBe(200);
      await r.body.dump();
    } finally {
      await again.close();
    }
  });
});

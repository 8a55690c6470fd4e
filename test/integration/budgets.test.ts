// Budgets and rate limits (docs/policy.md#budgets) against a real airlock and a real HTTPS
// upstream whose Messages API answers with real usage (472 + 89 tokens a call): a token budget
// stops an agent with 429 once its responses used it up, on a base-URL route and through the
// explicit proxy, each agent on its own; the 429 parses as documented; the count survives a
// restart; and a request-rate limit holds across two airlock processes writing one store.
import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, tempDir, type TestAirlock } from '../helpers/airlock.ts';
import { children, startCli } from '../helpers/cli.ts';
import { freePort } from '../helpers/dns.ts';
import { run } from '../helpers/run.ts';
import { type TestUpstream, startTlsUpstream } from '../helpers/upstream.ts';

const TOKENS_PER_CALL = 472 + 89;
const request = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 1024, stream: true, messages: [{ role: 'user', content: 'Weather in Paris?' }] });

let dir: string;
let api: TestUpstream;
let ip: string;
let caCert: string;
const airlocks: TestAirlock[] = [];

beforeAll(async () => {
  dir = tempDir();
  const u = await startTlsUpstream(dir, ['api.test']);
  api = u.up;
  ip = u.ip;
  caCert = u.pki.caCert;
});

afterAll(async () => {
  for (const a of airlocks) await a.close().catch(() => {});
  await api?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

/** Waits while fewer than `marginMs` are left of the current window, so a test's requests all fall in one window. */
async function inOneWindow(windowMs: number, marginMs: number): Promise<void> {
  const left = windowMs - (Date.now() % windowMs);
  if (left < marginMs) await new Promise((r) => setTimeout(r, left + 50));
}

/** Listeners on ports of their own: an agent without a user is counted by its listener as configured. */
async function policy(budgets: string, proxyPort?: number): Promise<string> {
  return `
listen:
  proxy: 127.0.0.1:${proxyPort ?? (await freePort())}
  admin: 127.0.0.1:${await freePort()}
routes:
  - listen: 127.0.0.1:${await freePort()}
    upstream: https://api.test
upstream:
  ca_files: [${caCert}]
  resolve: { api.test: ${ip} }
hosts:
  - name: anthropic
    match: api.test
budgets:
${budgets}
`;
}

async function start(yaml: string, at = fs.mkdtempSync(path.join(dir, 'a-'))): Promise<TestAirlock> {
  const a = await startTestAirlock(yaml, {}, at);
  airlocks.push(a);
  return a;
}

/** A Messages call through the explicit proxy with curl (CONNECT, TLS to airlock), as `user` if given. */
async function viaProxy(a: TestAirlock, user?: string): Promise<{ status: number; headers: string; body: string }> {
  const hdr = path.join(fs.mkdtempSync(path.join(dir, 'h-')), 'headers');
  const r = await run('curl', [
    '-sS', '--max-time', '20', '--cacert', a.caCertPath, '-x', a.proxyUrl, ...(user ? ['--proxy-user', `${user}:x`] : []),
    '-D', hdr, '-H', 'content-type: application/json', '--data', request, 'https://api.test/v1/messages',
  ]);
  const headers = fs.readFileSync(hdr, 'utf8');
  return { status: Number(/^HTTP\/\S+ (\d{3})/m.exec(headers.split(/\r?\n\r?\n/).filter(Boolean).pop() ?? '')?.[1]), headers, body: r.stdout };
}

async function viaRoute(a: TestAirlock): Promise<Response> {
  return fetch(`http://${a.addresses.routes[0].address}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: request });
}

describe('a token budget', () => {
  it('stops an agent with 429 after N tokens of real responses, on a base-URL route and through the explicit proxy, each agent on its own', async () => {
    await inOneWindow(3_600_000, 60_000);
    const a = await start(await policy('  - name: hourly\n    rules: [anthropic]\n    tokens_per_hour: 1000\n'));
    // The route: 561 tokens, then 1122 (past 1000: that response is not cut), then refused.
    const statuses: number[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < 3; i++) {
      const r = await viaRoute(a);
      statuses.push(r.status);
      if (r.status === 429) refused = r;
      else expect(await r.text()).toContain('message_stop');
    }
    expect(statuses).toEqual([200, 200, 429]);
    const body = JSON.parse(await refused!.text());
    const resets = Date.parse(body.resets_at);
    expect(body).toEqual({
      error: 'budget_exhausted',
      host: 'api.test',
      rule: 'anthropic',
      budget: 'hourly',
      limit: 'tokens_per_hour',
      window: 'hour',
      max: 1000,
      used: 2 * TOKENS_PER_CALL,
      resets_at: new Date(Math.ceil(Date.now() / 3_600_000) * 3_600_000).toISOString(),
      reason: `budget hourly allows 1000 LLM tokens per hour for this agent and ${2 * TOKENS_PER_CALL} are used; it resets at ${body.resets_at}`,
      hint: expect.stringContaining('Retry-After'),
    });
    const retryAfter = Number(refused!.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(Math.abs(Date.now() + retryAfter * 1000 - resets)).toBeLessThan(2000);
    expect(refused!.headers.get('x-airlock-decision')).toBe('budget_exhausted');
    const seenBefore = api.seen.length;

    // Through the explicit proxy the agent is another one (its listener), with a budget of its own.
    expect((await viaProxy(a)).status).toBe(200);
    expect((await viaProxy(a)).status).toBe(200);
    const third = await viaProxy(a);
    expect(third.status).toBe(429);
    expect(third.headers).toMatch(/^retry-after: \d+\r?$/im);
    expect(JSON.parse(third.body)).toMatchObject({ error: 'budget_exhausted', budget: 'hourly', window: 'hour', used: 2 * TOKENS_PER_CALL });
    // Named agents each have their own count too.
    expect((await viaProxy(a, 'alice')).status).toBe(200);
    expect(api.seen.length).toBe(seenBefore + 3); // the refusals never reached the upstream

    // /metrics: each agent's use of the limit, the limit, and the refusals.
    const metrics = await (await fetch(`http://${a.addresses.admin!.address}/metrics`)).text();
    const route = `listener:${a.addresses.routes[0].address}`;
    expect(metrics).toContain(`airlock_budget_used{budget="hourly",agent="${route}",limit="tokens_per_hour"} ${2 * TOKENS_PER_CALL}`);
    expect(metrics).toContain(`airlock_budget_used{budget="hourly",agent="alice",limit="tokens_per_hour"} ${TOKENS_PER_CALL}`);
    expect(metrics).toContain(`airlock_budget_limit{budget="hourly",agent="${route}",limit="tokens_per_hour"} 1000`);
    expect(metrics).toContain('airlock_budget_refusals_total{budget="hourly"} 2');

    await a.store.flush();
    const rows = a.store.db.prepare("SELECT entry, decision, status, code, agent_user, listener FROM flows WHERE code = 'budget_exhausted' ORDER BY id").all();
    expect(rows).toEqual([
      { entry: 'route', decision: 'deny', status: 429, code: 'budget_exhausted', agent_user: null, listener: a.addresses.routes[0].address },
      { entry: 'explicit', decision: 'deny', status: 429, code: 'budget_exhausted', agent_user: null, listener: a.addresses.proxy!.address },
    ]);
  });

  it('survives a restart: the count is kept in the store', async () => {
    await inOneWindow(3_600_000, 60_000);
    const at = fs.mkdtempSync(path.join(dir, 'restart-'));
    const yaml = await policy('  - name: hourly\n    tokens_per_hour: 1000\n');
    const first = await start(yaml, at);
    expect((await viaProxy(first, 'carol')).status).toBe(200);
    expect((await viaProxy(first, 'carol')).status).toBe(200);
    await first.close();
    const second = await start(yaml, at);
    const r = await viaProxy(second, 'carol');
    expect(r.status).toBe(429);
    expect(JSON.parse(r.body)).toMatchObject({ budget: 'hourly', used: 2 * TOKENS_PER_CALL, max: 1000 });
    expect((await viaProxy(second, 'dave')).status).toBe(200);
  });
});

describe('a request-rate limit', () => {
  it('holds on the transparent listener and a base-URL route on a Unix socket, WebSocket upgrades included', async () => {
    await inOneWindow(60_000, 15_000);
    const at = fs.mkdtempSync(path.join(dir, 'paths-'));
    const sock = path.join(at, 'route.sock');
    const a = await start(
      `
listen:
  transparent: 127.0.0.1:${await freePort()}
routes:
  - listen: unix:${sock}
    upstream: https://api.test
upstream:
  ca_files: [${caCert}]
  resolve: { api.test: ${ip} }
hosts:
  - name: anthropic
    match: api.test
budgets:
  - name: rpm
    requests_per_minute: 2
`,
      at,
    );
    // Transparent: what an iptables REDIRECT delivers, routed by SNI (curl negotiates HTTP/2).
    const transparent = a.addresses.transparent!.address;
    const viaTransparent = () =>
      run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '20', '--cacert', a.caCertPath, '--connect-to', `api.test:443:${transparent}`, 'https://api.test/echo']).then((r) => r.stdout);
    expect([await viaTransparent(), await viaTransparent(), await viaTransparent()]).toEqual(['200', '200', '429']);
    const viaSocket = (...args: string[]) => run('curl', ['-sS', '--max-time', '20', '--unix-socket', sock, ...args]);
    const codes: string[] = [];
    for (let i = 0; i < 2; i++) codes.push((await viaSocket('-o', '/dev/null', '-w', '%{http_code}', 'http://airlock/echo')).stdout);
    expect(codes).toEqual(['200', '200']);
    // A WebSocket upgrade on the same route counts too: its 429 is written on the socket before any upgrade.
    const ws = await viaSocket('-i', '-H', 'Connection: Upgrade', '-H', 'Upgrade: websocket', '-H', 'Sec-WebSocket-Version: 13', '-H', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'http://airlock/ws');
    expect(ws.stdout).toMatch(/^HTTP\/1\.1 429 Too Many Requests\r\n/);
    expect(ws.stdout).toMatch(/\r\nretry-after: \d+\r\n/i);
    expect(JSON.parse(ws.stdout.slice(ws.stdout.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: 'budget_exhausted', budget: 'rpm', limit: 'requests_per_minute', window: 'minute', max: 2 });
    await a.store.flush();
    expect(a.store.db.prepare("SELECT entry, protocol FROM flows WHERE code = 'budget_exhausted' ORDER BY id").all()).toEqual([
      { entry: 'transparent', protocol: 'h2' },
      { entry: 'route', protocol: 'ws' },
    ]);
  });

  it('holds in report mode: what report mode lets through counts, and the 429 is not lifted (a budget is not a host rule)', async () => {
    await inOneWindow(60_000, 15_000);
    const a = await start(
      `
mode: report
listen:
  proxy: 127.0.0.1:${await freePort()}
upstream:
  ca_files: [${caCert}]
  resolve: { api.test: ${ip} }
hosts:
  - name: anthropic
    match: api.test
    methods: [GET]
budgets:
  - name: rpm
    requests_per_minute: 2
`,
    );
    const hdr = path.join(fs.mkdtempSync(path.join(dir, 'h-')), 'headers');
    const post = () =>
      run('curl', ['-sS', '-o', '/dev/null', '-D', hdr, '-w', '%{http_code}', '--max-time', '20', '--cacert', a.caCertPath, '-x', a.proxyUrl, '--data', 'x=1', 'https://api.test/echo']).then((r) => r.stdout);
    expect([await post(), await post(), await post()]).toEqual(['200', '200', '429']);
    expect(fs.readFileSync(hdr, 'utf8')).toMatch(/\r\nproxy-status: airlock; error=http_request_denied; details="budget_exhausted: budget rpm allows 2 /i);
    await a.store.flush();
    expect(a.store.db.prepare('SELECT decision, code FROM flows ORDER BY id').all()).toEqual([
      { decision: 'would_deny', code: 'method_not_allowed' },
      { decision: 'would_deny', code: 'method_not_allowed' },
      { decision: 'deny', code: 'budget_exhausted' },
    ]);
  });

  it('holds across two airlock processes that write one store', async () => {
    await inOneWindow(60_000, 20_000);
    const data = fs.mkdtempSync(path.join(dir, 'shared-'));
    const ports = [await freePort(), await freePort()];
    const procs: ChildProcess[] = [];
    const urls: string[] = [];
    for (const [i, port] of ports.entries()) {
      const file = path.join(data, `policy-${i}.yaml`);
      // One data dir (CA and store) for both; each its own listener.
      fs.writeFileSync(file, `data_dir: .\n${await policy('  - name: rpm\n    requests_per_minute: 6\n', port)}\nlog: { flows: false }\n`);
      const { proc } = await startCli(['--config', file], data);
      procs.push(proc);
      urls.push(`http://127.0.0.1:${port}`);
    }
    const ca = path.join(data, 'ca', 'ca.crt');
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '20', '--cacert', ca, '-x', urls[i % 2], '--proxy-user', 'erin:x', 'https://api.test/echo']);
      statuses.push(Number(r.stdout));
    }
    // Six in the minute for agent erin, whichever process served them; every other request refused.
    expect(statuses.filter((s) => s === 200).length).toBe(6);
    expect(statuses.filter((s) => s === 429).length).toBe(6);
    expect(statuses.slice(0, 6)).toEqual([200, 200, 200, 200, 200, 200]);
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))));
  });
});

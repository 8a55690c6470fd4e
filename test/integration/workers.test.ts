// `airlock start --workers 2` as an operator runs it: a real supervisor and real worker processes,
// real TLS to a real upstream, curl as the agent. Requests spread over the workers (the store
// names the process in each flow id), a killed worker is replaced while other requests go on and
// its request in progress is recorded, per-client limits and the leaf-mint budget hold across
// workers, a reload reaches every worker, and a graceful stop drains them all.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { tempDir } from '../helpers/airlock.ts';
import { children, startCli } from '../helpers/cli.ts';
import { freePort } from '../helpers/dns.ts';
import { run } from '../helpers/run.ts';
import { startTlsUpstream, type TestUpstream } from '../helpers/upstream.ts';

const HOSTS = ['api.test', 'a.api.test', 'b.api.test', 'c.api.test'];

let dir: string;
let up: TestUpstream;
let ip: string;
let upstreamCa: string;

beforeAll(async () => {
  dir = tempDir('airlock-workers-');
  const u = await startTlsUpstream(dir, HOSTS);
  up = u.up;
  ip = u.ip;
  upstreamCa = u.pki.caCert;
});

afterAll(async () => {
  await up?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

interface Running {
  proc: ChildProcess;
  at: string;
  proxy: string;
  admin: number;
  ca: string;
  db: string;
  out: () => string;
  stderr: () => string;
}

async function start(extra = '', hosts = ['api.test']): Promise<Running> {
  const at = fs.mkdtempSync(path.join(dir, 'a-'));
  const admin = await freePort();
  fs.writeFileSync(path.join(at, 'policy.yaml'), policy(admin, hosts, extra));
  const { proc, banner } = await startCli(['--config', 'policy.yaml', '--workers', '2'], at, Object.fromEntries(HOSTS.map((_, i) => [`POLICY_KEY_${i}`, keyOf(HOSTS[i])])));
  let out = banner;
  proc.stdout!.on('data', (c) => (out += c));
  let err = '';
  proc.stderr!.on('data', (c) => (err += c));
  return {
    stderr: () => err,
    proc,
    at,
    proxy: /explicit proxy\s+(\S+)/.exec(banner)![1],
    admin,
    ca: path.join(at, 'ca', 'ca.crt'),
    db: path.join(at, 'flows.sqlite'),
    out: () => out,
  };
}

function policy(admin: number, hosts: string[], extra: string): string {
  return `listen:
  proxy: 127.0.0.1:0
  admin: 127.0.0.1:${admin}
upstream:
  ca_files: [${upstreamCa}]
  resolve: { ${HOSTS.map((h) => `${h}: ${ip}`).join(', ')} }
hosts:
${hosts.map((h) => `  - match: ${h}\n    inject:\n      headers: { x-policy: env:POLICY_KEY_${HOSTS.indexOf(h)} }`).join('\n')}
log: { flows: false }
${extra}`;
}

function curl(a: Running, url: string, more: string[] = []) {
  return run('curl', ['-sS', '--max-time', '20', '--cacert', a.ca, '-x', `http://${a.proxy}`, '-o', '/dev/null', '-w', '%{http_code}', ...more, url]);
}

async function health(a: Running): Promise<{ workers: { pid: number; ready: boolean; connections: number; active: number }[]; worker_restarts: number }> {
  return (await fetch(`http://127.0.0.1:${a.admin}/healthz`)).json() as Promise<Awaited<ReturnType<typeof health>>>;
}

async function metric(a: Running, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${a.admin}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
}

/** Flows in the store: the process that served each is the flow id's second part (pid, base 36). */
function flows(a: Running): { flow_id: string; path: string | null; query: string | null; code: string | null; decision: string; host: string | null }[] {
  const db = new Database(a.db, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT flow_id, path, query, code, decision, host FROM flows ORDER BY id').all() as ReturnType<typeof flows>;
  } finally {
    db.close();
  }
}

/** The value each host's rule injects (what the upstream sees tells which rule served a request). */
const keyOf = (host: string) => `key-${HOSTS.indexOf(host)}-for-workers-test`;

const pidOf = (flowId: string) => parseInt(flowId.split('-')[1], 36);

async function until<T>(what: () => Promise<T> | T, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await what();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('requests on new connections spread over both workers: the store names each worker, /metrics sums them', async () => {
  const a = await start();
  const pids = (await health(a)).workers.map((w) => w.pid);
  expect(pids).toHaveLength(2);
  expect(pids).not.toContain(a.proc.pid);
  for (let i = 0; i < 10; i++) expect((await curl(a, `https://api.test/echo?i=${i}`)).stdout).toBe('200');
  const served = await until(() => flows(a).filter((f) => f.path === '/echo'), (f) => f.length === 10);
  const byWorker = new Map<number, number>();
  for (const f of served) byWorker.set(pidOf(f.flow_id), (byWorker.get(pidOf(f.flow_id)) ?? 0) + 1);
  expect([...byWorker.keys()].sort()).toEqual([...pids].sort());
  expect(await metric(a, 'airlock_flows_total{decision="allow"')).toBe(10);
  // Both workers inject what the one policy says.
  expect(up.seen.filter((s) => s.url.startsWith('/echo?i=')).every((s) => s.headers['x-policy'] === keyOf('api.test'))).toBe(true);
});

it('a killed worker is replaced while another client goes on; its request in progress is recorded as an error', async () => {
  // A DLP rule that only logs: the request goes on, and every stored copy of what it finds is redacted.
  const a = await start(`dlp:
  custom:
    - id: workers-test-token
      pattern: 'wtt_[a-z]{12}'
      keywords: [wtt_]
      action: log
      examples: { match: [wtt_abcdefghijkl], nomatch: [wtt_short] }
`);
  const before = (await health(a)).workers.map((w) => w.pid);
  // One request the upstream never answers: it holds its worker.
  const held = curl(a, 'https://api.test/hang?token=wtt_leakedsecret');
  const busy = await until(() => health(a), (h) => h.workers.some((w) => w.active === 1));
  const victim = busy.workers.find((w) => w.active === 1)!.pid;
  // Another client keeps making requests, before, during and after the kill.
  let stop = false;
  const codes: string[] = [];
  const other = (async () => {
    while (!stop) codes.push((await curl(a, 'https://api.test/echo?other')).stdout);
  })();
  await until(() => codes.length, (n) => n >= 3);
  process.kill(victim, 'SIGKILL');
  expect((await held).stdout).not.toBe('200');
  const after = await until(() => health(a), (h) => h.worker_restarts === 1 && h.workers.every((w) => w.ready));
  if (process.env.DEBUG_WORKERS) console.log(JSON.stringify(after), a.out(), a.stderr());
  const sinceRestart = codes.length;
  await until(() => codes.length, (n) => n >= sinceRestart + 5);
  stop = true;
  await other;
  expect(codes.length).toBeGreaterThanOrEqual(8);
  expect(codes.filter((c) => c !== '200')).toEqual([]);
  expect(after.workers.map((w) => w.pid)).not.toContain(victim);
  expect(after.workers.map((w) => w.pid)).toContain(before.find((p) => p !== victim));
  const cut = await until(() => flows(a).filter((f) => f.code === 'worker_exited'), (f) => f.length === 1);
  expect(cut).toEqual([expect.objectContaining({ decision: 'error', path: '/hang', host: 'api.test' })]);
  // What the supervisor records of the dead worker's request is sealed like any recorded head.
  expect(cut[0].query).toMatch(/^token=/);
  expect(cut[0].query).not.toContain('wtt_leakedsecret');
  // The replacement serves too.
  const replacement = after.workers.find((w) => !before.includes(w.pid))!.pid;
  for (let i = 0; i < 4; i++) await curl(a, `https://api.test/echo?after=${i}`);
  expect(await until(() => flows(a).filter((f) => pidOf(f.flow_id) === replacement).length, (n) => n > 0)).toBeGreaterThan(0);
});

it('limits.max_connections_per_client counts connections over all workers', async () => {
  const a = await start('limits: { max_connections_per_client: 3 }');
  const [host, port] = [a.proxy.split(':')[0], Number(a.proxy.split(':')[1])];
  const open = () =>
    new Promise<net.Socket>((resolve) => {
      const s = net.connect(port, host, () => resolve(s));
      s.on('error', () => {});
    });
  const held = [await open(), await open(), await open()];
  // Spread over both workers: a per-worker count would let a fourth in.
  const spread = await until(() => health(a), (h) => h.workers.reduce((n, w) => n + w.connections, 0) === 3);
  expect(spread.workers.map((w) => w.connections).sort()).toEqual([1, 2]);
  const fourth = await open();
  await new Promise<void>((resolve) => fourth.once('close', () => resolve()));
  const refused = await until(() => flows(a).filter((f) => f.code === 'connection_limit'), (f) => f.length === 1);
  expect(refused).toHaveLength(1);
  held[0].destroy();
  await until(() => health(a), (h) => h.workers.reduce((n, w) => n + w.connections, 0) === 2);
  expect((await curl(a, 'https://api.test/echo?fits')).stdout).toBe('200');
  for (const s of held) s.destroy();
});

it('limits.leaf_mints_per_minute is one budget over all workers', async () => {
  const a = await start('limits: { leaf_mints_per_minute: 2 }', ['api.test', 'a.api.test', 'b.api.test', 'c.api.test']);
  const codes: string[] = [];
  for (const h of ['a.api.test', 'b.api.test', 'c.api.test']) codes.push((await curl(a, `https://${h}/echo`)).stdout);
  // Three names on fresh connections go to both workers; each worker alone would mint all three.
  const served = await until(() => flows(a), (f) => f.length === 3);
  expect(new Set(served.map((f) => pidOf(f.flow_id))).size).toBe(2);
  expect(codes).toEqual(['200', '200', '000']);
  expect(served.filter((f) => f.code === 'leaf_mint_limit').map((f) => f.host)).toEqual(['c.api.test']);
});

it('SIGHUP reaches every worker: afterwards every request, on either worker, follows the new policy', async () => {
  const a = await start();
  expect((await curl(a, 'https://a.api.test/echo')).stdout).toBe('000');
  fs.writeFileSync(path.join(a.at, 'policy.yaml'), policy(a.admin, ['api.test', 'a.api.test'], ''));
  a.proc.kill('SIGHUP');
  await until(() => a.out(), (o) => o.includes('policy reloaded'));
  const since = up.seen.length;
  const codes: string[] = [];
  for (let i = 0; i < 6; i++) codes.push((await curl(a, `https://a.api.test/echo?r=${i}`)).stdout);
  expect(codes).toEqual(Array(6).fill('200'));
  expect(up.seen.slice(since).map((s) => s.headers['x-policy'])).toEqual(Array(6).fill(keyOf('a.api.test')));
  const served = flows(a).filter((f) => f.host === 'a.api.test' && f.decision === 'allow');
  expect(new Set(served.map((f) => pidOf(f.flow_id))).size).toBe(2);
});

it('SIGTERM drains every worker: a request in progress completes and is recorded, then all processes are gone', async () => {
  const a = await start();
  const pids = (await health(a)).workers.map((w) => w.pid);
  const slow = curl(a, 'https://api.test/slow?ms=1500');
  await until(() => health(a), (h) => h.workers.some((w) => w.active === 1));
  const exited = new Promise<number | null>((resolve) => a.proc.once('exit', (code) => resolve(code)));
  a.proc.kill('SIGTERM');
  expect((await slow).stdout).toBe('200');
  expect(await exited).toBe(0);
  expect(flows(a).filter((f) => f.path === '/slow')).toEqual([expect.objectContaining({ decision: 'allow' })]);
  for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  const verify = await run(process.execPath, [path.resolve('proxy/airlock.js'), 'flows', 'verify', '--config', path.join(a.at, 'policy.yaml')]);
  expect(verify.stdout).toMatch(/^ok: 1 flows verified/);
});

it('a base-URL route on a Unix socket (--network none) is served by the workers too', async () => {
  const a = await start(`routes:\n  - listen: unix:./api.sock\n    upstream: https://api.test\n`);
  const sock = path.join(a.at, 'api.sock');
  const codes: string[] = [];
  for (let i = 0; i < 4; i++) codes.push((await run('curl', ['-sS', '--max-time', '20', '--unix-socket', sock, '-o', '/dev/null', '-w', '%{http_code}', `http://api.test/echo?unix=${i}`])).stdout);
  expect(codes).toEqual(Array(4).fill('200'));
  const served = await until(() => flows(a).filter((f) => f.path === '/echo' && f.decision === 'allow'), (f) => f.length === 4);
  expect(new Set(served.map((f) => pidOf(f.flow_id))).size).toBe(2);
  expect(up.seen.filter((s) => s.url.startsWith('/echo?unix=')).map((s) => s.headers['x-policy'])).toEqual(Array(4).fill(keyOf('api.test')));
});

// The PostgreSQL store when PostgreSQL goes away, against a real `airlock start` process, a real
// HTTPS upstream and a PostgreSQL server of the test's own that it stops and starts: airlock keeps
// serving, keeps each flow in its local spool meanwhile, and replays the spool in order once the
// server is back, so every request the client saw complete is in PostgreSQL exactly once and the
// chain verifies (counted against the requests served, as test/integration/durability.test.ts
// does for SQLite). A full spool is an alarmed state (metric, log line) where store.on_unavailable
// decides; a spool left by a stop while the server was down is replayed at the next start.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { tempDir } from '../helpers/airlock.ts';
import { makeUpstreamPki, type UpstreamPki } from '../helpers/certs.ts';
import { BIN, children, startCli } from '../helpers/cli.ts';
import { eventually, type Instance, metric, metricsOf, startInstance } from '../helpers/fleet.ts';
import { type Load, startLoad } from '../helpers/load.ts';
import { PG_PASSWORD, startPostgres, type TestDatabase, type TestPostgres } from '../helpers/postgres.ts';
import { run } from '../helpers/run.ts';
import { loopbackIp, startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const HOST = 'load.test';
/** The load's length; PostgreSQL is down for about a third of it. */
const SECONDS = Number(process.env.AIRLOCK_PG_DURABILITY_SECONDS ?? 12);

let cluster: TestPostgres;
let up: TestUpstream;
let pki: UpstreamPki;
let ip: string;
let pkiDir: string;
const loads: Load[] = [];
const timers: NodeJS.Timeout[] = [];
const instances: Instance[] = [];
const dbs: TestDatabase[] = [];

beforeAll(async () => {
  cluster = await startPostgres();
  ip = loopbackIp();
  pkiDir = tempDir();
  pki = makeUpstreamPki(path.join(pkiDir, 'pki'), [HOST]);
  up = await startUpstream({ tls: pki, host: ip, port: 443 });
});

afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  if (!cluster.running()) await cluster.start();
  for (const i of instances.splice(0)) await i.close().catch(() => {});
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await Promise.all(loads.splice(0).map((l) => l.done));
  for (const d of dbs.splice(0)) await d.drop();
});

afterAll(async () => {
  await up?.close();
  cluster?.destroy();
  if (pkiDir) fs.rmSync(pkiDir, { recursive: true, force: true });
});

const policy = () => `upstream:
  ca_files: [${pki.caCert}]
  resolve: { ${HOST}: ${ip} }
hosts:
  - match: ${HOST}
`;

async function instance(db: TestDatabase, more: Partial<Parameters<typeof startInstance>[0]> = {}): Promise<Instance> {
  const i = await startInstance({ name: 'pod-a', pgUrl: db.url, policy: policy(), ...more });
  instances.push(i);
  return i;
}

function load(a: Instance, connections: number, durationMs: number, extra: Partial<Parameters<typeof startLoad>[0]> = {}): Load {
  const l = startLoad({ proxyUrl: a.proxyUrl, caPem: a.caPem, origin: `https://${HOST}`, path: '/echo', connections, durationMs, maxRequests: 400_000, ...extra });
  loads.push(l);
  timers.push(setInterval(() => (up.seen.length = 0), 500));
  return l;
}

/** The load host's flows in PostgreSQL: request id (?i=N) -> its row. */
async function stored(db: TestDatabase): Promise<Map<number, { id: number; status: number | null; decision: string; started_at: number }>> {
  const rows = await db.query<{ id: number; query: string | null; status: number | null; decision: string; started_at: string }>(
    'SELECT id, query, status, decision, started_at FROM airlock.flows WHERE host = $1',
    [HOST],
  );
  const byId = new Map<number, { id: number; status: number | null; decision: string; started_at: number }>();
  const odd: string[] = [];
  for (const r of rows) {
    const n = Number(/^i=(\d+)$/.exec(r.query ?? '')?.[1]);
    if (!Number.isInteger(n)) odd.push(`unexpected query ${r.query}`);
    else if (byId.has(n)) odd.push(`request ${n} recorded twice`);
    else byId.set(n, { id: Number(r.id), status: r.status, decision: r.decision, started_at: Number(r.started_at) });
  }
  expect(odd).toEqual([]);
  return byId;
}

/** `airlock flows verify` over the store, with only a store section and the URL in the environment. */
async function verify(db: TestDatabase): Promise<{ code: number | null; out: string }> {
  const dir = tempDir('airlock-verify-');
  fs.writeFileSync(path.join(dir, 'policy.yaml'), 'store:\n  postgres:\n    url: env:AIRLOCK_PG_URL\n');
  const r = await run(process.execPath, [BIN, 'flows', 'verify', '--config', path.join(dir, 'policy.yaml')], { env: { AIRLOCK_PG_URL: db.url } });
  fs.rmSync(dir, { recursive: true, force: true });
  return { code: r.code, out: r.stdout + r.stderr };
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

it(
  `PostgreSQL stopped under load for a while: airlock keeps serving, spools, replays in order; every request the client completed is in PostgreSQL once`,
  async () => {
    const db = await cluster.createDatabase();
    dbs.push(db);
    const a = await instance(db);
    const l = load(a, 32, SECONDS * 1000);
    let downSeen = false;
    let maxSpool = 0;
    timers.push(
      setInterval(() => {
        metricsOf(a)
          .then((t) => {
            if (metric(t, 'airlock_store_postgres_up') === 0) downSeen = true;
            maxSpool = Math.max(maxSpool, metric(t, 'airlock_store_spool_flows') || 0);
          })
          .catch(() => {});
      }, 200),
    );
    await wait((SECONDS * 1000) / 4);
    const stopAt = Date.now();
    await cluster.stop('fast');
    await wait((SECONDS * 1000) / 3);
    const restartAt = Date.now();
    await cluster.start();
    await l.done;
    // The spool drains once the server is back.
    await eventually(async () => metric(await metricsOf(a), 'airlock_store_spool_flows') === 0 && metric(await metricsOf(a), 'airlock_store_postgres_up') === 1, 60_000, 'the spool replayed');
    a.proc.kill('SIGTERM');
    expect(await a.exited, a.err()).toEqual({ code: 0, signal: null });

    const flows = await stored(db);
    const allowed = [...flows.values()].filter((f) => f.decision === 'allow').length;
    console.log(
      `PostgreSQL down ${((restartAt - stopAt) / 1000).toFixed(1)} s under load: ${l.completed.size} requests completed (${l.issued()} issued), ` +
        `${flows.size} flows in PostgreSQL, spool up to ${maxSpool} flows`,
    );
    expect(downSeen).toBe(true);
    expect(maxSpool).toBeGreaterThan(0);
    expect(a.out()).toContain('"msg":"PostgreSQL cannot take writes: flows are spooled locally and replayed in order once it can"');
    expect(a.out()).toContain('"msg":"PostgreSQL spool replayed: every spooled flow is in PostgreSQL"');
    // Kept serving: no request failed, and no flow was dropped or refused.
    expect(l.errors).toEqual([]);
    expect(a.out()).not.toMatch(/"msg":"flow(s in the backlog| store cannot| writer)/);
    expect(l.completed.size).toBe(l.issued());
    expect(allowed).toBe(l.completed.size);
    expect(flows.size).toBe(l.completed.size);
    expect([...l.completed.keys()].filter((id) => flows.get(id)?.status !== 200)).toEqual([]);
    // In order: flows that started before the outage come before those spooled during it, which
    // come before those recorded after it.
    const idsIn = (from: number, to: number) => [...flows.values()].filter((f) => f.started_at >= from && f.started_at < to).map((f) => f.id);
    const before = idsIn(0, stopAt - 1000);
    const during = idsIn(stopAt + 1000, restartAt - 1000);
    const after = idsIn(restartAt + 3000, Infinity);
    expect(before.length * during.length * after.length).toBeGreaterThan(0);
    expect(Math.max(...before)).toBeLessThan(Math.min(...during));
    expect(Math.max(...during)).toBeLessThan(Math.min(...after));
    const v = await verify(db);
    expect(v.code, v.out).toBe(0);
    expect(v.out).toContain(`ok: ${flows.size} flows verified`);
    expect(a.out() + a.err()).not.toContain(PG_PASSWORD);
  },
  SECONDS * 1000 + 120_000,
);

it('PostgreSQL slow to answer (another session holds a lock on the flows table): requests keep being served, the waiting flows are spooled, each flow ends up stored once', async () => {
  const db = await cluster.createDatabase();
  dbs.push(db);
  const a = await instance(db);
  expect((await a.send(`https://${HOST}/echo?i=999999`)).status).toBe(200);
  await eventually(async () => (await db.query('SELECT 1 FROM airlock.flows')).length === 1, 20_000, 'the first flow');
  const l = load(a, 8, 12_000);
  await wait(1500);
  const pgm = await import('pg');
  const holder = new pgm.default.Client({ connectionString: db.url });
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query('LOCK TABLE airlock.flows IN EXCLUSIVE MODE');
  const lockedAt = l.completed.size;
  let spooled = 0;
  // Longer than a write may take before it counts as slow (5 s).
  for (let t = 0; t < 32; t++) {
    await wait(250);
    spooled = Math.max(spooled, metric(await metricsOf(a), 'airlock_store_spool_flows') || 0);
  }
  const servedWhileLocked = l.completed.size - lockedAt;
  await holder.query('COMMIT');
  await holder.end();
  await l.done;
  await eventually(async () => metric(await metricsOf(a), 'airlock_store_spool_flows') === 0, 60_000, 'the spool replayed');
  // The write that was slow went through, and its spooled copy too: each flow was written once,
  // none refused as a duplicate.
  expect(await metricsOf(a)).toMatch(/^airlock_store_dropped_flows_total\{cause="rejected"\} 0$/m);
  await a.close();
  expect(a.out()).not.toContain('flow store rejected flows');
  expect(l.errors).toEqual([]);
  expect(servedWhileLocked).toBeGreaterThan(0);
  expect(spooled).toBeGreaterThan(0);
  const flows = await stored(db); // a flow stored twice fails here
  expect(flows.size).toBe(l.completed.size + 1);
  expect([...l.completed.keys()].filter((id) => !flows.has(id))).toEqual([]);
  expect((await verify(db)).code).toBe(0);
});

it('a full spool is an alarmed state (metric, log line): requests are refused (store.on_unavailable: refuse) until PostgreSQL is back; no flow served is lost', async () => {
  const db = await cluster.createDatabase();
  dbs.push(db);
  const a = await instance(db, { postgres: '    spool: { max_bytes: 1MiB }\n' });
  expect((await a.send(`https://${HOST}/echo?i=0`)).status).toBe(200);
  await cluster.stop('fast');
  // 64 KiB bodies: the 1 MiB spool fills after about 16 of them.
  const body = 'x'.repeat(64 * 1024);
  const served: number[] = [];
  let refused: { status: number; body: string } | undefined;
  for (let i = 1; i < 200 && !refused; i++) {
    const r = await a.send(`https://${HOST}/upload?i=${i}`, { method: 'POST', body, headers: { 'content-type': 'text/plain' } });
    if (r.status === 200) served.push(i);
    else refused = r;
  }
  expect(refused?.status).toBe(503);
  expect(JSON.parse(refused!.body)).toMatchObject({ error: 'audit_store_unavailable' });
  expect(served.length).toBeGreaterThan(5);
  const m = await metricsOf(a);
  expect(metric(m, 'airlock_store_spool_full')).toBe(1);
  expect(metric(m, 'airlock_store_unavailable')).toBe(1);
  expect(metric(m, 'airlock_store_postgres_up')).toBe(0);
  expect(m).toMatch(/^airlock_store_write_failures_total\{kind="spool_full"\} [1-9]/m);
  expect(a.out()).toContain('"msg":"PostgreSQL spool cannot take more flows","kind":"spool_full"');
  expect(a.out()).toContain('"msg":"flow store cannot write: refusing new requests (503) until it can","kind":"spool_full"');

  await cluster.start();
  await eventually(async () => (await a.send(`https://${HOST}/echo?i=999`)).status === 200, 60_000, 'requests served again');
  await eventually(async () => metric(await metricsOf(a), 'airlock_store_spool_flows') === 0, 30_000, 'the spool replayed');
  await a.close();
  const flows = await db.query<{ query: string }>('SELECT query FROM airlock.flows WHERE host = $1 AND decision = $2', [HOST, 'allow']);
  const recorded = new Set(flows.map((f) => Number(/i=(\d+)/.exec(f.query)![1])));
  expect(served.filter((i) => !recorded.has(i))).toEqual([]);
  expect(recorded.has(0) && recorded.has(999)).toBe(true);
  expect((await verify(db)).code).toBe(0);
});

it('airlock stopped while PostgreSQL is down: the spool stays on disk and is replayed at the next start', async () => {
  const db = await cluster.createDatabase();
  dbs.push(db);
  const a = await instance(db);
  expect((await a.send(`https://${HOST}/echo?i=0`)).status).toBe(200);
  await eventually(async () => (await db.query('SELECT 1 FROM airlock.flows')).length === 1, 20_000, 'the first flow');
  await cluster.stop('fast');
  for (let i = 1; i <= 20; i++) expect((await a.send(`https://${HOST}/echo?i=${i}`)).status).toBe(200);
  a.proc.kill('SIGTERM');
  expect(await a.exited).toEqual({ code: 0, signal: null });
  const spool = path.join(a.dir, 'pg-spool.sqlite') // the data dir defaults to the policy's directory;
  expect(fs.existsSync(spool)).toBe(true);
  expect(fs.statSync(spool).mode & 0o777).toBe(0o600);

  await cluster.start();
  // The same instance started again on its data dir (as a restarted pod keeps its volume).
  const restarted = await restartIn(a.dir, db);
  await eventually(async () => Number((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM airlock.flows WHERE host = $1', [HOST]))[0].n) === 21, 30_000, 'all 21 flows');
  expect(restarted.out()).toContain('"msg":"PostgreSQL spool from an earlier run found: replaying it first","spool_flows":20');
  await eventually(() => !fs.existsSync(spool), 10_000, 'the spool file removed once replayed');
  expect((await verify(db)).code).toBe(0);
});

/** `airlock start` again in the same directory (its data dir, spool included). */
async function restartIn(dir: string, db: TestDatabase): Promise<Instance> {
  const { proc, banner } = await startCli(['--config', 'policy.yaml'], dir, { AIRLOCK_PG_URL: db.url });
  let out = banner;
  proc.stdout!.on('data', (c) => (out += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const i = {
    out: () => out,
    close: async () => {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await exited;
      }
    },
  } as unknown as Instance;
  instances.push(i);
  return i;
}

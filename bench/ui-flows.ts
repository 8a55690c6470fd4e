// Response times of the web UI's pages over a store of 1,000,000 flows: the real listener
// (web-ui/server.ts), a logged-in session, the whole HTML read by an HTTP client, against a
// baseline in the same run: the same listener answering a static file (/static/ui.css).
// The store is filled as bench/search.ts fills it (the writer thread's own batch code: hash chain
// and full-text rows; a month of traffic with one hot host and a long tail; small JSON bodies),
// ending now, plus DLP findings on 1 flow in 200.
// --postgres: the same flows in PostgreSQL (pg/batch.cjs, the fleet's store), read through the
// PostgreSQL reader: a throw-away cluster with PostgreSQL's default settings, or the database at
// AIRLOCK_BENCH_PG_URL (its schema "airlock_bench" is made anew, or reused with AIRLOCK_BENCH_STORE=keep).
// Run: npx tsx bench/ui-flows.ts [flows, default 1000000] [--postgres]
// AIRLOCK_BENCH_STORE=FILE keeps the filled SQLite store in FILE and reuses it on the next run.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { request } from 'undici';
import { pgReader } from '../proxy/store/pg/reader.ts';
import type { FlowReader } from '../proxy/store/reader.ts';
import { COLUMNS, STORED_COLUMNS } from '../proxy/store/rows.ts';
import { migrate } from '../proxy/store/schema.ts';
import { sqliteReader } from '../proxy/store/sqlite-reader.ts';
import { startPostgres, type TestPostgres } from '../test/helpers/postgres.ts';
import { uiLogin } from '../test/helpers/ui.ts';
import { createUiServer } from '../web-ui/server.ts';
import { ensureUiToken } from '../web-ui/token.ts';
import { fillMonth, monthBatches } from './month.ts';

const POSTGRES = process.argv.includes('--postgres');
const N = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 1_000_000);
const REPS = 20;
const TARGET_MS = 200;
const PG_SCHEMA = 'airlock_bench';

/** The month of bench/search.ts (same generator and seed), ending now, plus DLP findings on 1 flow in 200. */
function fill(db: Database.Database, n: number): void {
  fillMonth(db, n, Date.now() - 30 * 86_400_000);
  // DLP findings on 1 flow in 200 (the findings table is filled by the scanner; here directly).
  const add = db.prepare("INSERT INTO findings (flow_id, rule_id, location, action, preview) VALUES (?, ?, 'request body@12', 'log', 'sk-ant-…Qx4A')");
  db.transaction(() => {
    for (let id = 1; id <= n; id += 200) add.run(id, id % 400 === 1 ? 'anthropic-api-key' : 'aws-access-key-id');
  })();
}

/** The same month in PostgreSQL, written by the PostgreSQL writer's batch code; then ANALYZE, as autovacuum would. */
async function fillPg(url: string, n: number): Promise<void> {
  const load = createRequire(import.meta.url);
  const { createPool } = load('../proxy/store/pg/connect.cjs');
  const { migrate: migratePg } = load('../proxy/store/pg/schema.cjs');
  const { createPgBatchWriter } = load('../proxy/store/pg/batch.cjs');
  const pool: pg.Pool = createPool({ url, schema: PG_SCHEMA, max: 1, name: 'bench fill' });
  await pool.query(`DROP SCHEMA IF EXISTS ${PG_SCHEMA} CASCADE`);
  await migratePg(pool, PG_SCHEMA, 'bench');
  const write = createPgBatchWriter({ schema: PG_SCHEMA, instance: 'bench', columns: STORED_COLUMNS, hashed: COLUMNS.length });
  const c = await pool.connect();
  let done = 0;
  for (const b of monthBatches(n, Date.now() - 30 * 86_400_000, 1000)) {
    await write(c, b.rows, b.metas, b.blob);
    done += b.rows.length;
    if (done % 100_000 === 0) process.stdout.write(`  ${done.toLocaleString('en-US')} flows\n`);
  }
  await c.query(
    "INSERT INTO findings (flow_id, rule_id, location, action, preview) SELECT id, CASE WHEN id % 400 = 1 THEN 'anthropic-api-key' ELSE 'aws-access-key-id' END, 'request body@12', 'log', 'sk-ant-…Qx4A' FROM flows WHERE id % 200 = 1",
  );
  c.release();
  await pool.query('VACUUM ANALYZE');
  await pool.end();
}

// ---------------------------------------------------------------------------------------------

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-ui-'));
let server: ReturnType<typeof createUiServer> | undefined;
let cluster: TestPostgres | undefined;
let count: (sqliteWhere: string, pgWhere?: string) => Promise<number>;
let reader: FlowReader;
let closeCount = async () => {};
try {
  if (POSTGRES) {
    cluster = process.env.AIRLOCK_BENCH_PG_URL ? undefined : await startPostgres(undefined, { durable: true });
    const url = process.env.AIRLOCK_BENCH_PG_URL ?? cluster!.url('postgres');
    const t0 = performance.now();
    if (process.env.AIRLOCK_BENCH_STORE !== 'keep') await fillPg(url, N);
    const s = (performance.now() - t0) / 1000;
    const q = new pg.Pool({ connectionString: url, max: 1, options: `-c search_path=${PG_SCHEMA}` });
    const size = Number((await q.query(`SELECT pg_database_size(current_database()) AS b`)).rows[0].b);
    const version = (await q.query('SHOW server_version')).rows[0].server_version;
    console.log(
      `node ${process.version}; PostgreSQL ${version}; filled ${N.toLocaleString('en-US')} flows in ${s.toFixed(1)} s (${Math.round(N / s).toLocaleString('en-US')} flows/s, pg/batch.cjs, 1000 a batch); database ${(size / 2 ** 20).toFixed(0)} MiB; ${os.cpus().length} CPUs`,
    );
    count = async (w, pw) => Number((await q.query(`SELECT count(*) AS n FROM flows WHERE ${pw ?? w}`)).rows[0].n);
    closeCount = () => q.end();
    reader = pgReader({ url, schema: PG_SCHEMA, max: 4 });
  } else {
    const kept = process.env.AIRLOCK_BENCH_STORE;
    const file = kept ? path.resolve(kept) : path.join(tmp, 'flows.sqlite');
    if (kept && fs.existsSync(file)) {
      console.log(`node ${process.version}; reusing ${file} (${(fs.statSync(file).size / 2 ** 20).toFixed(0)} MiB); ${os.cpus().length} CPUs`);
    } else {
      const db = new Database(file);
      db.pragma('page_size = 16384');
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = OFF'); // filling only
      db.pragma('foreign_keys = ON');
      migrate(db);
      const t0 = performance.now();
      fill(db, N);
      const s = (performance.now() - t0) / 1000;
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
      console.log(
        `node ${process.version}; filled ${N.toLocaleString('en-US')} flows in ${s.toFixed(1)} s; ${(fs.statSync(file).size / 2 ** 20).toFixed(0)} MiB; ${os.cpus().length} CPUs`,
      );
    }
    const db = new Database(file, { readonly: true });
    count = async (w) => (db.prepare(`SELECT count(*) AS n FROM flows WHERE ${w}`).get() as { n: number }).n;
    closeCount = async () => void db.close();
    reader = sqliteReader(file);
  }

  const { token } = ensureUiToken(tmp);
  server = createUiServer({ reader, dataDir: tmp });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const session = await uiLogin(base, token!);

  const get = async (p: string): Promise<{ status: number; bytes: number }> => {
    const r = await request(`${base}${p}`, { headers: { cookie: session.cookie } });
    const body = Buffer.from(await r.body.arrayBuffer());
    return { status: r.statusCode, bytes: body.length };
  };
  const time = async (p: string) => {
    const first = performance.now();
    const warm = await get(p); // the first request opens the store and compiles the statements
    const cold = performance.now() - first;
    if (warm.status !== 200) throw new Error(`${p}: status ${warm.status}`);
    const times: number[] = [];
    for (let i = 0; i < REPS; i++) {
      const t0 = performance.now();
      await get(p);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return { median: times[Math.floor(REPS / 2)], max: times[REPS - 1], cold, bytes: warm.bytes };
  };

  const midId = Math.floor(N / 2);
  const hostMid = (await reader.list({ host: 'github.com', after: midId }, { order: 'ASC', limit: 1 }))[0].id;
  const cases: [string, string, string][] = [
    ['flows page, newest, no filter', '/flows', `${N}`],
    ['host = api.anthropic.com (hot)', '/flows?host=api.anthropic.com', `${await count("host = 'api.anthropic.com'")}`],
    ['host = svc-417.example.com (tail)', '/flows?host=svc-417.example.com', `${await count("host = 'svc-417.example.com'")}`],
    ['decision = deny', '/flows?decision=deny', `${await count("decision = 'deny'")}`],
    ['host = github.com, decision = deny', '/flows?host=github.com&decision=deny', `${await count("host = 'github.com' AND decision = 'deny'")}`],
    ['host glob *.example.com', `/flows?host=${encodeURIComponent('*.example.com')}`, `${await count("host GLOB '*.example.com'", "host LIKE '%.example.com'")}`],
    ['text = invoice (~1%)', '/flows?text=invoice', '-'],
    ['with DLP findings', '/flows?has_finding=1', `${await count('id IN (SELECT flow_id FROM findings)')}`],
    ['since 1h', '/flows?since=1h', '-'],
    ['older page (before = middle)', `/flows?before=${midId}`, '-'],
    ['older page, host = github.com, mid-table', `/flows?host=github.com&before=${hostMid}`, '-'],
    ['flow detail', `/flows/${midId}`, '-'],
    ['text = json (every flow)', '/flows?text=json', `${N}`],
    ['text = json, older page (before = middle)', `/flows?text=json&before=${midId}`, '-'],
    ['text = json, host = svc-417.example.com', '/flows?text=json&host=svc-417.example.com', `${await count("host = 'svc-417.example.com'")}`],
    ['text = json, host with no flows (worst case)', '/flows?text=json&host=none.example.com', '0'],
  ];
  const other: [string, string][] = [
    ['hosts overview (24h)', '/hosts'],
    ['findings overview', '/findings'],
    ['stats (1h)', '/stats'],
    ['stats (24h)', '/stats?since=24h'],
  ];
  await closeCount();

  const baseline = await time('/static/ui.css');
  console.log(`\nGET over HTTP, whole body read; median and max of ${REPS} after one cold request (ms)`);
  console.log(`${'page'.padEnd(44)} ${'matching'.padStart(9)} ${'KiB'.padStart(6)} ${'cold'.padStart(8)} ${'median'.padStart(8)} ${'max'.padStart(8)}  ratio`);
  const line = (label: string, matching: string, t: Awaited<ReturnType<typeof time>>) =>
    console.log(
      `${label.padEnd(44)} ${matching.padStart(9)} ${(t.bytes / 1024).toFixed(0).padStart(6)} ${t.cold.toFixed(1).padStart(8)} ${t.median.toFixed(2).padStart(8)} ${t.max.toFixed(2).padStart(8)}  ${(t.median / baseline.median).toFixed(1)}x`,
    );
  line('baseline: /static/ui.css', '-', baseline);
  let worst = 0;
  for (const [label, p, matching] of cases) {
    const t = await time(p);
    worst = Math.max(worst, t.median);
    line(label, matching, t);
  }
  console.log('\nother pages');
  for (const [label, p] of other) line(label, '-', await time(p));
  console.log(`\nslowest flows page (median): ${worst.toFixed(1)} ms; target < ${TARGET_MS} ms: ${worst < TARGET_MS ? 'met' : 'NOT met'}`);
} finally {
  await new Promise<void>((r) => (server ? (server.closeAllConnections(), server.close(() => r())) : r()));
  cluster?.destroy();
  fs.rmSync(tmp, { recursive: true, force: true });
}

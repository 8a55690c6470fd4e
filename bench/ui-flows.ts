// Response times of the web UI's pages over a store of 1,000,000 flows: the real listener
// (web-ui/server.ts), a logged-in session, the whole HTML read by an HTTP client, against a
// baseline in the same run: the same listener answering a static file (/static/ui.css).
// The store is filled as bench/search.ts fills it (the writer thread's own batch code: hash chain
// and flows_fts rows; a month of traffic with one hot host and a long tail; small JSON bodies),
// ending now, plus DLP findings on 1 flow in 200.
// Run: npx tsx bench/ui-flows.ts [flows, default 1000000]
// AIRLOCK_BENCH_STORE=FILE keeps the filled store in FILE and reuses it on the next run.
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { request } from 'undici';
import { migrate } from '../proxy/store/schema.ts';
import { uiLogin } from '../test/helpers/ui.ts';
import { sqliteReader } from '../proxy/store/sqlite-reader.ts';
import { createUiServer } from '../web-ui/server.ts';
import { ensureUiToken } from '../web-ui/token.ts';
import { fillMonth } from './month.ts';

const N = Number(process.argv[2] ?? 1_000_000);
const REPS = 20;
const TARGET_MS = 200;

/** The month of bench/search.ts (same generator and seed), ending now, plus DLP findings on 1 flow in 200. */
function fill(db: Database.Database, n: number): void {
  fillMonth(db, n, Date.now() - 30 * 86_400_000);
  // DLP findings on 1 flow in 200 (the findings table is filled by the scanner; here directly).
  const add = db.prepare("INSERT INTO findings (flow_id, rule_id, location, action, preview) VALUES (?, ?, 'request body@12', 'log', 'sk-ant-…Qx4A')");
  db.transaction(() => {
    for (let id = 1; id <= n; id += 200) add.run(id, id % 400 === 1 ? 'anthropic-api-key' : 'aws-access-key-id');
  })();
}

// ---------------------------------------------------------------------------------------------

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-ui-'));
let server: ReturnType<typeof createUiServer> | undefined;
try {
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

  const { token } = ensureUiToken(tmp);
  server = createUiServer({ reader: sqliteReader(file), dataDir: tmp });
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

  const db = new Database(file, { readonly: true });
  const midId = Math.floor(N / 2);
  const hostMid = (db.prepare("SELECT id FROM flows WHERE host = 'github.com' AND id > ? ORDER BY id LIMIT 1").get(midId) as { id: number }).id;
  const count = (where: string) => (db.prepare(`SELECT count(*) AS n FROM flows WHERE ${where}`).get() as { n: number }).n;
  const cases: [string, string, string][] = [
    ['flows page, newest, no filter', '/flows', `${N}`],
    ['host = api.anthropic.com (hot)', '/flows?host=api.anthropic.com', `${count("host = 'api.anthropic.com'")}`],
    ['host = svc-417.example.com (tail)', '/flows?host=svc-417.example.com', `${count("host = 'svc-417.example.com'")}`],
    ['decision = deny', '/flows?decision=deny', `${count("decision = 'deny'")}`],
    ['host = github.com, decision = deny', '/flows?host=github.com&decision=deny', `${count("host = 'github.com' AND decision = 'deny'")}`],
    ['host glob *.example.com', `/flows?host=${encodeURIComponent('*.example.com')}`, `${count("host GLOB '*.example.com'")}`],
    ['text = invoice (~1%)', '/flows?text=invoice', '-'],
    ['with DLP findings', '/flows?has_finding=1', `${count('id IN (SELECT flow_id FROM findings)')}`],
    ['since 1h', '/flows?since=1h', '-'],
    ['older page (before = middle)', `/flows?before=${midId}`, '-'],
    ['older page, host = github.com, mid-table', `/flows?host=github.com&before=${hostMid}`, '-'],
    ['flow detail', `/flows/${midId}`, '-'],
    ['text = json (every flow)', '/flows?text=json', `${N}`],
    ['text = json, older page (before = middle)', `/flows?text=json&before=${midId}`, '-'],
    ['text = json, host = svc-417.example.com', '/flows?text=json&host=svc-417.example.com', `${count("host = 'svc-417.example.com'")}`],
    ['text = json, host with no flows (worst case)', '/flows?text=json&host=none.example.com', '0'],
  ];
  const other: [string, string][] = [
    ['hosts overview (24h)', '/hosts'],
    ['findings overview', '/findings'],
    ['stats (1h)', '/stats'],
    ['stats (24h)', '/stats?since=24h'],
  ];
  db.close();

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
  fs.rmSync(tmp, { recursive: true, force: true });
}

// Query times of the flows page over a store of 1,000,000 flows, through proxy/store/search.ts
// (the same searchFlows() that `airlock flows list` uses), against a baseline in the same run: a
// plain `SELECT ... ORDER BY id DESC LIMIT 50` on the same table.
// The store is filled with the writer thread's own batch code (proxy/store/batch.cjs via
// batch.ts: hash chain and flows_fts rows as airlock writes them), small JSON bodies.
// Run: npx tsx bench/search.ts [flows, default 1000000]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { type Flow, newFlow } from '../proxy/flow.ts';
import { type BodyMeta, createBatchWriter } from '../proxy/store/batch.ts';
import { COLUMNS, NO_LLM, STORED_COLUMNS, toRow } from '../proxy/store/rows.ts';
import { migrate, SCHEMA_VERSION } from '../proxy/store/schema.ts';
import { type FlowFilter, searchFlows } from '../proxy/store/search.ts';

const N = Number(process.argv[2] ?? 1_000_000);
const BATCH = 200; // the writer's batch size (writer.ts BATCH)
const REPS = 20;
const LIMIT = 50;
/** The columns `airlock flows list` reads (flows-cli.ts list()). */
const LIST_COLUMNS = 'id, started_at, decision, status, method, scheme, host, port, path, query, code';

// ---------------------------------------------------------------------------------------------
// A month of traffic: a few hot API hosts and a long tail, mostly allowed.

// mulberry32: deterministic, and (unlike a bare LCG) its consecutive draws are not correlated.
let seed = 12345;
const rand = () => {
  let t = (seed = (seed + 0x6d2b79f5) | 0);
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const TAIL = Array.from({ length: 500 }, (_, k) => `svc-${k}.example.com`);
const VOCAB = Array.from({ length: 5_000 }, (_, k) => `term${k.toString(36)}`);
/** In about 1 flow in 10,000 (request body). */
const RARE_WORD = 'quetzalcoatl';
/** In about 1 flow in 100 (response body). */
const COMMON_WORD = 'invoice';
const T0 = Date.parse('2026-11-01T00:00:00Z');
const SPAN = 30 * 86_400_000;

function pickHost(): string {
  const r = rand();
  if (r < 0.3) return 'api.anthropic.com';
  if (r < 0.4) return 'api.openai.com';
  if (r < 0.5) return 'github.com';
  if (r < 0.55) return 'packages.example.net';
  return TAIL[Math.floor(rand() * TAIL.length)];
}

function pickDecision(): Flow['decision'] {
  const r = rand();
  return r < 0.9 ? 'allow' : r < 0.96 ? 'deny' : r < 0.99 ? 'error' : 'refuse';
}

function makeFlow(i: number): { row: unknown[]; request: Buffer | null; response: Buffer | null } {
  const host = pickHost();
  const decision = pickDecision();
  const post = rand() < 0.4;
  const allowed = decision === 'allow';
  const flow = newFlow({
    entry: 'explicit',
    listener: '127.0.0.1:8080',
    client: '127.0.0.1:40000',
    startedAt: T0 + Math.floor((i / N) * SPAN),
    method: post ? 'POST' : 'GET',
    scheme: 'https',
    host,
    port: 443,
    path: `/v1/${VOCAB[Math.floor(rand() * 200)]}/${i}`,
    query: rand() < 0.3 ? `page=${i % 10}` : undefined,
    status: allowed ? (rand() < 0.95 ? 200 : 404) : decision === 'error' ? 502 : 403,
    decision,
    ruleId: allowed ? host : undefined,
    code: allowed ? undefined : decision === 'deny' ? 'host_not_allowed' : decision === 'error' ? 'upstream_connect' : 'bad_tls',
    requestHeaders: { host, 'user-agent': 'agent-sdk/1.4.2', accept: 'application/json', 'x-request-id': `r${i.toString(36)}` },
    responseHeaders: allowed ? { 'content-type': 'application/json', 'cache-control': 'no-store' } : { 'content-type': 'application/json' },
    bytesUp: 0,
    bytesDown: 0,
    ttfbMs: 12.5,
    totalMs: 20.1,
  });
  const words = (n: number) => Array.from({ length: n }, () => VOCAB[Math.floor(rand() * VOCAB.length)]).join(' ');
  const request = allowed && post ? Buffer.from(JSON.stringify({ prompt: `${words(8)}${rand() < 0.0001 ? ` ${RARE_WORD}` : ''}` })) : null;
  const response = allowed ? Buffer.from(JSON.stringify({ result: `${words(12)}${rand() < 0.01 ? ` ${COMMON_WORD}` : ''}` })) : null;
  return { row: [...toRow(flow), ...NO_LLM], request, response };
}

function fill(db: Database.Database, n: number): void {
  const write = createBatchWriter(db, STORED_COLUMNS, COLUMNS.length);
  for (let from = 0; from < n; from += BATCH) {
    const rows: unknown[][] = [];
    const metas: BodyMeta[] = [];
    const parts: Buffer[] = [];
    let offset = 0;
    for (let i = from; i < Math.min(n, from + BATCH); i++) {
      const { row, request, response } = makeFlow(i);
      rows.push(row);
      for (const [direction, data] of [['request', request], ['response', response]] as const) {
        if (!data) continue;
        metas.push([i - from, direction, 'application/json', null, data.length, 0, offset, data.length]);
        parts.push(data);
        offset += data.length;
      }
    }
    write(rows, metas, Buffer.concat(parts));
  }
}

// ---------------------------------------------------------------------------------------------

function timeIt(fn: () => unknown[]): { ms: number; rows: number } {
  fn(); // warm: statement compiled once, pages in the cache (as for a page someone keeps open)
  const times: number[] = [];
  let rows = 0;
  for (let r = 0; r < REPS; r++) {
    const t0 = performance.now();
    rows = fn().length;
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(REPS / 2)], rows };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-search-'));
try {
  const file = path.join(tmp, 'flows.sqlite');
  {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = OFF'); // filling only; the queries below do not depend on it
    db.pragma('foreign_keys = ON');
    migrate(db);
    const t0 = performance.now();
    fill(db, N);
    const s = (performance.now() - t0) / 1000;
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    console.log(`node ${process.version}; filled ${N.toLocaleString('en-US')} flows in ${s.toFixed(1)} s (${Math.round(N / s).toLocaleString('en-US')} flows/s, batch.cjs on one thread); ${(fs.statSync(file).size / 2 ** 20).toFixed(0)} MiB`);
  }

  // Opened as `airlock flows` opens it: read-only.
  const db = new Database(file, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  if (db.pragma('user_version', { simple: true }) !== SCHEMA_VERSION) throw new Error('schema version');
  const count = (where: string, ...p: unknown[]) => (db.prepare(`SELECT count(*) AS n FROM flows ${where}`).get(...p) as { n: number }).n;
  const ftsCount = (w: string) => (db.prepare('SELECT count(*) AS n FROM flows_fts WHERE flows_fts MATCH ?').get(`"${w}"`) as { n: number }).n;

  const baselineStmt = db.prepare(`SELECT ${LIST_COLUMNS} FROM flows ORDER BY id DESC LIMIT ${LIMIT}`);
  const baseline = timeIt(() => baselineStmt.all());

  const page1 = searchFlows<{ id: number }>(db, { after: 0 }, LIMIT, LIST_COLUMNS);
  const hostPage1 = searchFlows<{ id: number }>(db, { host: 'github.com', after: Math.floor(N / 2) }, LIMIT, LIST_COLUMNS);
  const cases: [string, FlowFilter, string][] = [
    ['newest 50, no filter', {}, `${N}`],
    ['host = api.anthropic.com (hot)', { host: 'api.anthropic.com' }, `${count('WHERE host = ?', 'api.anthropic.com')}`],
    ['host = svc-417.example.com (tail)', { host: 'svc-417.example.com' }, `${count('WHERE host = ?', 'svc-417.example.com')}`],
    ['host GLOB *.example.com', { host: '*.example.com' }, `${count("WHERE host GLOB '*.example.com'")}`],
    ['decision = deny', { decision: 'deny' }, `${count('WHERE decision = ?', 'deny')}`],
    ['decision = allow', { decision: 'allow' }, `${count('WHERE decision = ?', 'allow')}`],
    [`--text ${RARE_WORD} (rare)`, { text: RARE_WORD }, `${ftsCount(RARE_WORD)}`],
    [`--text ${COMMON_WORD} (1 in 100)`, { text: COMMON_WORD }, `${ftsCount(COMMON_WORD)}`],
    ['--text json (every flow)', { text: 'json' }, `${ftsCount('json')}`],
    [`--text + host (${COMMON_WORD}, api.openai.com)`, { text: COMMON_WORD, host: 'api.openai.com' }, '-'],
    ['cursor page 2 (--after end of page 1)', { after: page1[page1.length - 1].id }, '-'],
    ['cursor page 2, host = github.com, mid-table', { host: 'github.com', after: hostPage1[hostPage1.length - 1].id }, '-'],
  ];
  console.log(`\nmedian of ${REPS} runs, LIMIT ${LIMIT}, columns of \`airlock flows list\`:`);
  console.log(`${'query'.padEnd(46)} ${'matching'.padStart(9)} ${'rows'.padStart(5)} ${'ms'.padStart(9)}  ratio to baseline`);
  console.log(`${'baseline: SELECT ... ORDER BY id DESC LIMIT 50'.padEnd(46)} ${String(N).padStart(9)} ${String(baseline.rows).padStart(5)} ${baseline.ms.toFixed(3).padStart(9)}  1.0x`);
  let worst = 0;
  for (const [label, filter, matching] of cases) {
    const t = timeIt(() => searchFlows(db, filter, LIMIT, LIST_COLUMNS));
    worst = Math.max(worst, t.ms);
    console.log(`${label.padEnd(46)} ${matching.padStart(9)} ${String(t.rows).padStart(5)} ${t.ms.toFixed(3).padStart(9)}  ${(t.ms / baseline.ms).toFixed(1)}x`);
  }
  console.log(`\nslowest: ${worst.toFixed(1)} ms; target < 200 ms over ${N.toLocaleString('en-US')} flows: ${worst < 200 ? 'met' : 'NOT met'}`);
  db.close();
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}

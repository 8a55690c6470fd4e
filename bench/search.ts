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
import { migrate, SCHEMA_VERSION } from '../proxy/store/schema.ts';
import { type FlowFilter, searchFlows } from '../proxy/store/search.ts';
import { COMMON_WORD, fillMonth, RARE_WORD } from './month.ts';

const N = Number(process.argv[2] ?? 1_000_000);
const REPS = 20;
const LIMIT = 50;
/** The columns `airlock flows list` reads (proxy/cli/flows.ts list()). */
const LIST_COLUMNS = 'id, started_at, decision, status, method, scheme, host, port, path, query, code';

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
    fillMonth(db, N, Date.parse('2026-11-01T00:00:00Z'));
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

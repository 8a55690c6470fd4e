// Sustained write rate of the flow store with 2 KB request and response bodies, through the real
// FlowStore (record() then flush(): toRow, capture, scrubbing, writer thread, hash chain, FTS),
// against a baseline in the same run: raw better-sqlite3 inserts of the same flows and bodies
// (no hash, no FTS) in 500-flow transactions with page_size=16384, and one flow per transaction.
// Run: npx tsx bench/writer.ts [flows per round, default 50000]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { STORED_COLUMNS } from '../proxy/store/rows.ts';
import { type BodyMeta, createBatchWriter } from '../proxy/store/batch.ts';
import { COLUMNS } from '../proxy/store/rows.ts';
import { migrate } from '../proxy/store/schema.ts';
import { FlowStore } from '../proxy/store/writer.ts';
import { BODY, makeFlow, POOL, requestBodies, responseBodies, rowOf } from './api-flows.ts';

const N = Number(process.argv[2] ?? 50_000);
const ROUNDS = 3;
const WARM = 2_000;
const BASELINE_BATCH = 500;
/** The one-flow-per-transaction baseline is slow (an fsync-bound commit each): fewer flows. */
const SINGLE_N = Math.min(N, 5_000);
/** Paced run: the producer waits while more than this many flows are queued, so every flow goes through the writer thread. */
const PACE = 5_000;

// ---------------------------------------------------------------------------------------------

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-writer-'));
let seq = 0;
const dbFile = () => path.join(tmp, `flows-${++seq}.sqlite`);

function count(file: string): { flows: number; bodies: number } {
  const db = new Database(file, { readonly: true });
  const flows = (db.prepare('SELECT count(*) AS n FROM flows').get() as { n: number }).n;
  const bodies = (db.prepare('SELECT count(*) AS n FROM bodies').get() as { n: number }).n;
  db.close();
  return { flows, bodies };
}

interface StoreResult {
  rate: number;
  syncWrites: number;
  batches: number;
  highWater: number;
}

async function flowStore(n: number, paced: boolean): Promise<StoreResult> {
  const file = dbFile();
  const store = new FlowStore(file);
  for (let i = 0; i < WARM; i++) store.record(makeFlow(i));
  await store.flush();
  const before = { ...store.stats };
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    store.record(makeFlow(i));
    // Let the writer's confirmations in, as a serving event loop would between requests.
    if (i % 200 === 199) {
      await tick();
      if (paced) while (store.queueDepth() > PACE) await sleep(1);
    }
  }
  await store.flush();
  const ms = performance.now() - t0;
  const stats = { ...store.stats };
  await store.close();
  const c = count(file);
  if (c.flows !== n + WARM || c.bodies !== 2 * (n + WARM)) throw new Error(`store holds ${c.flows} flows / ${c.bodies} bodies, expected ${n + WARM}`);
  if (stats.failed) throw new Error(`${stats.failed} flows failed`);
  fs.rmSync(file, { force: true });
  return { rate: (n / ms) * 1000, syncWrites: stats.syncWrites - before.syncWrites, batches: stats.batches - before.batches, highWater: stats.highWater };
}

function rawDb(file: string): { db: Database.Database; insert: (i: number) => void } {
  const db = new Database(file);
  db.pragma('page_size = 16384'); // before the first table: applies to the new file
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  migrate(db);
  const flow = db.prepare(`INSERT INTO flows (${STORED_COLUMNS.join(', ')}) VALUES (${STORED_COLUMNS.map(() => '?').join(', ')})`);
  const body = db.prepare('INSERT INTO bodies (flow_id, direction, content_type, encoding, size, truncated, data) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const insert = (i: number) => {
    const { row, bodies } = rowOf(i);
    const id = flow.run(row).lastInsertRowid;
    for (const b of bodies) body.run(id, b.direction, b.contentType, b.encoding, b.size, b.truncated ? 1 : 0, b.data);
  };
  return { db, insert };
}

function rawBatched(n: number, withFts = false): number {
  const file = dbFile();
  const { db, insert: plain } = rawDb(file);
  // Breakdown: the same inserts plus the flows_fts row the writer adds (URL, headers, 4 KB of JSON).
  const fts = db.prepare('INSERT INTO flows_fts (rowid, url, headers, bodies) VALUES (last_insert_rowid(), ?, ?, ?)');
  const insert = withFts
    ? (i: number) => {
        plain(i);
        const f = makeFlow(i);
        fts.run(`https://${f.host}:443${f.path}?${f.query}`, `${JSON.stringify(f.requestHeaders)}\n${JSON.stringify(f.responseHeaders)}`, `${requestBodies[i % POOL]}\n${responseBodies[(i * 7) % POOL]}`);
      }
    : plain;
  const batch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) insert(i);
  });
  for (let i = 0; i < WARM; i += BASELINE_BATCH) batch(i, Math.min(WARM, i + BASELINE_BATCH));
  const t0 = performance.now();
  for (let i = 0; i < n; i += BASELINE_BATCH) batch(i, Math.min(n, i + BASELINE_BATCH));
  const ms = performance.now() - t0;
  if ((db.pragma('page_size', { simple: true }) as number) !== 16384) throw new Error('page_size not applied');
  db.close();
  if (count(file).flows !== n + WARM) throw new Error('baseline row count');
  fs.rmSync(file, { force: true });
  return (n / ms) * 1000;
}

/** Breakdown: the writer thread's own code (batch.cjs: hash chain + FTS), called on this thread in 200-flow batches. */
function batchHere(n: number, pageSize: number | null): number {
  const file = dbFile();
  const db = new Database(file);
  if (pageSize) db.pragma(`page_size = ${pageSize}`);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  migrate(db);
  const write = createBatchWriter(db, STORED_COLUMNS, COLUMNS.length);
  const batch = (from: number, to: number) => {
    const rows: unknown[][] = [];
    const metas: BodyMeta[] = [];
    const parts: Buffer[] = [];
    let offset = 0;
    for (let i = from; i < to; i++) {
      const { row, bodies } = rowOf(i);
      rows.push(row);
      for (const b of bodies) {
        metas.push([i - from, b.direction, b.contentType, b.encoding, b.size, b.truncated ? 1 : 0, offset, b.data.length]);
        parts.push(b.data);
        offset += b.data.length;
      }
    }
    write(rows, metas, Buffer.concat(parts));
  };
  for (let i = 0; i < WARM; i += 200) batch(i, Math.min(WARM, i + 200));
  const t0 = performance.now();
  for (let i = 0; i < n; i += 200) batch(i, Math.min(n, i + 200));
  const ms = performance.now() - t0;
  db.close();
  fs.rmSync(file, { force: true });
  return (n / ms) * 1000;
}

function rawSingle(n: number): number {
  const file = dbFile();
  const { db, insert } = rawDb(file);
  const one = db.transaction((i: number) => insert(i));
  for (let i = 0; i < 200; i++) one(i);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) one(i);
  const ms = performance.now() - t0;
  db.close();
  fs.rmSync(file, { force: true });
  return (n / ms) * 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x: number) => Math.round(x).toLocaleString('en-US');

try {
  console.log(`node ${process.version}; ${os.cpus().length} CPUs; ${N} flows per round (+${WARM} warm-up), 2 x ${BODY} B JSON bodies each; temp dir ${tmp}`);
  const unpaced: StoreResult[] = [];
  const paced: StoreResult[] = [];
  const batched: number[] = [];
  const single: number[] = [];
  const rawFts: number[] = [];
  const here4k: number[] = [];
  const here16k: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    batched.push(rawBatched(N));
    unpaced.push(await flowStore(N, false));
    paced.push(await flowStore(N, true));
    single.push(rawSingle(SINGLE_N));
    rawFts.push(rawBatched(N, true));
    here4k.push(batchHere(N, null));
    here16k.push(batchHere(N, 16384));
    const u = unpaced[r];
    const p = paced[r];
    console.log(
      `round ${r + 1}: raw 500/tx ${fmt(batched[r])} flows/s; FlowStore ${fmt(u.rate)} flows/s (${u.syncWrites} of ${u.batches} batches written on the caller's thread, queue high water ${fmt(u.highWater)}); ` +
        `FlowStore paced ${fmt(p.rate)} flows/s (${p.syncWrites} on the caller's thread); raw 1/tx ${fmt(single[r])} flows/s`,
    );
  }
  const base = median(batched);
  const u = median(unpaced.map((x) => x.rate));
  const p = median(paced.map((x) => x.rate));
  console.log(`\nmedian of ${ROUNDS} (flows/s; each flow = 1 flows row + 2 bodies rows):`);
  console.log(`  baseline raw better-sqlite3, 500 flows/tx, page_size 16384: ${fmt(base)}`);
  console.log(`  baseline raw better-sqlite3, 1 flow/tx:                    ${fmt(median(single))}  (${(median(single) / base).toFixed(2)}x)`);
  console.log(`  FlowStore record()+flush(), unpaced:                       ${fmt(u)}  (${(u / base).toFixed(2)}x baseline)`);
  console.log(`  FlowStore record()+flush(), paced (writer thread only):    ${fmt(p)}  (${(p / base).toFixed(2)}x baseline)`);
  console.log('breakdown (same rows, no worker thread):');
  console.log(`  raw 500 flows/tx + flows_fts row, page_size 16384:         ${fmt(median(rawFts))}  (${(median(rawFts) / base).toFixed(2)}x)`);
  console.log(`  batch.cjs (hash chain + FTS) on this thread, 200/tx, default page_size: ${fmt(median(here4k))}  (${(median(here4k) / base).toFixed(2)}x)`);
  console.log(`  batch.cjs (hash chain + FTS) on this thread, 200/tx, page_size 16384:   ${fmt(median(here16k))}  (${(median(here16k) / base).toFixed(2)}x)`);
  console.log(`  target >= 20,000 flows/s with 2 KB bodies: ${u >= 20_000 ? 'met' : 'NOT met'} (unpaced), ${p >= 20_000 ? 'met' : 'NOT met'} (paced)`);
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}

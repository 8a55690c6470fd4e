// Sustained write rate of the PostgreSQL flow store with 2 KB request and response bodies, through
// the real FlowStore (record() then flush(): toRow, capture, scrubbing, the writer thread, hash
// chain, chunks, tsvector, one transaction per batch under the write lock), against a baseline in
// the same run on the same server: raw batched inserts of the same rows and bodies (multi-row
// INSERT ... SELECT FROM unnest, 200 flows a transaction, a primary key only: no hash, no chunks,
// no full-text index). Then two instances writing together (the write lock serializes them), and
// the batch writer alone on this thread (no worker, no queue) as a breakdown.
// The server is a throw-away cluster with PostgreSQL's default durability (fsync on), or the one
// at AIRLOCK_BENCH_PG_URL (a database this bench may create schemas in).
// Run: npx tsx bench/pg-writer.ts [flows per round, default 30000]
import os from 'node:os';
import path from 'node:path';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { BodyMeta } from '../proxy/store/batch.ts';
import { COLUMNS, STORED_COLUMNS } from '../proxy/store/rows.ts';
import { FlowStore } from '../proxy/store/writer.ts';
import { startPostgres } from '../test/helpers/postgres.ts';
import { tempDir } from '../test/helpers/airlock.ts';
import { makeFlow, rowOf } from './api-flows.ts';
import { createRequire } from 'node:module';

const N = Number(process.argv[2] ?? 30_000);
const ROUNDS = 3;
const WARM = 2_000;
const BATCH = 200;
/** The producer waits while more than this many flows are queued (a serving proxy's pace). */
const PACE = 5_000;

const load = createRequire(import.meta.url);
const { COLUMN_TYPES } = load('../proxy/store/pg/schema.cjs') as { COLUMN_TYPES: Record<string, string> };
const { createPgBatchWriter } = load('../proxy/store/pg/batch.cjs') as {
  createPgBatchWriter(o: { schema: string; instance: string; columns: string[]; hashed: number }): (c: pg.PoolClient, rows: unknown[][], bodies: BodyMeta[], blob: Buffer) => Promise<number>;
};
const { migrate } = load('../proxy/store/pg/schema.cjs') as { migrate(pool: pg.Pool, schema: string, by: string): Promise<number[]> };
const { createPool } = load('../proxy/store/pg/connect.cjs') as { createPool(o: Record<string, unknown>): pg.Pool };

const tmp = tempDir('airlock-bench-pg-');
const server = process.env.AIRLOCK_BENCH_PG_URL ? undefined : await startPostgres(undefined, { durable: true });
const url = process.env.AIRLOCK_BENCH_PG_URL ?? server!.url('postgres');
let schemas = 0;
const newSchema = () => `bench_${process.pid}_${++schemas}`;
const admin = new pg.Pool({ connectionString: url, max: 2 });

async function countIn(schema: string): Promise<number> {
  return Number((await admin.query(`SELECT count(*)::int AS n FROM ${schema}.flows`)).rows[0].n);
}

/** n flows through FlowStores (one per instance, recording in turn), paced; flows/s until all are in PostgreSQL. */
async function flowStore(n: number, instances = 1): Promise<number> {
  const schema = newSchema();
  const stores = Array.from(
    { length: instances },
    (_, k) => new FlowStore({ postgres: { url, schema, spool: { path: path.join(tmp, `${schema}-${k}.spool`), maxBytes: 1024 ** 3 } } }, { instance: `bench-${k}`, onEvent: () => {} }),
  );
  for (let i = 0; i < WARM; i++) stores[i % instances].record(makeFlow(i));
  await Promise.all(stores.map((s) => s.flush()));
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = stores[i % instances];
    s.record(makeFlow(i));
    if (i % 200 === 199) {
      await tick();
      while (s.queueDepth() > PACE) await sleep(1);
    }
  }
  await Promise.all(stores.map((s) => s.flush()));
  const ms = performance.now() - t0;
  const spooled = stores.reduce((a, s) => a + (s.pg()?.spooled ?? 0), 0);
  await Promise.all(stores.map((s) => s.close()));
  const stored = await countIn(schema);
  if (stored !== n + WARM) throw new Error(`PostgreSQL holds ${stored} flows, expected ${n + WARM}`);
  if (spooled) console.log(`  (${spooled} flows went through the local spool: a write took PostgreSQL over 5 s at times)`);
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  return (n / ms) * 1000;
}

/** The same rows and bodies, inserted as plainly as PostgreSQL takes them: 200 flows a transaction, one statement per table. */
async function rawBatched(n: number): Promise<number> {
  const schema = newSchema();
  const cols = STORED_COLUMNS.map((c) => `${c} ${COLUMN_TYPES[c]}`).join(', ');
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.query(`CREATE TABLE ${schema}.flows (id bigint PRIMARY KEY, ${cols})`);
  await admin.query(`CREATE TABLE ${schema}.bodies (flow_id bigint NOT NULL, direction text NOT NULL, content_type text, encoding text, size bigint NOT NULL, truncated smallint NOT NULL, data bytea, PRIMARY KEY (flow_id, direction))`);
  const insertFlows = `INSERT INTO ${schema}.flows (id, ${STORED_COLUMNS.join(', ')}) SELECT * FROM unnest($1::bigint[], ${STORED_COLUMNS.map((c, i) => `$${i + 2}::${COLUMN_TYPES[c]}[]`).join(', ')})`;
  const insertBodies = `INSERT INTO ${schema}.bodies SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::smallint[], $7::bytea[])`;
  const c = await admin.connect();
  let id = 0;
  const batch = async (from: number, to: number) => {
    const ids: number[] = [];
    const cs = STORED_COLUMNS.map(() => [] as unknown[]);
    const b = [[], [], [], [], [], [], []] as unknown[][];
    for (let i = from; i < to; i++) {
      const { row, bodies } = rowOf(i);
      ids.push(++id);
      row.forEach((v, k) => cs[k].push(v));
      for (const x of bodies) [id, x.direction, x.contentType, x.encoding, x.size, x.truncated ? 1 : 0, x.data].forEach((v, k) => b[k].push(v));
    }
    await c.query('BEGIN');
    await c.query(insertFlows, [ids, ...cs]);
    await c.query(insertBodies, b);
    await c.query('COMMIT');
  };
  for (let i = 0; i < WARM; i += BATCH) await batch(i, Math.min(WARM, i + BATCH));
  const t0 = performance.now();
  for (let i = 0; i < n; i += BATCH) await batch(i, Math.min(n, i + BATCH));
  const ms = performance.now() - t0;
  c.release();
  if ((await countIn(schema)) !== n + WARM) throw new Error('baseline row count');
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  return (n / ms) * 1000;
}

/** Breakdown: the writer thread's batch code (pg/batch.cjs) called on this thread, 200 flows a batch. */
async function batchHere(n: number): Promise<number> {
  const schema = newSchema();
  const pool = createPool({ url, schema, max: 1, name: 'bench' });
  await migrate(pool, schema, 'bench');
  const write = createPgBatchWriter({ schema, instance: 'bench', columns: STORED_COLUMNS, hashed: COLUMNS.length });
  const c = await pool.connect();
  const batch = async (from: number, to: number) => {
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
    await write(c, rows, metas, Buffer.concat(parts));
  };
  for (let i = 0; i < WARM; i += BATCH) await batch(i, Math.min(WARM, i + BATCH));
  const t0 = performance.now();
  for (let i = 0; i < n; i += BATCH) await batch(i, Math.min(n, i + BATCH));
  const ms = performance.now() - t0;
  c.release();
  await pool.end();
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  return (n / ms) * 1000;
}

try {
  const version = (await admin.query('SHOW server_version')).rows[0].server_version;
  const fsync = (await admin.query('SHOW fsync')).rows[0].fsync;
  console.log(`node ${process.version}; PostgreSQL ${version} (fsync ${fsync}) on ${server ? 'this machine, loopback' : 'AIRLOCK_BENCH_PG_URL'}; ${os.cpus().length} CPUs; ${N} flows per round, 2 KB request + 2 KB response`);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rows: [string, number][] = [];
  const measure = async (label: string, fn: () => Promise<number>) => {
    const rates: number[] = [];
    for (let r = 0; r < ROUNDS; r++) rates.push(await fn());
    rows.push([label, median(rates)]);
    console.log(`${label.padEnd(58)} ${median(rates).toFixed(0).padStart(8)} flows/s   (rounds: ${rates.map((x) => x.toFixed(0)).join(', ')})`);
  };
  await measure('baseline: raw batched inserts (200/transaction)', () => rawBatched(N));
  await measure('airlock FlowStore into PostgreSQL, one instance', () => flowStore(N));
  await measure('airlock FlowStores into PostgreSQL, two instances together', () => flowStore(N, 2));
  await measure('breakdown: pg/batch.cjs on this thread (no worker)', () => batchHere(N));
  const base = rows[0][1];
  console.log(`\nratio to the baseline: one instance ${(rows[1][1] / base).toFixed(2)}, two instances ${(rows[2][1] / base).toFixed(2)}, batch code alone ${(rows[3][1] / base).toFixed(2)}`);
} finally {
  await admin.end();
  server?.destroy();
  (await import('node:fs')).rmSync(tmp, { recursive: true, force: true });
}

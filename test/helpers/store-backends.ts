// The two flow stores behind one harness, for the store suite that runs against both
// (test/integration/store-backends.test.ts): the real FlowStore writing through its writer thread,
// the real reader, and `sql` to change rows behind airlock's back (a tamperer with database
// access), written once with ? placeholders for both.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { pgReader } from '../../proxy/store/pg/reader.ts';
import type { FlowReader } from '../../proxy/store/reader.ts';
import { sqliteReader } from '../../proxy/store/sqlite-reader.ts';
import { FlowStore, type FlowStoreOptions } from '../../proxy/store/writer.ts';
import { tempDir } from './airlock.ts';
import { sharedPostgres, type TestDatabase } from './postgres.ts';

export type BackendName = 'sqlite' | 'postgres';
export const BACKENDS: BackendName[] = ['sqlite', 'postgres'];

export interface StoreUnderTest {
  backend: BackendName;
  /** A writer of this store (more can be opened: several instances). */
  store: FlowStore;
  writer(opts?: FlowStoreOptions): FlowStore;
  reader: FlowReader;
  /** Runs SQL on the store itself (? placeholders), as someone with database access could. */
  sql<T = Record<string, unknown>>(query: string, params?: unknown[]): Promise<T[]>;
}

let db: TestDatabase | undefined;
let schemas = 0;
const open: { close(): Promise<void> }[] = [];

/** A new, empty store of the given kind; `opts` for its first writer (instance "a" unless given). */
export async function openStore(backend: BackendName, opts: FlowStoreOptions = {}): Promise<StoreUnderTest> {
  const dir = tempDir('airlock-store-');
  const first = { instance: 'a', ...opts };
  let u: StoreUnderTest;
  if (backend === 'sqlite') {
    const file = path.join(dir, 'flows.sqlite');
    const writer = (o: FlowStoreOptions = {}) => track(new FlowStore(file, { instance: 'a', ...o }));
    const store = writer(first);
    const rw = new Database(file);
    const reader = sqliteReader(file);
    open.push({ close: async () => void rw.close() }, reader);
    u = {
      backend,
      store,
      writer,
      reader,
      async sql<T>(query: string, params: unknown[] = []) {
        const st = rw.prepare(query);
        return (st.reader ? st.all(...params) : (st.run(...params), [])) as T[];
      },
    };
  } else {
    db ??= await (await sharedPostgres()).createDatabase('airlock_store');
    const schema = `s${++schemas}`;
    const target = { postgres: { url: db.url, schema, spool: { path: path.join(dir, 'spool.sqlite'), maxBytes: 64 * 1024 * 1024 } } };
    const writer = (o: FlowStoreOptions = {}) => track(new FlowStore(target, { instance: 'a', ...o }));
    const store = writer(first);
    const reader = pgReader({ url: db.url, schema });
    const client = new pg.Client({ connectionString: db.url, options: `-c search_path=${schema}` });
    await client.connect();
    open.push({ close: () => client.end() }, reader);
    // The writer thread migrates on start: wait until the tables are there.
    for (let i = 0; i < 800 && !(await client.query("SELECT to_regclass('budget_counters') AS t")).rows[0].t; i++) await new Promise((r) => setTimeout(r, 25));
    u = {
      backend,
      store,
      writer,
      reader,
      async sql<T>(query: string, params: unknown[] = []) {
        let n = 0;
        return (await client.query(query.replace(/\?/g, () => `$${++n}`), params)).rows as T[];
      },
    };
  }
  open.push({ close: async () => fs.rmSync(dir, { recursive: true, force: true }) });
  return u;
}

function track(s: FlowStore): FlowStore {
  open.unshift({ close: () => s.close() });
  return s;
}

/** After each test: writers, readers and connections closed, temp files removed. */
export async function closeStores(): Promise<void> {
  for (const o of open.splice(0)) await o.close();
}

/** After the file: its PostgreSQL database dropped. */
export async function dropStores(): Promise<void> {
  await db?.drop();
  db = undefined;
}

// The readers' view of a SQLite store (reader.ts): a read-only connection opened on first use,
// closed again when the store file was deleted under a running airlock (reset(), which
// writer.ts's onReopen calls) and opened anew on the next read.
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { bodiesOf } from './bodies.ts';
import { type FlowReader, type FlowRow, type InstanceRow, type ListRow, pageOf } from './reader.ts';
import { SCHEMA_VERSION } from './schema.ts';
import type { FlowFilter } from './search.ts';
import {
  findingsOf,
  findingsOverview,
  firstStart,
  flowFacts,
  flowByRef,
  hostsOverview,
  latencyHistogram,
  LIST_COLUMNS,
  maxId,
  neighbours,
  selectFlows,
  stats,
} from './sqlite-queries.ts';
import { verifyChain } from './verify.ts';
import { llmReader } from './llm-queries.ts';

/** Opens a store read-only (airlock may be writing it); refuses one this airlock has not upgraded yet. */
export function openStore(file: string): Database.Database {
  if (!fs.existsSync(file)) throw new Error(`no flow store at ${file}`);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version < SCHEMA_VERSION) {
    db.close();
    throw new Error(`${file} has schema version ${version}; start this airlock once to upgrade it to ${SCHEMA_VERSION}`);
  }
  return db;
}

export interface SqliteReader extends FlowReader {
  /** The connection (opened if need be). */
  db(): Database.Database;
  /** Closes the connection; the next read opens it again. */
  reset(): void;
}

/** A reader over `open()`'s connection: a file path (opened read-only on first use) or a connection someone else owns. */
export function sqliteReader(source: string | (() => Database.Database)): SqliteReader {
  let own: Database.Database | undefined;
  let closed = false;
  const db = (): Database.Database => {
    if (typeof source !== 'string') return source();
    if (closed) throw new Error('the flow store reader is closed');
    return (own ??= openStore(source));
  };
  const sync =
    <A extends unknown[], R>(fn: (...a: A) => R) =>
    async (...a: A): Promise<R> =>
      fn(...a);
  const list = sync((f: FlowFilter, w: Parameters<FlowReader['list']>[1]) => selectFlows<ListRow>(db(), f, { ...w, columns: LIST_COLUMNS }));
  return {
    kind: 'sqlite',
    db,
    reset() {
      own?.close();
      own = undefined;
    },
    list,
    rows: sync((f, w) => selectFlows<FlowRow>(db(), f, { ...w, columns: 'flows.*' })),
    page: (f, cursor, limit) => pageOf(list, f, cursor, limit),
    maxId: sync(() => maxId(db())),
    flow: sync((ref) => flowByRef(db(), ref)),
    bodies: sync((id) => bodiesOf(db())(id)),
    findings: sync((id) => findingsOf(db(), id)),
    neighbours: sync((id) => neighbours(db(), id)),
    hosts: sync((f, limit) => hostsOverview(db(), f, limit)),
    findingsOverview: sync((f, o) => findingsOverview(db(), f, o)),
    latency: sync((f) => latencyHistogram(db(), f)),
    firstStart: sync((f) => firstStart(db(), f)),
    stats: sync((f, bucketMs) => stats(db(), f, bucketMs)),
    instances: sync(() => db().prepare('SELECT name, head_id, first_seen, last_seen FROM instances ORDER BY name').all() as InstanceRow[]),
    size: sync(() => {
      const d = db();
      const pages = d.pragma('page_count', { simple: true }) as number;
      const free = d.pragma('freelist_count', { simple: true }) as number;
      return (pages - free) * (d.pragma('page_size', { simple: true }) as number);
    }),
    verify: sync((onProgress?: (checked: number) => void) => verifyChain(db(), onProgress)),
    async eachFact(f, fn) {
      const d = db();
      d.transaction(() => {
        for (const row of flowFacts(d, f)) fn(row);
      })();
    },
    llm: llmReader({ dialect: 'sqlite', all: async <T,>(sql: string, params: unknown[]) => db().prepare(sql).all(...params) as T[] }),
    async close() {
      closed = true;
      own?.close();
      own = undefined;
    },
  };
}

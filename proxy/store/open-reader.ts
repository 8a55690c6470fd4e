// The readers' store, as the policy's store section names it: PostgreSQL when store.postgres is
// set, else the SQLite file (opened read-only on first use).
import type { Config } from '../../policies/types.ts';
import { pgReader } from './pg/reader.ts';
import type { FlowReader } from './reader.ts';
import { sqliteReader } from './sqlite-reader.ts';

export function openReader(store: Pick<Config['store'], 'path' | 'postgres'>): FlowReader {
  const pg = store.postgres;
  if (pg) return pgReader({ url: pg.url.reveal(), schema: pg.schema, max: pg.pool });
  return sqliteReader(store.path);
}

// The flow store the policy names (the composition root's one place to pick it): the SQLite file,
// or PostgreSQL with its local spool. Both are the same FlowStore to the rest of airlock: record()
// queues, a writer thread writes (writer-thread.ts speaks to either writer the same way).
import type { Config } from '../../policies/types.ts';
import type { StoreEvent } from './availability.ts';
import { FlowStore, type FlowStoreOptions } from './writer.ts';

export function openFlowStore(cfg: Config['store'], hooks: { onEvent: (e: StoreEvent) => void; onLlm?: FlowStoreOptions['onLlm'] }): FlowStore {
  const pg = cfg.postgres;
  const target = pg ? { postgres: { url: pg.url.reveal(), schema: pg.schema, spool: pg.spool } } : cfg.path;
  return new FlowStore(target, { retention: cfg.retention, onUnavailable: cfg.onUnavailable, minFree: cfg.minFree, ...hooks, instance: cfg.instance });
}

/** Where the store is, for logs and the banner: never the PostgreSQL URL (it holds a password). */
export function describeStore(cfg: Config['store']): string {
  return cfg.postgres ? `PostgreSQL schema ${cfg.postgres.schema}` : cfg.path;
}

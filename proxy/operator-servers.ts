// The operator's listeners, one per airlock whatever the number of workers: admin (/metrics,
// /healthz) and the web UI. They read the store and the policy; they never serve agents.
import type { Config } from '../policies/types.ts';
import { caPaths } from '../ca/authority.ts';
import type { BudgetUse } from './budgets/budgets.ts';
import type { ConfigRef } from './config-ref.ts';
import { createAdminServer } from './io/admin.ts';
import { type Bound, listen } from './io/listen.ts';
import { createMetrics } from './metrics.ts';
import type { Recording } from './recording.ts';
import type { ReloadResult } from './reload.ts';
import { openReader } from './store/open-reader.ts';
import type { FlowStore } from './store/writer.ts';
import { ensureUiToken } from '../web-ui/token.ts';

export interface OperatorSources {
  /** Requests in progress, over every worker. */
  active(): number;
  /** Agent connections open now. */
  connections(): number;
  /** Leaf certificates minted and cache hits, over every worker. */
  certs(): { minted: number; hits: number };
  stopping(): boolean;
  reload(): ReloadResult;
  /** Extra detail for /healthz (workers). */
  detail?(): Record<string, unknown>;
}

export interface OperatorServers {
  admin?: Bound;
  ui?: Bound;
  uiToken?: string;
}

export async function startOperatorServers(initial: Config, ref: ConfigRef, rec: Recording, src: OperatorSources, bound: Bound[]): Promise<OperatorServers> {
  const { store, budgets } = rec;
  const out: OperatorServers = {};
  const { admin, ui } = initial.listen;
  if (admin) {
    const metrics = await createMetrics({
      store,
      certs: src.certs,
      active: src.active,
      connections: src.connections,
      budgets: (): BudgetUse[] => budgets.snapshot(ref.current, Date.now()),
    });
    rec.setMetrics(metrics);
    // Not ok while stopping, or while the store cannot write and new requests are refused;
    // "degraded" (200) while they are served unrecorded.
    // PostgreSQL unreachable while its spool takes the flows: "degraded" too (nothing is lost yet).
    const health = () => {
      const s = store.status();
      const pg = store.pg();
      const refusing = s.state !== 'ok' && s.on_unavailable === 'refuse';
      const status = src.stopping() || refusing ? 'unavailable' : s.state !== 'ok' || pg?.up === false || (pg?.spool.flows ?? 0) > 0 ? 'degraded' : 'ok';
      return {
        ok: status !== 'unavailable',
        status,
        detail: { active: src.active(), store_queue: store.queueDepth(), store: s, ...(pg ? { postgres: pgHealth(pg) } : {}), ...src.detail?.() },
      };
    };
    out.admin = await listen(createAdminServer(metrics, health), admin);
    bound.push(out.admin);
  }
  if (ui) {
    // Hono loads only when the UI listener is configured (like prom-client for admin).
    const { createUiServer } = await import('../web-ui/server.ts');
    const uiServer = createUiServer({
      reader: openReader(initial.store),
      dataDir: initial.dataDir,
      config: () => ref.current,
      reload: src.reload,
      retain: () => store.enforceRetention(),
      storeStatus: () => store.status(),
      onStoreReopen: store.kind === 'sqlite' ? (close: () => void) => store.onReopen(close) : undefined,
      caCertPath: caPaths(initial.dataDir).cert,
    });
    out.ui = await listen(uiServer, ui);
    bound.push(out.ui);
    // Only once every listener is bound: a first start that fails (EADDRINUSE) must not keep a
    // token whose only printing never happened.
    out.uiToken = ensureUiToken(initial.dataDir).token;
  }
  return out;
}

/** PostgreSQL and its spool for /healthz: state, since when, why, and how much waits locally. */
function pgHealth(pg: NonNullable<ReturnType<FlowStore['pg']>>): Record<string, unknown> {
  return {
    state: pg.up === false ? 'unreachable' : pg.up ? 'ok' : 'connecting',
    since: new Date(pg.since).toISOString(),
    ...(pg.error ? { error: pg.error } : {}),
    spool_flows: pg.spool.flows,
    spool_bytes: pg.spool.bytes,
    spool_max_bytes: pg.spool.maxBytes,
    spool_full: pg.spool.full,
    replayed: pg.replayed,
  };
}

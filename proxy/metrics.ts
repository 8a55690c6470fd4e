// Prometheus metrics. prom-client (~11 MB of RSS) is loaded only when listen.admin is set; without
// it every call here is a no-op.
import type { Counter } from 'prom-client';
import type { Flow } from './flow.ts';
import { DROP_CAUSES, PROBLEM_KINDS } from './store/availability.ts';
import type { FlowStore } from './store/writer.ts';
import type { BudgetUse } from './budgets/budgets.ts';

export interface Metrics {
  flow(f: Flow): void;
  render(): Promise<{ contentType: string; body: string }>;
}

export const noMetrics: Metrics = {
  flow() {},
  async render() {
    return { contentType: 'text/plain', body: '' };
  },
};

export async function createMetrics(sources: {
  store: FlowStore;
  /** Leaf certificates minted and cache hits (over every worker). */
  certs: () => { minted: number; hits: number };
  active: () => number;
  connections: () => number;
  budgets?: () => BudgetUse[];
}): Promise<Metrics> {
  const prom = await import('prom-client');
  const registry = new prom.Registry();
  const registers = [registry];
  const requests = new prom.Counter({
    name: 'airlock_flows_total',
    help: 'Flows by decision (allow, would_deny, deny, refuse, error), entry path and code (deny reason or upstream error)',
    labelNames: ['decision', 'entry', 'code'],
    registers,
  });
  const upstreamErrors = new prom.Counter({
    name: 'airlock_upstream_errors_total',
    help: 'Upstream failures by code (upstream_tls, upstream_timeout, upstream_connect, dns_failed, ...)',
    labelNames: ['code'],
    registers,
  });
  const duration = new prom.Histogram({
    name: 'airlock_flow_duration_seconds',
    help: 'Time from request to the end of the response, by entry path',
    labelNames: ['entry'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const findings = new prom.Counter({
    name: 'airlock_dlp_findings_total',
    help: 'DLP findings, by rule, action taken and where (request body, header, url, websocket, ...)',
    labelNames: ['rule', 'action', 'location'],
    registers,
  });
  const bytes = new prom.Counter({ name: 'airlock_body_bytes_total', help: 'Bytes relayed, by direction', labelNames: ['direction'], registers });
  new prom.Gauge({
    name: 'airlock_store_queue_depth',
    help: 'Flows recorded but not yet committed to SQLite',
    registers,
    collect() {
      this.set(sources.store.queueDepth());
    },
  });
  new prom.Gauge({
    name: 'airlock_store_written_total',
    help: 'Flows committed to the store since start (PostgreSQL store: to PostgreSQL or its local spool)',
    registers,
    collect() {
      this.set(sources.store.stats.written);
    },
  });
  const availability = sources.store.availability;
  new prom.Gauge({
    name: 'airlock_store_unavailable',
    help: 'The flow store cannot write: 1 while it cannot (see /healthz for why), else 0',
    registers,
    collect() {
      this.set(availability.ok ? 0 : 1);
    },
  });
  const failures: Counter<'kind'> = new prom.Counter({
    name: 'airlock_store_write_failures_total',
    help: 'Failed writes to the flow store (batches of flows and recovery probes), by kind: full, readonly, io, deleted, busy, writer, behind, spool_full',
    labelNames: ['kind'],
    registers,
    collect() {
      follow(this, 'kind', availability.failures);
    },
  });
  const dropped: Counter<'cause'> = new prom.Counter({
    name: 'airlock_store_dropped_flows_total',
    help: 'Flows never written to the store, by cause: backlog_full, rejected, writer_failed, shutdown',
    labelNames: ['cause'],
    registers,
    collect() {
      follow(this, 'cause', availability.dropped);
    },
  });
  new prom.Gauge({
    name: 'airlock_store_backlog_flows',
    help: 'Flows held in memory because the store could not write them yet',
    registers,
    collect() {
      this.set(sources.store.backlog());
    },
  });
  if (sources.store.kind === 'postgres') pgMetrics(prom, registers, sources.store);
  // Every label from the start, so "no failures" is a 0 and not a missing series.
  for (const kind of PROBLEM_KINDS) failures.inc({ kind }, 0);
  for (const cause of DROP_CAUSES) dropped.inc({ cause }, 0);
  new prom.Gauge({
    name: 'airlock_store_free_bytes',
    help: "Free bytes on the flow store's file system, as last checked (about once a second)",
    registers,
    collect() {
      const { free } = sources.store.space();
      if (Number.isFinite(free)) this.set(free);
    },
  });
  new prom.Gauge({
    name: 'airlock_store_free_floor_bytes',
    help: 'Free space airlock keeps on the store\'s file system (store.min_free); at or below it the store counts as full',
    registers,
    collect() {
      const { floor } = sources.store.space();
      if (Number.isFinite(floor)) this.set(floor);
    },
  });
  new prom.Gauge({
    name: 'airlock_active_requests',
    help: 'Requests in progress',
    registers,
    collect() {
      this.set(sources.active());
    },
  });
  new prom.Gauge({
    name: 'airlock_client_connections',
    help: 'Agent connections open now, all listeners (what limits.max_connections_per_client counts, per client IP)',
    registers,
    collect() {
      this.set(sources.connections());
    },
  });
  new prom.Gauge({
    name: 'airlock_cert_cache_total',
    help: 'Leaf certificate cache: minted and hits since start',
    labelNames: ['result'],
    registers,
    collect() {
      const c = sources.certs();
      this.set({ result: 'minted' }, c.minted);
      this.set({ result: 'hit' }, c.hits);
    },
  });
  // Budgets: each agent's use of each limit in the current window, and the limit (spend in millionths).
  const budgetUse = sources.budgets;
  if (budgetUse) {
    new prom.Gauge({
      name: 'airlock_budget_used',
      help: 'What an agent used of a budget limit in the current window (requests, tokens, or spend in millionths of the price currency), as this airlock knows it',
      labelNames: ['budget', 'agent', 'limit'],
      registers,
      collect() {
        this.reset();
        for (const u of budgetUse()) this.set({ budget: u.budget, agent: u.agent, limit: u.limit }, u.used);
      },
    });
    new prom.Gauge({
      name: 'airlock_budget_limit',
      help: 'A budget limit per agent and window (requests, tokens, or spend in millionths of the price currency)',
      labelNames: ['budget', 'agent', 'limit'],
      registers,
      collect() {
        this.reset();
        for (const u of budgetUse()) this.set({ budget: u.budget, agent: u.agent, limit: u.limit }, u.max);
      },
    });
  }
  const budgetRefusals = new prom.Counter({
    name: 'airlock_budget_refusals_total',
    help: 'Requests refused with 429 budget_exhausted, by budget',
    labelNames: ['budget'],
    registers,
  });
  prom.collectDefaultMetrics({ register: registry, prefix: 'airlock_process_' });
  return {
    flow(f) {
      requests.inc({ decision: f.decision, entry: f.entry, code: f.code ?? '' });
      if (f.decision === 'error' && f.code) upstreamErrors.inc({ code: f.code });
      if (f.code === 'budget_exhausted' && f.budget) budgetRefusals.inc({ budget: f.budget });
      if (f.totalMs !== undefined) duration.observe({ entry: f.entry }, f.totalMs / 1000);
      if (f.bytesUp) bytes.inc({ direction: 'up' }, f.bytesUp);
      if (f.bytesDown) bytes.inc({ direction: 'down' }, f.bytesDown);
      // Header names vary without bound; the label keeps only the kind of place.
      for (const x of f.findings ?? []) findings.inc({ rule: x.ruleId, action: x.action, location: x.location.replace(/:.*/, '') });
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

/** A counter that follows a running total kept elsewhere: incremented by what was added since the last scrape. */
const seen = new WeakMap<object, Map<string, number>>();
function follow(counter: { inc(labels: Record<string, string>, n: number): void }, label: string, totals: ReadonlyMap<string, number>): void {
  let last = seen.get(counter);
  if (!last) seen.set(counter, (last = new Map()));
  for (const [key, total] of totals) {
    const d = total - (last.get(key) ?? 0);
    if (d > 0) counter.inc({ [label]: key }, d);
    last.set(key, total);
  }
}

/**
 * The PostgreSQL store: whether PostgreSQL takes writes, and the local spool (flows waiting for it;
 * a full spool is the alarmed state: alert on airlock_store_spool_full, or spool bytes near max).
 */
function pgMetrics(prom: typeof import('prom-client'), registers: import('prom-client').Registry[], store: FlowStore): void {
  const gauge = (name: string, help: string, value: (pg: NonNullable<ReturnType<FlowStore['pg']>>) => number) =>
    new prom.Gauge({
      name,
      help,
      registers,
      collect() {
        const pg = store.pg();
        if (pg) this.set(value(pg));
      },
    });
  gauge('airlock_store_postgres_up', 'PostgreSQL takes writes: 1 yes, 0 no (flows go to the local spool meanwhile)', (pg) => (pg.up === false ? 0 : 1));
  gauge('airlock_store_spool_flows', 'Flows in the local spool, waiting for PostgreSQL', (pg) => pg.spool.flows);
  gauge('airlock_store_spool_bytes', 'Bytes in the local spool', (pg) => pg.spool.bytes);
  gauge('airlock_store_spool_max_bytes', 'How much the local spool may hold (store.postgres.spool.max_bytes)', (pg) => pg.spool.maxBytes);
  gauge('airlock_store_spool_full', 'The local spool cannot take more flows while PostgreSQL cannot either: 1 (store.on_unavailable applies), else 0', (pg) => (pg.spool.full ? 1 : 0));
  gauge('airlock_store_spooled_flows_total', 'Flows put in the local spool since start', (pg) => pg.spooled);
  gauge('airlock_store_spool_replayed_flows_total', 'Flows written from the local spool to PostgreSQL since start', (pg) => pg.replayed);
}

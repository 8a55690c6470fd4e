// Prometheus metrics. prom-client (~11 MB of RSS) is loaded only when listen.admin is set; without
// it every call here is a no-op.
import type { LeafMinter } from '../ca/leaf-cache.ts';
import type { Flow } from './flow.ts';
import type { FlowStore } from './store/writer.ts';

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

export async function createMetrics(sources: { store: FlowStore; minter: LeafMinter; active: () => number }): Promise<Metrics> {
  const prom = await import('prom-client');
  const registry = new prom.Registry();
  const registers = [registry];
  const requests = new prom.Counter({
    name: 'airlock_flows_total',
    help: 'Flows by decision (allow, deny, refuse, error), entry path and code (deny reason or upstream error)',
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
    help: 'Flows committed to SQLite since start',
    registers,
    collect() {
      this.set(sources.store.stats.written);
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
    name: 'airlock_cert_cache_total',
    help: 'Leaf certificate cache: minted and hits since start',
    labelNames: ['result'],
    registers,
    collect() {
      this.set({ result: 'minted' }, sources.minter.stats.minted);
      this.set({ result: 'hit' }, sources.minter.stats.hits);
    },
  });
  prom.collectDefaultMetrics({ register: registry, prefix: 'airlock_process_' });
  return {
    flow(f) {
      requests.inc({ decision: f.decision, entry: f.entry, code: f.code ?? '' });
      if (f.decision === 'error' && f.code) upstreamErrors.inc({ code: f.code });
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

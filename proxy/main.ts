// Composition root: config -> CA -> store -> pipeline -> listeners. Nothing else lives here.
import type net from 'node:net';
import { nativeAddon } from './dlp/native.ts';
import { caPaths, initCa, loadCa } from '../ca/authority.ts';
import { LeafMinter } from '../ca/leaf-cache.ts';
import type { Config, ListenAddr } from '../policies/types.ts';
import type { ConfigRef } from './config-ref.ts';
import type { Flow } from './flow.ts';
import { createAdminServer } from './io/admin.ts';
import { createExplicitServer } from './io/explicit.ts';
import { createGuard } from './io/guard.ts';
import { createInnerServers } from './io/inner.ts';
import { type Bound, describeAddr, listen } from './io/listen.ts';
import { createRouteServer } from './io/route-server.ts';
import { createTransparentServer } from './io/transparent.ts';
import { Upstream } from './io/upstream.ts';
import { flushLog, logEvent, logFlow } from './log.ts';
import { createMetrics, noMetrics } from './metrics.ts';
import { createBudgets } from './budgets/budgets.ts';
import { createPipeline } from './pipeline.ts';
import { reloadPolicy, type ReloadResult } from './reload.ts';
import { describeStore, openFlowStore } from './store/open-store.ts';
import { openReader } from './store/open-reader.ts';
import type { FlowStore } from './store/writer.ts';
import { ensureUiToken } from '../web-ui/token.ts';

/** How long a graceful stop waits for requests in progress before closing their connections. */
const DRAIN_MS = 10_000;

export interface Airlock {
  /** The policy in force (reload() replaces it). */
  readonly config: Config;
  caCertPath: string;
  minter: LeafMinter;
  store: FlowStore;
  /** Real addresses: proxy, transparent, admin, ui, and one per route (in policy order). */
  addresses: { proxy?: Bound; transparent?: Bound; admin?: Bound; ui?: Bound; routes: Bound[] };
  /** The web UI's API token, only on the start that created it (afterwards only its hash exists). */
  uiToken?: string;
  /** Agent connections open now: from one client IP (limits.max_connections_per_client counts these), or from all. */
  openConnections(client?: string): number;
  /** Re-reads the policy file; on any problem the policy in force stays. */
  reload(): ReloadResult;
  /** Stops accepting, lets requests in progress finish (up to 10 s), records every flow. */
  close(): Promise<void>;
}

export async function startAirlock(initial: Config): Promise<Airlock> {
  // Before any thread of airlock's own starts: one glibc arena for all (see the addon's comment).
  nativeAddon()?.limitMallocArenas(1);
  initCa(initial.dataDir, initial.ca.nameConstraints ? { nameConstraints: initial.hosts.map((h) => h.match) } : {});
  const ca = loadCa(initial.dataDir);
  const minter = new LeafMinter(ca, { cacheSize: initial.ca.cacheSize });
  const where = describeStore(initial.store);
  const store = openFlowStore(initial.store, {
    onEvent: (e) => logEvent(e.level, e.msg, { ...e.fields, store: where, instance: initial.store.instance }),
    // Tokens count towards budgets once read from the stored response.
    onLlm: (flow, info) => budgets.used(ref.current, flow.ruleId, flow.agentUser, flow.listener, info, Date.now()),
  });
  const ref: ConfigRef = { current: initial };
  const budgets = createBudgets(store.counters);
  const upstream = new Upstream(initial);
  let metrics = noMetrics;
  const record = (flow: Flow, config: Config) => {
    // A request refused because the store cannot write is counted and logged, not queued for the
    // store: the backlog is kept for flows that reached an upstream (docs/audit.md).
    if (flow.code !== 'audit_store_unavailable') store.record(flow);
    metrics.flow(flow);
    if (config.log.flows) logFlow(flow); // the policy the flow was handled under
  };
  const pipeline = createPipeline({
    config: ref,
    upstream,
    record,
    budgets,
    storeRefusal: () => store.availability.refusal(),
    caCert: { pem: ca.certPem, der: ca.certDer },
  });
  const guard = createGuard(ref, pipeline);
  const inner = createInnerServers(minter, pipeline, guard);

  const bound: Bound[] = [];
  const start = async (server: net.Server, addr: ListenAddr) => {
    const b = await listen(server, addr);
    bound.push(b);
    return b;
  };
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await Promise.all(bound.map((b) => b.stopAccepting()));
      pipeline.drain();
      const deadline = Date.now() + DRAIN_MS;
      while (pipeline.active() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      await Promise.all(bound.map((b) => b.close()));
      await upstream.close();
      budgets.close();
      await store.close();
      flushLog();
    })());
  try {
    const { proxy, transparent, admin, ui } = initial.listen;
    const addresses: Airlock['addresses'] = { routes: [] };
    if (proxy) addresses.proxy = await start(createExplicitServer(ref, pipeline, inner, guard, describeAddr(proxy)), proxy);
    if (transparent) {
      addresses.transparent = await start(createTransparentServer(ref, pipeline, inner, guard, describeAddr(transparent)), transparent);
    }
    for (const route of initial.routes) {
      addresses.routes.push(await start(createRouteServer(route, pipeline, guard, describeAddr(route.listen)), route.listen));
    }
    if (admin) {
      metrics = await createMetrics({
        store,
        minter,
        active: pipeline.active,
        connections: () => guard.openConnections(),
        budgets: () => budgets.snapshot(ref.current, Date.now()),
      });
      // Not ok while stopping, or while the store cannot write and new requests are refused;
      // "degraded" (200) while they are served unrecorded.
      // PostgreSQL unreachable while its spool takes the flows: "degraded" too (nothing is lost yet).
      const health = () => {
        const s = store.status();
        const pg = store.pg();
        const refusing = s.state !== 'ok' && s.on_unavailable === 'refuse';
        const status = closing || refusing ? 'unavailable' : s.state !== 'ok' || pg?.up === false || (pg?.spool.flows ?? 0) > 0 ? 'degraded' : 'ok';
        return { ok: status !== 'unavailable', status, detail: { active: pipeline.active(), store_queue: store.queueDepth(), store: s, ...(pg ? { postgres: pgHealth(pg) } : {}) } };
      };
      addresses.admin = await start(createAdminServer(metrics, health), admin);
    }
    let uiToken: string | undefined;
    if (ui) {
      // Hono loads only when the UI listener is configured (like prom-client for admin).
      const { createUiServer } = await import('../web-ui/server.ts');
      const uiServer = createUiServer({
        reader: openReader(initial.store),
        dataDir: initial.dataDir,
        config: () => ref.current,
        reload: () => reloadPolicy(ref, upstream),
        retain: () => store.enforceRetention(),
        storeStatus: () => store.status(),
        onStoreReopen: store.kind === 'sqlite' ? (close: () => void) => store.onReopen(close) : undefined,
        caCertPath: caPaths(initial.dataDir).cert,
      });
      addresses.ui = await start(uiServer, ui);
      // Only once every listener is bound: a first start that fails (EADDRINUSE) must not keep a
      // token whose only printing never happened.
      uiToken = ensureUiToken(initial.dataDir).token;
    }
    // airlock never dials itself, whatever a rule's allow_ips say.
    upstream.setOwnListeners(bound.flatMap((b) => (b.port === undefined ? [] : [{ host: b.host, port: b.port }])));
    return {
      get config() {
        return ref.current;
      },
      caCertPath: caPaths(initial.dataDir).cert,
      minter,
      store,
      addresses,
      ...(uiToken === undefined ? {} : { uiToken }),
      openConnections: guard.openConnections,
      reload: () => reloadPolicy(ref, upstream),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
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

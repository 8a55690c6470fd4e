// Composition root: config -> CA -> store -> pipeline -> listeners. Nothing else lives here.
// With more than one worker, proxy/workers/supervisor.ts composes the same parts across processes.
import { nativeAddon } from './dlp/native.ts';
import { watchProcessMemory } from './memory-watch.ts';
import { caPaths, initCa, loadCa } from '../ca/authority.ts';
import { LeafMinter } from '../ca/leaf-cache.ts';
import type { Config } from '../policies/types.ts';
import type { ConfigRef } from './config-ref.ts';
import { type Bound, listen } from './io/listen.ts';
import { Upstream } from './io/upstream.ts';
import { flushLog } from './log.ts';
import { startOperatorServers } from './operator-servers.ts';
import { openRecording } from './recording.ts';
import { reloadPolicy, type ReloadResult } from './reload.ts';
import { agentListeners, createServing } from './serving.ts';
import type { FlowStore } from './store/writer.ts';

/** How long a graceful stop waits for requests in progress before closing their connections. */
export const DRAIN_MS = 10_000;

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

/** What `airlock start` needs of a running airlock, one process or many (proxy/workers/supervisor.ts). */
export type Running = Omit<Airlock, 'minter' | 'store'>;

export async function startAirlock(initial: Config): Promise<Airlock> {
  // Before any thread of airlock's own starts: one glibc arena for all (see the addon's comment).
  nativeAddon()?.limitMallocArenas(1);
  watchProcessMemory(nativeAddon());
  initCa(initial.dataDir, initial.ca.nameConstraints ? { nameConstraints: initial.hosts.map((h) => h.match) } : {});
  const ca = loadCa(initial.dataDir);
  const minter = new LeafMinter(ca, { cacheSize: initial.ca.cacheSize });
  const ref: ConfigRef = { current: initial };
  const rec = openRecording(initial, ref);
  const { store, budgets } = rec;
  const upstream = new Upstream(initial);
  const { pipeline, guard, listeners } = createServing({
    ref,
    upstream,
    minter,
    record: (flow, config) => rec.record(flow, config.log.flows),
    budgets,
    storeRefusal: () => store.availability.refusal(),
    caCert: { pem: ca.certPem, der: ca.certDer },
  });

  const bound: Bound[] = [];
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
  const reload = () => reloadPolicy(ref, upstream);
  try {
    const agentBound: Bound[] = [];
    for (const l of listeners) {
      const b = await listen(l.server, l.addr);
      bound.push(b);
      agentBound.push(b);
    }
    const ops = await startOperatorServers(initial, ref, rec, {
      active: pipeline.active,
      connections: () => guard.openConnections(),
      certs: () => minter.stats,
      stopping: () => closing !== undefined,
      reload,
    }, bound);
    // airlock never dials itself, whatever a rule's allow_ips say.
    upstream.setOwnListeners(bound.flatMap((b) => (b.port === undefined ? [] : [{ host: b.host, port: b.port }])));
    return {
      get config() {
        return ref.current;
      },
      caCertPath: caPaths(initial.dataDir).cert,
      minter,
      store,
      addresses: { ...agentAddresses(initial, agentBound), admin: ops.admin, ui: ops.ui },
      ...(ops.uiToken === undefined ? {} : { uiToken: ops.uiToken }),
      openConnections: guard.openConnections,
      reload,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The agent-facing listeners' real addresses, named as the policy names them (agentListeners' order). */
export function agentAddresses(config: Config, bound: Bound[]): Airlock['addresses'] {
  const out: Airlock['addresses'] = { routes: [] };
  agentListeners(config).forEach((l, i) => {
    if (l.kind === 'route') out.routes.push(bound[i]);
    else out[l.kind] = bound[i];
  });
  return out;
}

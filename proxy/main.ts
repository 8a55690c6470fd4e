// Composition root: config -> CA -> store -> pipeline -> listeners. Nothing else lives here.
import type net from 'node:net';
import { caPaths, initCa, loadCa } from '../ca/authority.ts';
import { LeafMinter } from '../ca/leaf-cache.ts';
import type { Config } from '../policies/types.ts';
import { createExplicitServer } from './io/explicit.ts';
import { createInnerServers } from './io/inner.ts';
import { type Bound, describeAddr, listen } from './io/listen.ts';
import { createRouteServer } from './io/route-server.ts';
import { createTransparentServer } from './io/transparent.ts';
import { Upstream } from './io/upstream.ts';
import { createPipeline } from './pipeline.ts';
import { FlowStore } from './store/writer.ts';

export interface Airlock {
  config: Config;
  caCertPath: string;
  minter: LeafMinter;
  store: FlowStore;
  /** Real addresses: proxy, transparent, and one per route (in policy order). */
  addresses: { proxy?: Bound; transparent?: Bound; routes: Bound[] };
  close(): Promise<void>;
}

export async function startAirlock(config: Config): Promise<Airlock> {
  initCa(config.dataDir, config.ca.nameConstraints ? { nameConstraints: config.hosts.map((h) => h.match) } : {});
  const ca = loadCa(config.dataDir);
  const minter = new LeafMinter(ca, { cacheSize: config.ca.cacheSize });
  const store = new FlowStore(config.store.path);
  const upstream = new Upstream(config);
  const pipeline = createPipeline({ config, upstream, store });
  const inner = createInnerServers(minter, pipeline);

  const bound: Bound[] = [];
  const start = async (server: net.Server, addr: Parameters<typeof listen>[1]) => {
    const b = await listen(server, addr);
    bound.push(b);
    return b;
  };
  let closing: Promise<void> | undefined;
  const closeAll = () =>
    (closing ??= (async () => {
      await Promise.all(bound.map((b) => b.close()));
      await upstream.close();
      await store.close();
    })());
  try {
    const { proxy, transparent } = config.listen;
    const addresses: Airlock['addresses'] = { routes: [] };
    if (proxy) addresses.proxy = await start(createExplicitServer(config, pipeline, inner, describeAddr(proxy)), proxy);
    if (transparent) {
      addresses.transparent = await start(createTransparentServer(config, pipeline, inner, describeAddr(transparent)), transparent);
    }
    for (const route of config.routes) {
      addresses.routes.push(await start(createRouteServer(route, pipeline, describeAddr(route.listen)), route.listen));
    }
    return { config, caCertPath: caPaths(config.dataDir).cert, minter, store, addresses, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

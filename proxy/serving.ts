// What serves agents, built the same way in a single airlock process and in each worker
// (proxy/workers/): the pipeline, the guard in front of it, and one server per agent-facing
// listener (explicit, transparent, routes, in policy order). Binding them is the caller's job.
import type net from 'node:net';
import type { LeafMinter } from '../ca/leaf-cache.ts';
import type { Budgets } from './budgets/budgets.ts';
import type { ConfigRef } from './config-ref.ts';
import type { Flow } from './flow.ts';
import { createExplicitServer } from './io/explicit.ts';
import { createGuard, type Guard } from './io/guard.ts';
import { createInnerServers } from './io/inner.ts';
import { describeAddr } from './io/listen.ts';
import { createRouteServer } from './io/route-server.ts';
import { createTransparentServer } from './io/transparent.ts';
import type { Upstream } from './io/upstream.ts';
import type { MintGate } from './limits.ts';
import { createPipeline, type Pipeline } from './pipeline.ts';
import type { Config, ListenAddr, Route } from '../policies/types.ts';

export interface ServingDeps {
  ref: ConfigRef;
  upstream: Upstream;
  minter: LeafMinter;
  /** `config`: the policy the request was handled under. */
  record(flow: Flow, config: Config): void;
  budgets: Budgets;
  storeRefusal: () => { reason: string; retryAfterS: number } | null;
  caCert: { pem: string; der: Buffer };
  /** The leaf-mint budget shared by workers; default: this process's own. */
  mintGate?: MintGate;
  /** Sees the guard before any server takes its handlers (a worker tracks requests in progress). */
  onGuard?: (guard: Guard) => void;
}

export interface AgentListener {
  addr: ListenAddr;
  server: net.Server;
}

export interface Serving {
  pipeline: Pipeline;
  guard: Guard;
  /** One per agent-facing listener: explicit, transparent, then the routes in policy order. */
  listeners: AgentListener[];
}

export function createServing(d: ServingDeps): Serving {
  const pipeline = createPipeline({ config: d.ref, upstream: d.upstream, record: d.record, budgets: d.budgets, storeRefusal: d.storeRefusal, caCert: d.caCert });
  const guard = createGuard(d.ref, pipeline, d.mintGate);
  d.onGuard?.(guard);
  const inner = createInnerServers(d.minter, pipeline, guard);
  const listeners: AgentListener[] = [];
  for (const l of agentListeners(d.ref.current)) {
    const name = describeAddr(l.addr);
    const server =
      l.kind === 'route'
        ? createRouteServer(l.route, pipeline, guard, name)
        : l.kind === 'proxy'
          ? createExplicitServer(d.ref, pipeline, inner, guard, name)
          : createTransparentServer(d.ref, pipeline, inner, guard, name);
    listeners.push({ addr: l.addr, server });
  }
  return { pipeline, guard, listeners };
}

type ListenerSpec = { addr: ListenAddr } & ({ kind: 'proxy' | 'transparent' } | { kind: 'route'; route: Route });

/** The agent-facing listeners of a policy, in the order every process numbers them. */
export function agentListeners(config: Config): ListenerSpec[] {
  const out: ListenerSpec[] = [];
  if (config.listen.proxy) out.push({ kind: 'proxy', addr: config.listen.proxy });
  if (config.listen.transparent) out.push({ kind: 'transparent', addr: config.listen.transparent });
  for (const route of config.routes) out.push({ kind: 'route', route, addr: route.listen });
  return out;
}

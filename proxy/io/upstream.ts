// Upstream connection pools. Each pool dials through a connector that resolves the name,
// refuses addresses the rule does not allow, and connects to exactly the address it checked,
// verifying TLS against airlock's trust roots.
import net from 'node:net';
import os from 'node:os';
import tls from 'node:tls';
import { createRequire } from 'node:module';
import type { buildConnector, Dispatcher, Pool as PoolType } from 'undici';

// undici's index also loads fetch, WebSocket, caches and more (~19 MB of RSS); airlock needs only
// Pool.dispatch() (~10 MB). The lockfile pins undici; the CLI integration tests run this path.
const Pool: typeof PoolType = createRequire(import.meta.url)('undici/lib/dispatcher/pool.js');
import type { Config, HostRule } from '../../policies/types.ts';
import { AirlockError } from '../errors.ts';
import { checkedAddress, createResolver, type Resolver } from './resolve.ts';
import { strictResponses } from './strict-response.ts';
import { upstreamTrust } from './trust.ts';

export interface Target {
  scheme: 'http' | 'https';
  host: string;
  port: number;
}

/** One policy's upstream settings and the pools that dial with them. */
interface Generation {
  config: Config;
  trust: tls.SecureContext;
  resolve: Resolver;
  pools: Map<string, PoolType>;
}

export class Upstream {
  private strict = new WeakMap<PoolType, Dispatcher>();
  /** Per policy: a request admitted before a reload dials with the policy it was admitted with. */
  private generations = new WeakMap<Config, Generation>();
  /** Generations with pools open (closed at the next reload, or at close()). */
  private live = new Set<Generation>();

  private own: { host: string; port: number }[] = [];

  constructor(config: Config) {
    this.reconfigure(config);
  }

  /** airlock's own TCP listeners: never an upstream (admin plane, loops). */
  setOwnListeners(listeners: { host?: string; port: number }[]): void {
    this.own = listeners.map((l) => ({ host: l.host ?? '', port: l.port }));
  }

  private isOwnListener(ip: string, port: number): boolean {
    return this.own.some((l) => l.port === port && (l.host === ip || isWildcard(l.host) && isLocal(ip)));
  }

  /** A new policy: new trust roots and resolver; pools of the old ones finish their requests and close. */
  reconfigure(config: Config): void {
    const next = this.generation(config);
    for (const gen of this.live) {
      if (gen === next) continue;
      this.live.delete(gen);
      for (const pool of gen.pools.values()) void pool.close();
      gen.pools.clear();
    }
  }

  private generation(config: Config): Generation {
    let gen = this.generations.get(config);
    if (!gen) {
      gen = { config, trust: upstreamTrust(config.upstream.caFiles), resolve: createResolver(config), pools: new Map() };
      this.generations.set(config, gen);
    }
    return gen;
  }

  /** The pool for this target and rule under `config` (the request's policy), refusing upstream responses with ambiguous framing (502). */
  pool(config: Config, target: Target, rule: HostRule): Dispatcher {
    const gen = this.generation(config);
    const key = `${target.scheme}://${target.host}:${target.port}#${rule.id}`;
    let pool = gen.pools.get(key);
    if (!pool) {
      const u = config.upstream;
      pool = new Pool(`${target.scheme}://${hostForUrl(target.host)}:${target.port}`, {
        connect: this.connector(gen, target, rule),
        headersTimeout: u.responseTimeoutMs,
        bodyTimeout: u.idleTimeoutMs,
        keepAliveTimeout: 30_000,
        // No redirect interceptor: a 3xx goes back to the agent, airlock never follows it.
      });
      gen.pools.set(key, pool);
      this.live.add(gen);
      this.strict.set(pool, pool.compose(strictResponses));
    }
    return this.strict.get(pool)!;
  }

  private connector(gen: Generation, target: Target, rule: HostRule): buildConnector.connector {
    const timeoutMs = gen.config.upstream.connectTimeoutMs;
    return (_opts, callback) => {
      checkedAddress(gen.resolve, target.host, rule).then(
        (ip) => {
          if (this.isOwnListener(ip, target.port)) {
            return callback(new AirlockError('address_not_allowed', `${target.host}:${target.port} is airlock itself`), null);
          }
          const socket =
            target.scheme === 'https'
              ? tls.connect({
                  host: ip,
                  port: target.port,
                  servername: net.isIP(target.host) ? undefined : target.host,
                  secureContext: gen.trust,
                  ALPNProtocols: ['http/1.1'],
                  rejectUnauthorized: true,
                })
              : net.connect({ host: ip, port: target.port });
          const timer = setTimeout(
            () => socket.destroy(new AirlockError('upstream_timeout', `connect to ${target.host} (${ip}) timed out`)),
            timeoutMs,
          );
          const ready = target.scheme === 'https' ? 'secureConnect' : 'connect';
          const onError = (err: Error) => {
            clearTimeout(timer);
            callback(err, null);
          };
          socket.once('error', onError);
          socket.once(ready, () => {
            clearTimeout(timer);
            socket.off('error', onError);
            socket.setNoDelay(true);
            callback(null, socket);
          });
        },
        (err: Error) => callback(err, null),
      );
    };
  }

  async close(): Promise<void> {
    const pools = [...this.live].flatMap((gen) => [...gen.pools.values()]);
    for (const gen of this.live) gen.pools.clear();
    this.live.clear();
    await Promise.all(pools.map((p) => p.destroy()));
  }
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

/** Loopback, or an address of one of this machine's interfaces. */
function isLocal(ip: string): boolean {
  if (ip.startsWith('127.') || ip === '::1') return true;
  return Object.values(os.networkInterfaces()).some((list) => list?.some((a) => a.address === ip));
}

function hostForUrl(host: string): string {
  return net.isIPv6(host) ? `[${host}]` : host;
}

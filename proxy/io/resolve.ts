// Name resolution and address checks: resolve once, classify the address, dial exactly that one.
import dns from 'node:dns';
import net from 'node:net';
import { classifyIp, ipAllowed } from '../../policies/ip.ts';
import type { Config, HostRule } from '../../policies/types.ts';
import { AirlockError } from '../errors.ts';

export type Resolver = (host: string) => Promise<string[]>;

export function createResolver(config: Config): Resolver {
  const servers = config.upstream.dnsServers;
  const resolver = servers.length ? new dns.promises.Resolver({ timeout: 3000, tries: 2 }) : undefined;
  resolver?.setServers(servers);
  return async (host) => {
    if (net.isIP(host)) return [host];
    const pinned = config.upstream.resolve.get(host);
    if (pinned) return [pinned];
    try {
      if (resolver) {
        const [v4, v6] = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
        const all = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
        if (all.length) return all;
        throw v4.status === 'rejected' ? v4.reason : new Error('no addresses');
      }
      return (await dns.promises.lookup(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch (err) {
      throw new AirlockError('dns_failed', `could not resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? 'no address'}`);
    }
  };
}

/** The first resolved address the rule may reach; refuses non-public addresses the rule does not name. */
export async function checkedAddress(resolve: Resolver, host: string, rule: HostRule): Promise<string> {
  const addresses = await resolve(host);
  for (const ip of addresses) {
    if (classifyIp(ip).public || ipAllowed(ip, rule.allowIps)) return ip;
  }
  const first = addresses[0];
  throw new AirlockError(
    'address_not_allowed',
    `${host} resolved to ${first} (${classifyIp(first).range}), which the policy does not allow`,
  );
}

// Rule generation for `airlock iptables`: pure functions from options to the shell script that
// applies or removes them. The command runs exactly the script it prints, so what an operator
// reviews is what runs.
import net from 'node:net';

export type Mode = 'forward' | 'output';

export interface RuleOptions {
  mode: Mode;
  /** forward: the agent's interface as seen from the host (container veth or bridge). */
  iface?: string;
  /** airlock's transparent port. */
  port?: number;
  /** The only resolvers the agent may reach (UDP and TCP 53). */
  dns: string[];
  /** forward: airlock listens on this address instead of the agent interface's own (DNAT, not REDIRECT). */
  airlockIp?: string;
  /** output: airlock's uid; its own traffic is neither redirected (no loop) nor filtered. */
  uid?: number;
}

/** How IPv6 is locked down: ip6tables rules, or (no usable ip6tables) IPv6 switched off. */
export type Ipv6Method = 'ip6tables' | 'sysctl';

type Family = 4 | 6;

export function validate(o: RuleOptions, action: 'apply' | 'undo'): string[] {
  const problems: string[] = [];
  if (o.mode === 'forward') {
    if (!o.iface) problems.push('--interface IFACE is required (the agent side as seen from the host, e.g. veth1234 or docker0)');
    else if (!/^[A-Za-z0-9_.-]{1,15}$/.test(o.iface)) problems.push(`--interface "${o.iface}": expected an interface name (up to 15 of A-Z a-z 0-9 _ . -)`);
    if (o.uid !== undefined) problems.push('--uid is for --mode output');
  } else {
    if (o.iface) problems.push('--interface is for --mode forward; output mode covers every local process except --uid');
    if (o.airlockIp) problems.push('--airlock-ip is for --mode forward; output mode redirects to this host');
    if (action === 'apply' && o.uid === undefined) problems.push("--uid N (airlock's user id) is required in output mode, so airlock's own connections are not redirected back to it");
  }
  if (action === 'apply') {
    if (o.port === undefined) problems.push("--port N (airlock's transparent port) is required");
    else if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) problems.push('--port: expected a number from 1 to 65535');
  }
  for (const d of o.dns) if (!net.isIP(d)) problems.push(`--dns "${d}": expected an IP address`);
  if (o.airlockIp && !net.isIP(o.airlockIp)) problems.push(`--airlock-ip "${o.airlockIp}": expected an IP address`);
  if (o.uid !== undefined && (!Number.isInteger(o.uid) || o.uid < 0)) problems.push('--uid: expected a numeric user id');
  return problems;
}

/** Chain names: per interface in forward mode, so several agents can be locked down independently. */
export function chains(o: Pick<RuleOptions, 'mode' | 'iface'>): { nat: string; filter: string } {
  const suffix = o.mode === 'output' ? 'OUTPUT' : o.iface!;
  return { nat: `AIRLOCK_NAT_${suffix}`, filter: `AIRLOCK_FLT_${suffix}` };
}

interface Jump {
  table: 'nat' | 'filter';
  chain: string;
  spec: string; // match part, e.g. "-i veth0"
  target: string;
}

function jumps(o: RuleOptions): Jump[] {
  const c = chains(o);
  if (o.mode === 'output') {
    return [
      { table: 'nat', chain: 'OUTPUT', spec: '', target: c.nat },
      { table: 'filter', chain: 'OUTPUT', spec: '', target: c.filter },
    ];
  }
  const i = `-i ${o.iface}`;
  return [
    { table: 'nat', chain: 'PREROUTING', spec: i, target: c.nat },
    { table: 'filter', chain: 'INPUT', spec: i, target: c.filter },
    { table: 'filter', chain: 'FORWARD', spec: i, target: c.filter },
  ];
}

const table = (j: Jump) => (j.table === 'nat' ? ' -t nat' : '');
/** "CHAIN [POS] [-i IFACE] -j TARGET" */
const jumpRule = (j: Jump, pos?: number) => [j.chain, pos, j.spec, '-j', j.target].filter((x) => x !== undefined && x !== '').join(' ');

const ofFamily = (ip: string, f: Family) => net.isIP(ip) === f;

/** nat rules (without "-A CHAIN"); none when this family has no airlock address (its filter then drops all). */
function natRules(o: RuleOptions, f: Family): string[] {
  const web = '-p tcp -m multiport --dports 80,443';
  if (o.mode === 'output') {
    return [
      '-o lo -j RETURN', // local services are not egress
      `-m owner --uid-owner ${o.uid} -j RETURN`, // airlock's own upstream connections: no loop
      `${web} -j REDIRECT --to-ports ${o.port}`,
    ];
  }
  if (!o.airlockIp) return [`${web} -j REDIRECT --to-ports ${o.port}`];
  if (!ofFamily(o.airlockIp, f)) return [];
  const to = f === 6 ? `[${o.airlockIp}]:${o.port}` : `${o.airlockIp}:${o.port}`;
  return [`${web} -j DNAT --to-destination ${to}`];
}

/** filter rules (without "-A CHAIN"): allow airlock, the resolver and return traffic; drop the rest. */
function filterRules(o: RuleOptions, f: Family): string[] {
  const r: string[] = [];
  if (o.mode === 'output') {
    r.push('-o lo -j RETURN', `-m owner --uid-owner ${o.uid} -j RETURN`);
  }
  r.push('-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT');
  if (o.mode === 'forward') {
    if (!o.airlockIp) r.push(`-p tcp -m addrtype --dst-type LOCAL --dport ${o.port} -j ACCEPT`);
    else if (ofFamily(o.airlockIp, f)) r.push(`-d ${o.airlockIp} -p tcp --dport ${o.port} -j ACCEPT`);
  }
  for (const d of o.dns.filter((d) => ofFamily(d, f))) {
    r.push(`-d ${d} -p udp --dport 53 -j ACCEPT`, `-d ${d} -p tcp --dport 53 -j ACCEPT`);
  }
  // Neighbour discovery is IPv6's ARP (the kernel's own packets carry no uid): without it there is no IPv6 at all.
  if (f === 6) r.push(...['router-solicitation', 'neighbour-solicitation', 'neighbour-advertisement'].map((t) => `-p ipv6-icmp --icmpv6-type ${t} -j ACCEPT`));
  r.push('-p udp --dport 443 -j DROP', '-j DROP'); // QUIC named on its own so its counter shows HTTP/3 attempts
  return r;
}

const TOOLS: Record<Family, { cmd: string; restore: string }> = {
  4: { cmd: 'iptables', restore: 'iptables-restore' },
  6: { cmd: 'ip6tables', restore: 'ip6tables-restore' },
};

function familyApply(o: RuleOptions, f: Family): string[] {
  const { cmd, restore } = TOOLS[f];
  const c = chains(o);
  const lines = [`${restore} -w --noflush <<'EOF'`];
  // --noflush keeps everything else; a declared chain is (re)created empty and refilled in one
  // atomic commit per table, so a re-apply never leaves the agent unfiltered in between.
  lines.push('*nat', `:${c.nat} - [0:0]`, ...natRules(o, f).map((r) => `-A ${c.nat} ${r}`), 'COMMIT');
  lines.push('*filter', `:${c.filter} - [0:0]`, ...filterRules(o, f).map((r) => `-A ${c.filter} ${r}`), 'COMMIT', 'EOF');
  for (const j of jumps(o)) {
    // Only insert the jump if it is missing: re-applying must not stack duplicates.
    lines.push(`${cmd} -w${table(j)} -C ${jumpRule(j)} 2>/dev/null || ${cmd} -w${table(j)} -I ${jumpRule(j, 1)}`);
  }
  return lines;
}

function familyUndo(o: RuleOptions, f: Family): string[] {
  const { cmd } = TOOLS[f];
  const c = chains(o);
  const lines: string[] = [];
  for (const j of jumps(o)) lines.push(`while ${cmd} -w${table(j)} -D ${jumpRule(j)} 2>/dev/null; do :; done`);
  for (const [t, name] of [[' -t nat', c.nat], ['', c.filter]] as const) {
    lines.push(`if ${cmd} -w${t} -F ${name} 2>/dev/null; then ${cmd} -w${t} -X ${name}; fi`);
  }
  return lines;
}

/** Without usable ip6tables, IPv6 is switched off where the agent's packets arrive, so it cannot bypass the IPv4 rules. */
function sysctlPaths(o: RuleOptions): string[] {
  const ifaces = o.mode === 'forward' ? [o.iface!] : ['all', 'default'];
  return ifaces.map((i) => `/proc/sys/net/ipv6/conf/${i}/disable_ipv6`);
}

function describe(o: RuleOptions): string {
  if (o.mode === 'output') return `every local process except uid ${o.uid}`;
  return `agent interface ${o.iface}`;
}

export function applyScript(o: RuleOptions, ipv6: Ipv6Method): string {
  const target = o.airlockIp ? `${o.airlockIp}:${o.port}` : `port ${o.port} on this host`;
  const lines = [
    '#!/bin/sh -e',
    `# airlock: ${describe(o)} -> TCP 80/443 redirected to airlock (${target});`,
    `# allowed: airlock, DNS to ${o.dns.length ? o.dns.join(', ') : '(none)'}, return traffic; dropped: UDP 443 (QUIC) and everything else.`,
  ];
  if (o.mode === 'output' && o.uid === 0) {
    lines.push('# WARNING: --uid 0 exempts every root process; run airlock as its own user.');
  }
  lines.push('', '# IPv4', ...familyApply(o, 4), '');
  if (ipv6 === 'ip6tables') lines.push('# IPv6: the same rules', ...familyApply(o, 6));
  else {
    lines.push('# IPv6: ip6tables is not usable here, so IPv6 is switched off instead (undo switches it back on)');
    for (const p of sysctlPaths(o)) lines.push(`[ ! -e ${p} ] || echo 1 > ${p}`);
  }
  return lines.join('\n') + '\n';
}

export function undoScript(o: RuleOptions, ipv6: Ipv6Method): string {
  const lines = ['#!/bin/sh -e', `# airlock: remove the jumps and chains added for ${describe(o)}; nothing else is touched.`, '', ...familyUndo(o, 4)];
  if (ipv6 === 'ip6tables') lines.push(...familyUndo(o, 6));
  else for (const p of sysctlPaths(o)) lines.push(`[ ! -e ${p} ] || echo 0 > ${p}`);
  return lines.join('\n') + '\n';
}

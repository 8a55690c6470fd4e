// Rule generation for `airlock iptables`: what the script allows, drops, and touches.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { type RuleOptions, applyScript, chains, undoScript, validate } from '../../proxy/cli/iptables-rules.ts';

const fwd: RuleOptions = { mode: 'forward', iface: 'veth0', port: 8443, dns: ['198.18.0.1'] };
const out: RuleOptions = { mode: 'output', uid: 998, port: 8443, dns: ['198.18.0.1'] };

/** The rules of one family/table section of the iptables-restore input, in order. */
function section(script: string, family: 4 | 6, table: 'nat' | 'filter'): string[] {
  const start = script.indexOf(family === 4 ? 'iptables-restore' : 'ip6tables-restore');
  const body = script.slice(start, script.indexOf('\nEOF', start));
  const t = body.slice(body.indexOf(`*${table}\n`));
  return t.slice(0, t.indexOf('COMMIT')).split('\n').filter((l) => l.startsWith('-A '));
}

/** Shell lines that call iptables/ip6tables directly (not the restore input). */
const commands = (script: string) => script.split('\n').filter((l) => /^(while |if )?ip6?tables /.test(l));

describe('forward mode (agent interface)', () => {
  const s = applyScript(fwd, 'ip6tables');

  it('redirects TCP 80 and 443 from the interface to the transparent port', () => {
    expect(section(s, 4, 'nat')).toEqual(['-A AIRLOCK_NAT_veth0 -p tcp -m multiport --dports 80,443 -j REDIRECT --to-ports 8443']);
    expect(s).toContain('iptables -w -t nat -C PREROUTING -i veth0 -j AIRLOCK_NAT_veth0 2>/dev/null || iptables -w -t nat -I PREROUTING 1 -i veth0 -j AIRLOCK_NAT_veth0');
  });

  it('allows return traffic, airlock and the resolver; drops QUIC, then everything else', () => {
    expect(section(s, 4, 'filter')).toEqual([
      '-A AIRLOCK_FLT_veth0 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
      '-A AIRLOCK_FLT_veth0 -p tcp -m addrtype --dst-type LOCAL --dport 8443 -j ACCEPT',
      '-A AIRLOCK_FLT_veth0 -d 198.18.0.1 -p udp --dport 53 -j ACCEPT',
      '-A AIRLOCK_FLT_veth0 -d 198.18.0.1 -p tcp --dport 53 -j ACCEPT',
      '-A AIRLOCK_FLT_veth0 -p udp --dport 443 -j DROP',
      '-A AIRLOCK_FLT_veth0 -j DROP',
    ]);
  });

  it('filters both routed (FORWARD) and host-bound (INPUT) traffic from the interface', () => {
    expect(s).toContain('iptables -w -C INPUT -i veth0 -j AIRLOCK_FLT_veth0 2>/dev/null || iptables -w -I INPUT 1 -i veth0 -j AIRLOCK_FLT_veth0');
    expect(s).toContain('iptables -w -C FORWARD -i veth0 -j AIRLOCK_FLT_veth0 2>/dev/null || iptables -w -I FORWARD 1 -i veth0 -j AIRLOCK_FLT_veth0');
  });

  it('applies the same rules to IPv6, with neighbour discovery and without the IPv4 resolver', () => {
    expect(section(s, 6, 'nat')).toEqual(section(s, 4, 'nat'));
    const f6 = section(s, 6, 'filter');
    expect(f6.join('\n')).not.toContain('198.18.0.1');
    expect(f6).toContain('-A AIRLOCK_FLT_veth0 -p ipv6-icmp --icmpv6-type neighbour-solicitation -j ACCEPT');
    expect(f6.at(-1)).toBe('-A AIRLOCK_FLT_veth0 -j DROP');
    expect(s).toContain('ip6tables -w -C FORWARD -i veth0 -j AIRLOCK_FLT_veth0');
    const s6 = applyScript({ ...fwd, dns: ['198.18.0.1', 'fd00::53'] }, 'ip6tables');
    expect(section(s6, 6, 'filter')).toContain('-A AIRLOCK_FLT_veth0 -d fd00::53 -p udp --dport 53 -j ACCEPT');
    expect(section(s6, 4, 'filter').join('\n')).not.toContain('fd00::53');
  });

  it('without a resolver allows no DNS at all', () => {
    const s0 = applyScript({ ...fwd, dns: [] }, 'ip6tables');
    expect(s0).not.toContain('--dport 53');
    expect(s0).toContain('DNS to (none)');
  });

  it('--airlock-ip: DNAT to that address and allow only it; the other family has no way out', () => {
    const d = applyScript({ ...fwd, airlockIp: '198.18.0.9' }, 'ip6tables');
    expect(section(d, 4, 'nat')).toEqual(['-A AIRLOCK_NAT_veth0 -p tcp -m multiport --dports 80,443 -j DNAT --to-destination 198.18.0.9:8443']);
    expect(section(d, 4, 'filter')).toContain('-A AIRLOCK_FLT_veth0 -d 198.18.0.9 -p tcp --dport 8443 -j ACCEPT');
    expect(section(d, 4, 'filter').join('\n')).not.toContain('addrtype');
    expect(section(d, 6, 'nat')).toEqual([]);
    expect(section(d, 6, 'filter').join('\n')).not.toContain('--dport 8443');
    const d6 = applyScript({ ...fwd, airlockIp: 'fd00::9' }, 'ip6tables');
    expect(section(d6, 6, 'nat')).toEqual(['-A AIRLOCK_NAT_veth0 -p tcp -m multiport --dports 80,443 -j DNAT --to-destination [fd00::9]:8443']);
  });

  it('without usable ip6tables switches IPv6 off on the interface, and undo switches it back on', () => {
    const s4 = applyScript(fwd, 'sysctl');
    expect(s4).not.toMatch(/^ip6tables/m);
    expect(s4).toContain('[ ! -e /proc/sys/net/ipv6/conf/veth0/disable_ipv6 ] || echo 1 > /proc/sys/net/ipv6/conf/veth0/disable_ipv6');
    expect(undoScript(fwd, 'sysctl')).toContain('echo 0 > /proc/sys/net/ipv6/conf/veth0/disable_ipv6');
  });
});

describe('output mode (airlock on the agent host)', () => {
  const s = applyScript(out, 'ip6tables');

  it("redirects every local process's 80/443 except airlock's own uid and loopback", () => {
    expect(section(s, 4, 'nat')).toEqual([
      '-A AIRLOCK_NAT_OUTPUT -o lo -j RETURN',
      '-A AIRLOCK_NAT_OUTPUT -m owner --uid-owner 998 -j RETURN',
      '-A AIRLOCK_NAT_OUTPUT -p tcp -m multiport --dports 80,443 -j REDIRECT --to-ports 8443',
    ]);
    expect(s).toContain('iptables -w -t nat -C OUTPUT -j AIRLOCK_NAT_OUTPUT 2>/dev/null || iptables -w -t nat -I OUTPUT 1 -j AIRLOCK_NAT_OUTPUT');
  });

  it('drops everything else those processes send', () => {
    const f = section(s, 4, 'filter');
    expect(f.slice(0, 3)).toEqual([
      '-A AIRLOCK_FLT_OUTPUT -o lo -j RETURN',
      '-A AIRLOCK_FLT_OUTPUT -m owner --uid-owner 998 -j RETURN',
      '-A AIRLOCK_FLT_OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
    ]);
    expect(f.slice(-2)).toEqual(['-A AIRLOCK_FLT_OUTPUT -p udp --dport 443 -j DROP', '-A AIRLOCK_FLT_OUTPUT -j DROP']);
    expect(s).not.toContain(' -i ');
  });

  it('warns that uid 0 would exempt every root process', () => {
    expect(applyScript({ ...out, uid: 0 }, 'ip6tables')).toContain('WARNING: --uid 0');
  });

  it('lets neighbour discovery out over IPv6 (kernel packets have no owner)', () => {
    expect(section(s, 6, 'filter')).toContain('-A AIRLOCK_FLT_OUTPUT -p ipv6-icmp --icmpv6-type neighbour-solicitation -j ACCEPT');
    expect(section(s, 4, 'filter').join('\n')).not.toContain('icmp');
  });

  it('without ip6tables switches IPv6 off host-wide', () => {
    expect(applyScript(out, 'sysctl')).toContain('echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6');
  });
});

describe('what the scripts touch', () => {
  it.each([
    ['forward', fwd],
    ['output', out],
  ] as const)('%s: every iptables command names an airlock chain, and undo removes exactly those', (_, o) => {
    const { nat, filter } = chains(o);
    const apply = applyScript(o, 'ip6tables');
    const undo = undoScript(o, 'ip6tables');
    for (const l of [...commands(apply), ...commands(undo)]) expect(l).toMatch(new RegExp(`-j (${nat}|${filter})\\b|-[FX] (${nat}|${filter})\\b`));
    // Each jump the apply inserts is deleted (repeatedly, so stray duplicates go too); each chain flushed and deleted.
    const inserted = commands(apply).map((l) => l.split(' || ')[1].replace(/ -I (\w+) 1/, ' -D $1'));
    for (const ins of inserted) expect(undo).toContain(`while ${ins} 2>/dev/null; do :; done`);
    for (const cmd of ['iptables', 'ip6tables']) {
      expect(undo).toContain(`if ${cmd} -w -t nat -F ${nat} 2>/dev/null; then ${cmd} -w -t nat -X ${nat}; fi`);
      expect(undo).toContain(`if ${cmd} -w -F ${filter} 2>/dev/null; then ${cmd} -w -X ${filter}; fi`);
    }
  });

  it('apply refills chains atomically (iptables-restore --noflush) and inserts a jump only when missing', () => {
    const s = applyScript(fwd, 'ip6tables');
    expect(s.match(/^ip6?tables-restore -w --noflush <<'EOF'$/gm)).toHaveLength(2);
    for (const l of commands(s)) expect(l).toMatch(/ -C .* 2>\/dev\/null \|\| .* -I \w+ 1 /);
  });

  it.each([
    ['apply forward', applyScript(fwd, 'ip6tables')],
    ['apply output', applyScript(out, 'sysctl')],
    ['undo', undoScript(fwd, 'ip6tables')],
  ])('%s is valid sh', (_, script) => {
    expect(spawnSync('sh', ['-n'], { input: script }).status).toBe(0);
  });

  it('chain names fit iptables (28 characters) for the longest interface name', () => {
    const c = chains({ mode: 'forward', iface: 'br-0123456789ab' });
    expect(c.nat.length).toBeLessThanOrEqual(28);
    expect(c.filter.length).toBeLessThanOrEqual(28);
  });
});

describe('validate', () => {
  it('names what is missing or wrong', () => {
    expect(validate({ mode: 'forward', dns: [], port: 8443 }, 'apply')).toEqual([
      '--interface IFACE is required (the agent side as seen from the host, e.g. veth1234 or docker0)',
    ]);
    expect(validate({ ...fwd, iface: 'veth0; rm -rf /' }, 'apply')[0]).toMatch(/^--interface "veth0; rm -rf \/": expected an interface name/);
    expect(validate({ ...fwd, iface: 'a-very-long-interface' }, 'apply')).toHaveLength(1);
    expect(validate({ ...fwd, port: undefined }, 'apply')).toEqual(["--port N (airlock's transparent port) is required"]);
    expect(validate({ ...fwd, port: 70000 }, 'apply')).toEqual(['--port: expected a number from 1 to 65535']);
    expect(validate({ ...fwd, dns: ['resolver'] }, 'apply')).toEqual(['--dns "resolver": expected an IP address']);
    expect(validate({ ...fwd, airlockIp: 'x' }, 'apply')).toEqual(['--airlock-ip "x": expected an IP address']);
    expect(validate({ ...out, uid: undefined }, 'apply')[0]).toMatch(/^--uid N \(airlock's user id\) is required in output mode/);
    expect(validate({ ...out, iface: 'veth0' }, 'apply')[0]).toMatch(/^--interface is for --mode forward/);
  });

  it('undo needs only the interface (or output mode)', () => {
    expect(validate({ mode: 'forward', iface: 'veth0', dns: [] }, 'undo')).toEqual([]);
    expect(validate({ mode: 'output', dns: [] }, 'undo')).toEqual([]);
    expect(validate(fwd, 'apply')).toEqual([]);
  });
});

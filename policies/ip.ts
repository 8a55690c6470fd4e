// Address classification for the after-DNS check: only plain global unicast is
// reachable by default; everything else needs an explicit allow_ips entry.
import ipaddr from 'ipaddr.js';
import type { Cidr } from './types.ts';

type Addr = ipaddr.IPv4 | ipaddr.IPv6;

/** Strict parse: dotted-quad IPv4 (no "0x7f.1" or "2130706433" forms) or IPv6 without a zone. */
export function parseIp(text: string): Addr | null {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (!text.includes('%') && ipaddr.IPv6.isValid(text)) return ipaddr.IPv6.parse(text);
  return null;
}

/** IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes the IPv4 address it reaches. */
function unmap(addr: Addr): Addr {
  return addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()
    ? (addr as ipaddr.IPv6).toIPv4Address()
    : addr;
}

const benchmarking = ipaddr.IPv4.parseCIDR('198.18.0.0/15');
const globalUnicast6 = ipaddr.IPv6.parseCIDR('2000::/3');

function classify(addr: Addr): { public: boolean; range: string } {
  if (addr.kind() === 'ipv4') {
    const v4 = addr as ipaddr.IPv4;
    // ipaddr.js files 198.18/15 under "reserved"; the specific name reads better in a denial.
    if (v4.match(benchmarking)) return { public: false, range: 'benchmarking' };
    const range = v4.range();
    return { public: range === 'unicast', range };
  }
  const v6 = addr as ipaddr.IPv6;
  const range = v6.range();
  if (range === 'ipv4Mapped') {
    // Judge by the IPv4 address it reaches, but never call it public: the proxy should dial plain IPv4.
    const inner = classify(v6.toIPv4Address());
    return { public: false, range: inner.public ? 'ipv4Mapped' : inner.range };
  }
  if (range !== 'unicast') return { public: false, range };
  // ipaddr.js calls anything unlisted "unicast"; only 2000::/3 is allocated global unicast.
  if (!v6.match(globalUnicast6)) return { public: false, range: 'reserved' };
  return { public: true, range };
}

/** public is true only for plain global unicast. Unparseable input is { public: false, range: "invalid" }. */
export function classifyIp(ip: string): { public: boolean; range: string } {
  const addr = parseIp(ip);
  if (!addr) return { public: false, range: 'invalid' };
  return classify(addr);
}

/** Canonical text of an IP address (ipaddr.js form), or null when not an IP. */
export function normalizeIp(ip: string): string | null {
  const addr = parseIp(ip);
  return addr ? addr.toString() : null;
}

/** "a.b.c.d", "a.b.c.d/n", "v6", "v6/n". A bare address is a /32 or /128. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const addrText = slash === -1 ? text : text.slice(0, slash);
  const bitsText = slash === -1 ? null : text.slice(slash + 1);
  let addr = parseIp(addrText);
  if (!addr) return null;
  const max = addr.kind() === 'ipv4' ? 32 : 128;
  if (bitsText !== null && !/^\d{1,3}$/.test(bitsText)) return null;
  let bits = bitsText === null ? max : Number(bitsText);
  if (bits > max) return null;
  // ::ffff:a.b.c.d/n is an IPv4 block written in IPv6 form.
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
    addr = (addr as ipaddr.IPv6).toIPv4Address();
    bits -= 96;
  }
  const base = addr;
  const range: [Addr, number] = [base, bits];
  return Object.freeze({
    text,
    contains(ip: string): boolean {
      const parsed = parseIp(ip);
      if (!parsed) return false;
      const candidate = unmap(parsed);
      if (candidate.kind() !== base.kind()) return false;
      return candidate.match(range);
    },
  });
}

/** May a rule connect to this resolved address? Public addresses always; others only when listed. */
export function ipAllowed(ip: string, allowIps: Cidr[]): boolean {
  return classifyIp(ip).public || allowIps.some((cidr) => cidr.contains(ip));
}

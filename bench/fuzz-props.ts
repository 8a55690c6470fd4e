// Properties of airlock's parsers and matchers, shared by the CI tests (test/unit/*-props.test.ts,
// a few thousand runs each) and bench/fuzz.ts (100,000+ runs each). Each property is its
// arbitraries plus a predicate that throws (expect) or returns false on a counterexample.
import { domainToASCII } from 'node:url';
import fc from 'fast-check';
import { hostMatches, matchesNormalized, normalizeHost, splitAuthority } from '../policies/hostnames.ts';
import { classifyIp, parseCidr } from '../policies/ip.ts';
import { parseClientHello } from '../proxy/io/client-hello.ts';
import { responseFramingProblem } from '../proxy/io/strict-response.ts';

export interface Prop {
  name: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  arbs: fc.Arbitrary<any>[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  predicate: (...args: any[]) => boolean | void;
}

export const fail = (msg: string): never => {
  throw new Error(msg);
};

// ---------------------------------------------------------------- host names

/** Any text, including non-ASCII, controls and the characters authorities are made of. */
const hostText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: fc.constantFrom(...'aAzZ09.-_:[]%@/\\ \t\0xX'.split('')), maxLength: 40 }),
  fc.domain(),
  fc.ipV4Extended(),
  fc.ipV6(),
);

const randomCase = (s: string, bits: number[]) => [...s].map((c, i) => (bits[i % bits.length] ? c.toUpperCase() : c)).join('');

function v4Spellings(n: number): string[] {
  const b = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  return [
    String(n),
    `0x${n.toString(16)}`,
    `0${n.toString(8)}`,
    b.map((x) => `0x${x.toString(16)}`).join('.'),
    b.map((x) => `0${x.toString(8)}`).join('.'),
    `${b[0]}.${(n & 0xffffff) >>> 0}`,
    `${b[0]}.${b[1]}.${(n & 0xffff) >>> 0}`,
    b.map((x) => x.toString().padStart(3, '0')).join('.'),
  ];
}

export const HOST_PROPS: Prop[] = [
  {
    name: 'normalizeHost never throws; an accepted host is lower-case ASCII, has no trailing dot and is a fixed point',
    arbs: [hostText],
    predicate: (raw: string) => {
      const n = normalizeHost(raw);
      if (!n.ok) return typeof n.problem === 'string' && n.problem.length > 0;
      const h = n.host;
      if (!/^[a-z0-9._:-]+$/.test(h) || h.endsWith('.') || h === '') fail(`odd result ${JSON.stringify(h)}`);
      const again = normalizeHost(h.includes(':') ? `[${h}]` : h);
      if (!again.ok || again.host !== h) fail(`not a fixed point: ${JSON.stringify(raw)} -> ${h} -> ${JSON.stringify(again)}`);
      return true;
    },
  },
  {
    name: 'case and one trailing dot never change a host name or what it matches',
    arbs: [fc.domain(), fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 1, maxLength: 16 }), fc.boolean(), fc.domain()],
    predicate: (d: string, bits: number[], dot: boolean, other: string) => {
      const a = normalizeHost(d);
      const b = normalizeHost(randomCase(d, bits) + (dot ? '.' : ''));
      if (JSON.stringify(a) !== JSON.stringify(b)) fail(`${d} vs variant: ${JSON.stringify(a)} ${JSON.stringify(b)}`);
      for (const pattern of [d, `*.${other}`, `*.${d}`]) {
        if (hostMatches(pattern, d) !== hostMatches(pattern, randomCase(d, bits) + (dot ? '.' : ''))) fail(`match differs for ${pattern}`);
      }
      return true;
    },
  },
  {
    name: 'a wildcard matches exactly the names with at least one more label, never the bare suffix or an IP',
    arbs: [fc.domain(), fc.domain(), fc.ipV4()],
    predicate: (suffix: string, name: string, ip: string) => {
      const s = normalizeHost(suffix);
      const n = normalizeHost(name);
      if (!s.ok || !n.ok) return true;
      const expected = n.host.endsWith(`.${s.host}`) && n.host.length > s.host.length + 1;
      if (matchesNormalized(`*.${s.host}`, n.host) !== expected) fail(`*.${s.host} vs ${n.host}`);
      if (matchesNormalized(`*.${s.host}`, s.host)) fail('bare suffix matched');
      if (matchesNormalized(`*.${s.host}`, ip)) fail('IP matched a wildcard');
      return hostMatches(`*.${suffix}`, `x.${name}.${suffix}`) || !normalizeHost(`x.${name}.${suffix}`).ok;
    },
  },
  {
    name: 'an IPv4 address has one spelling: octal, hex, short and single-number forms are refused, never read as another address',
    arbs: [fc.integer({ min: 0, max: 0xffffffff })],
    predicate: (n: number) => {
      const canonical = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
      if (normalizeHost(canonical).ok !== true) fail(`${canonical} refused`);
      for (const s of v4Spellings(n)) {
        const r = normalizeHost(s);
        if (r.ok && r.host !== canonical) fail(`${s} read as ${r.host}, not ${canonical}`);
        if (r.ok && s !== canonical) fail(`${s} accepted as another spelling of ${canonical}`);
      }
      return true;
    },
  },
  {
    name: 'IPv6 literals: every spelling (brackets, case, zero groups) is one host; IPv4-mapped is the IPv4 address; zone ids are refused',
    arbs: [fc.ipV6(), fc.ipV4(), fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 8 })],
    predicate: (v6: string, v4: string, zone: string) => {
      const a = normalizeHost(`[${v6}]`);
      const b = normalizeHost(`[${v6.toUpperCase()}]`);
      if (!a.ok || !b.ok || a.host !== b.host) fail(`${v6}: ${JSON.stringify(a)} ${JSON.stringify(b)}`);
      const mapped = normalizeHost(`[::ffff:${v4}]`);
      const plain = normalizeHost(v4);
      if (!mapped.ok || !plain.ok || mapped.host !== plain.host) fail(`mapped ${v4} -> ${JSON.stringify(mapped)}`);
      if (normalizeHost(`[${v6}%${zone}]`).ok || normalizeHost(`[${v6}%25${zone}]`).ok) fail('zone id accepted');
      return true;
    },
  },
  {
    name: 'splitAuthority never throws; userinfo is refused; the default port may be written or left out',
    arbs: [hostText, fc.integer({ min: 1, max: 65535 }), fc.string({ maxLength: 10 })],
    predicate: (host: string, port: number, user: string) => {
      const r = splitAuthority(host, port);
      if (r.ok && (r.port < 1 || r.port > 65535)) fail('port out of range');
      if (splitAuthority(`${user}@${host}`, port).ok) fail('userinfo accepted');
      const n = normalizeHost(host);
      if (n.ok && !host.includes(':')) {
        const withPort = splitAuthority(`${host}:${port}`, port);
        const without = splitAuthority(host, port);
        if (JSON.stringify(withPort) !== JSON.stringify(without)) fail(`${host}:${port} differs from ${host}`);
      }
      return true;
    },
  },
  {
    name: 'punycode labels mixing scripts (Latin with Cyrillic or Greek) are refused; single-script ones are kept as written',
    arbs: [
      fc.string({ unit: fc.constantFrom(...'abcdeopxyz'), minLength: 1, maxLength: 8 }),
      fc.string({ unit: fc.constantFrom(...'абвгдеорсху', ...'αβγδεοπρ'), minLength: 1, maxLength: 8 }),
      fc.nat(),
    ],
    predicate: (latin: string, other: string, at: number) => {
      const i = at % (latin.length + 1);
      const mixed = domainToASCII(`${latin.slice(0, i)}${other}${latin.slice(i)}.example`);
      const single = domainToASCII(`${other}.example`);
      const mixedScripts = /[а-я]/.test(other) && /[α-ω]/.test(other);
      if (normalizeHost(mixed).ok) fail(`${mixed} accepted`);
      const r = normalizeHost(single);
      if (mixedScripts ? r.ok : !r.ok || r.host !== single) fail(`${single}: ${JSON.stringify(r)}`);
      return true;
    },
  },
  {
    name: 'raw non-ASCII host names are always refused (IDNs must come as punycode)',
    arbs: [fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }).filter((s) => /[^\x00-\x7f]/.test(s))],
    predicate: (s: string) => !normalizeHost(s).ok && !normalizeHost(`${s}.example.com`).ok,
  },
];

// ---------------------------------------------------------------- IP classification

const PRIVATE_V4 = ['10.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '0.0.0.0/8', '198.18.0.0/15', '224.0.0.0/4', '240.0.0.0/4'].map((c) => parseCidr(c)!);

export const IP_PROPS: Prop[] = [
  {
    name: 'classifyIp never throws; only global unicast is public',
    arbs: [fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), fc.string({ maxLength: 45 }))],
    predicate: (ip: string) => {
      const c = classifyIp(ip);
      if (c.public && !(c.range === 'unicast')) fail(`${ip} public in ${c.range}`);
      if (c.public && PRIVATE_V4.some((r) => r.contains(ip))) fail(`${ip} is private but public`);
      return true;
    },
  },
  {
    name: 'a non-public IPv4 address stays non-public in every IPv6 form (mapped, NAT64, 6to4)',
    arbs: [fc.constantFrom('10', '127', '169.254', '172.16', '192.168', '100.64'), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 3, maxLength: 3 })],
    predicate: (prefix: string, rest: number[]) => {
      const parts = [...prefix.split('.').map(Number), ...rest].slice(0, 4);
      const v4 = parts.join('.');
      const hex = ((parts[0] << 8) | parts[1]).toString(16) + ':' + ((parts[2] << 8) | parts[3]).toString(16);
      for (const ip of [v4, `::ffff:${v4}`, `::ffff:${hex}`, `64:ff9b::${hex}`, `2002:${hex}::1`, `::${v4}`]) {
        if (classifyIp(ip).public) fail(`${ip} classified public`);
      }
      return true;
    },
  },
  {
    name: 'a CIDR block contains exactly the addresses sharing its prefix (and their IPv4-mapped forms)',
    arbs: [fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 })],
    predicate: (base: number, probe: number, bits: number) => {
      const text = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
      const cidr = parseCidr(`${text(base)}/${bits}`)!;
      const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
      const expected = ((base & mask) >>> 0) === ((probe & mask) >>> 0);
      if (cidr.contains(text(probe)) !== expected) fail(`${text(base)}/${bits} vs ${text(probe)}`);
      if (cidr.contains(`::ffff:${text(probe)}`) !== expected) fail('mapped form differs');
      return true;
    },
  },
];

// ---------------------------------------------------------------- TLS ClientHello

/** A ClientHello handshake message (type, length, body) with the given SNI, ALPN and padding extension. */
export function clientHello(opts: { sni?: string | Buffer; alpn?: string[]; padding?: number; sessionId?: number } = {}): Buffer {
  const ext: Buffer[] = [];
  const u16 = (n: number) => Buffer.from([n >> 8, n & 255]);
  if (opts.sni !== undefined) {
    const name = Buffer.isBuffer(opts.sni) ? opts.sni : Buffer.from(opts.sni, 'latin1');
    const entry = Buffer.concat([Buffer.from([0]), u16(name.length), name]);
    const list = Buffer.concat([u16(entry.length), entry]);
    ext.push(Buffer.concat([u16(0), u16(list.length), list]));
  }
  if (opts.alpn?.length) {
    const protos = Buffer.concat(opts.alpn.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'latin1')])));
    const list = Buffer.concat([u16(protos.length), protos]);
    ext.push(Buffer.concat([u16(16), u16(list.length), list]));
  }
  if (opts.padding) ext.push(Buffer.concat([u16(21), u16(opts.padding), Buffer.alloc(opts.padding)]));
  const exts = Buffer.concat(ext);
  const sid = Buffer.alloc(opts.sessionId ?? 32, 7);
  const body = Buffer.concat([
    Buffer.from([3, 3]),
    Buffer.alloc(32, 1),
    Buffer.from([sid.length]),
    sid,
    u16(4),
    Buffer.from([0x13, 0x01, 0x13, 0x02]),
    Buffer.from([1, 0]),
    u16(exts.length),
    exts,
  ]);
  return Buffer.concat([Buffer.from([1, body.length >> 16, (body.length >> 8) & 255, body.length & 255]), body]);
}

/** The handshake message cut into TLS records of the given sizes (the last record takes the rest). */
export function inRecords(hs: Buffer, sizes: number[]): Buffer {
  const out: Buffer[] = [];
  let off = 0;
  for (const size of [...sizes, hs.length]) {
    if (off >= hs.length) break;
    const piece = hs.subarray(off, Math.min(hs.length, off + Math.max(1, size)));
    out.push(Buffer.from([0x16, 3, 1, piece.length >> 8, piece.length & 255]), piece);
    off += piece.length;
  }
  return Buffer.concat(out);
}

const sniArb = fc.domain();
const alpnArb = fc.array(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 12 }), { maxLength: 4 });

export const HELLO_PROPS: Prop[] = [
  {
    name: 'parseClientHello never throws on arbitrary bytes',
    arbs: [fc.oneof(fc.uint8Array({ maxLength: 600 }), fc.uint8Array({ maxLength: 600 }).map((b) => Uint8Array.from([0x16, 3, 1, ...b])))],
    predicate: (bytes: Uint8Array) => {
      const r = parseClientHello(Buffer.from(bytes));
      return r.kind === 'more' || r.kind === 'hello' || (r.kind === 'invalid' && r.reason.length > 0);
    },
  },
  {
    name: 'the SNI and ALPN are found however the ClientHello is cut into records, and every prefix asks for more',
    arbs: [sniArb, alpnArb, fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 40 }), fc.integer({ min: 0, max: 600 }), fc.integer({ min: 0, max: 32 })],
    predicate: (sni: string, alpn: string[], sizes: number[], padding: number, sessionId: number) => {
      const bytes = inRecords(clientHello({ sni, alpn, padding, sessionId }), sizes);
      const r = parseClientHello(bytes);
      if (r.kind !== 'hello' || r.serverName !== sni || JSON.stringify(r.alpn) !== JSON.stringify(alpn)) fail(`got ${JSON.stringify(r)}`);
      for (const cut of [0, 1, 4, 5, 6, Math.floor(bytes.length / 2), bytes.length - 1]) {
        if (cut < 0 || cut >= bytes.length) continue;
        const p = parseClientHello(bytes.subarray(0, cut));
        if (p.kind !== 'more') fail(`prefix of ${cut} bytes: ${JSON.stringify(p)}`);
      }
      return true;
    },
  },
  {
    name: 'a server name with a byte outside printable ASCII (NUL, UTF-8, space) is refused, never truncated',
    arbs: [sniArb, fc.integer({ min: 0, max: 255 }).filter((b) => b <= 0x20 || b >= 0x7f), fc.nat()],
    predicate: (sni: string, bad: number, at: number) => {
      const name = Buffer.from(sni, 'latin1');
      const i = at % (name.length + 1);
      const odd = Buffer.concat([name.subarray(0, i), Buffer.from([bad]), name.subarray(i)]);
      const r = parseClientHello(inRecords(clientHello({ sni: odd }), []));
      return r.kind === 'invalid';
    },
  },
];

// ---------------------------------------------------------------- upstream response framing

const codingArb = fc.oneof(fc.constantFrom('chunked', 'CHUNKED', ' chunked ', 'gzip', 'identity', 'xchunked', 'chunked, identity', 'gzip, chunked', ''), fc.string({ maxLength: 12 }));
const lengthArb = fc.oneof(fc.nat().map(String), fc.constantFrom('1, 1', '+1', '-1', '0x10', ' 5 ', '1e3', ''), fc.string({ maxLength: 8 }));

export const FRAMING_PROPS: Prop[] = [
  {
    name: 'response framing: accepted only with at most one decimal Content-Length, or exactly "chunked" and no Content-Length',
    arbs: [fc.array(lengthArb, { maxLength: 3 }), fc.array(codingArb, { maxLength: 2 }), fc.integer({ min: 100, max: 599 })],
    predicate: (cls: string[], tes: string[], status: number) => {
      const raw = [...cls.flatMap((v) => ['Content-Length', v]), ...tes.flatMap((v) => ['Transfer-Encoding', v])];
      const problem = responseFramingProblem(status, {}, raw);
      const singleCl = cls.length <= 1 && cls.every((v) => /^\d{1,15}$/.test(v.trim()));
      const chunkedOnly = tes.length === 0 || (cls.length === 0 && tes.join(',').split(',').map((c) => c.trim().toLowerCase()).join() === 'chunked');
      const ok = singleCl && chunkedOnly && status !== 101;
      if (ok !== (problem === null)) fail(`${JSON.stringify(raw)} ${status}: ${problem}`);
      return true;
    },
  },
];

export const ALL_PROPS: Record<string, Prop[]> = {
  hostnames: HOST_PROPS,
  ip: IP_PROPS,
  'client-hello': HELLO_PROPS,
  framing: FRAMING_PROPS,
};

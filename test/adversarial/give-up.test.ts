// Every way an agent can give up on a connection, on the explicit, transparent and route
// listeners: before CONNECT, after the 200, mid-ClientHello, after the ServerHello with and
// without an alert, by FIN, by RST, by silence, by rejecting airlock's certificate (Node's tls and
// curl), after the handshake, mid-request, after a refusal it never reads to the end. For each:
// airlock's socket is gone (checked with ss: no socket of this process on the listener's port
// with the agent's address, CLOSE-WAIT or otherwise), exactly one flow is recorded with the
// reason, and the agent's address counts no open connection. Then 1,000 such attempts from one
// address, and a correct request from that address still succeeds.
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, type TestAirlock } from '../helpers/airlock.ts';
import { run } from '../helpers/run.ts';
import { type Rig, startRig, viaProxy } from './harness.ts';

const HANDSHAKE_S = 2; // limits.tls_handshake_timeout in this rig (header_timeout is 2s too)
const LINGER_MS = 2000; // proxy/respond.ts: an ended socket waits this long at most for the agent's FIN

let rig: Rig;
let hello: Buffer; // a real ClientHello (Node's, SNI api.test): airlock answers it with a ServerHello
let helloNoSni: Buffer; // the same without SNI (CONNECT only: the transparent listener refuses it)
let start: number; // the newest flow before this file's give-ups
beforeAll(async () => {
  rig = await startRig('', `  tls_handshake_timeout: ${HANDSHAKE_S}s`);
  hello = await nodeClientHello('api.test');
  helloNoSni = await nodeClientHello();
  start = await rig.mark();
});
afterAll(() => rig?.close());

type Listener = 'explicit' | 'transparent' | 'route';
interface GiveUp {
  listener: Listener;
  name: string;
  /** Plays the agent from `addr`; resolves when the agent is done (or airlock closed on it). */
  play(addr: string): Promise<void>;
  /** The flow's code and reason (null: the request's own flow, allowed). */
  code: string | null;
  reason: RegExp | null;
  /** How long after play() airlock may take to close its socket (a timeout still running). */
  graceMs?: number;
}

/** The first flight of a real Node TLS client: a ClientHello with key shares airlock can answer. */
function nodeClientHello(servername?: string): Promise<Buffer> {
  return new Promise((resolve) => {
    let t: tls.TLSSocket;
    const wire = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        resolve(Buffer.from(chunk));
        cb();
        setImmediate(() => t.destroy());
      },
    });
    // Without a name, as for an IP address: Node then sends no SNI.
    t = tls.connect({ socket: wire, ...(servername ? { servername } : { host: '127.0.0.1' }) });
    t.on('error', () => {});
  });
}

const portOf = (l: Listener) => ({ explicit: rig.ports.proxy, transparent: rig.ports.transparent, route: rig.ports.route })[l];

/** An agent's raw socket: it never closes on its own when airlock does (allowHalfOpen), like a careless or hostile client. */
const agents = new Set<net.Socket>();
afterEach(() => {
  for (const s of agents) s.destroy();
  agents.clear();
});

function open(port: number, addr: string): Promise<{ s: net.Socket; closed: Promise<void>; read(until: (b: Buffer) => boolean): Promise<Buffer> }> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress: addr, allowHalfOpen: true });
    agents.add(s);
    let got = Buffer.alloc(0);
    const waiters: (() => void)[] = [];
    s.on('data', (c) => {
      got = Buffer.concat([got, c]);
      for (const w of waiters.splice(0)) w();
    });
    s.on('error', () => {});
    // Airlock's FIN (or reset) is all the agent can see of airlock closing: ss says whether it really did.
    const closed = new Promise<void>((r) => {
      s.once('end', () => r());
      s.once('close', () => r());
    });
    s.once('connect', () =>
      resolve({
        s,
        closed,
        read: (until) =>
          new Promise((done, fail) => {
            const check = () => (until(got) ? done(got) : waiters.push(check));
            const t = setTimeout(() => fail(new Error(`agent: nothing expected arrived (${got.length} bytes)`)), 5000);
            closed.then(() => clearTimeout(t));
            check();
          }),
      }),
    );
    s.once('error', reject);
  });
}

const CONNECT = 'CONNECT api.test:443 HTTP/1.1\r\nHost: api.test:443\r\n\r\n';
const has200 = (b: Buffer) => b.includes('\r\n\r\n') && b.toString('latin1').startsWith('HTTP/1.1 200');
/** The ServerHello flight (a handshake record) came back. */
const serverHello = (b: Buffer) => b.indexOf(0x16) >= 0 && b.length > 100;
const UNKNOWN_CA_ALERT = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 48]);

/** How the agent leaves: FIN and wait for airlock to close its side; RST; or say nothing and wait. */
/**
 * How the agent leaves: FIN, RST, or not at all (silent). Resolves when airlock's FIN (or reset)
 * arrives, but the agent never closes its side: only afterEach does, once airlock was checked.
 */
async function leave(a: Awaited<ReturnType<typeof open>>, how: 'fin' | 'rst' | 'silent'): Promise<void> {
  if (how === 'rst') return void a.s.resetAndDestroy();
  if (how === 'fin') a.s.end();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([a.closed, new Promise((r) => (timer = setTimeout(r, HANDSHAKE_S * 1000 + LINGER_MS + 3000)))]);
  clearTimeout(timer);
}

/** Through the explicit proxy to the 200, or straight to the transparent listener. */
async function tunnelOrDirect(l: Listener, addr: string) {
  const a = await open(portOf(l), addr);
  if (l === 'explicit') {
    a.s.write(CONNECT);
    await a.read(has200);
  }
  return a;
}

/** Node's tls rejecting airlock's leaf (no CA given): it closes without an alert. */
async function nodeRejects(l: Listener, addr: string): Promise<void> {
  const socket = l === 'explicit' ? (await tunnelOrDirect(l, addr)).s : undefined;
  const error = await new Promise<string>((resolve) => {
    const t = tls.connect({ ...(socket ? { socket } : { host: '127.0.0.1', port: portOf(l), localAddress: addr }), servername: 'api.test' });
    t.once('error', (e) => resolve(e.message));
  });
  expect(error).toMatch(/verify|certificate/);
}

/** curl rejecting airlock's leaf (its system CA store lacks airlock's CA): it sends alert unknown_ca. */
async function curlRejects(l: Listener, addr: string): Promise<void> {
  const via = l === 'explicit' ? ['-x', `http://127.0.0.1:${rig.ports.proxy}`] : ['--connect-to', `api.test:443:127.0.0.1:${rig.ports.transparent}`];
  const r = await run('curl', ['-sS', '--max-time', '10', '--interface', addr, ...via, 'https://api.test/echo']);
  expect(r.stderr).toMatch(/certificate/i);
}

/** A handshake the agent completes (it trusts airlock's CA), then it closes without a (complete) request. */
async function handshakeThenFin(l: Listener, addr: string, alpn: string[], last = ''): Promise<void> {
  const socket = l === 'explicit' ? (await tunnelOrDirect(l, addr)).s : undefined;
  await new Promise<void>((resolve) => {
    const t = tls.connect({ ...(socket ? { socket } : { host: '127.0.0.1', port: portOf(l), localAddress: addr }), servername: 'api.test', ca: rig.ca, ALPNProtocols: alpn });
    t.on('error', () => {});
    t.once('secureConnect', () => t.end(last));
    t.once('close', () => resolve());
  });
}

/** A handshake the agent completes, then a forged TLS record where its first request should be. */
async function forgedRecord(l: Listener, addr: string, alpn: string): Promise<void> {
  const a = await tunnelOrDirect(l, addr);
  // The TLS client writes through `wire` onto the agent's socket, so the test can add bytes of its own.
  const wire = new Duplex({
    read() {},
    write(c: Buffer, _e, cb) {
      a.s.write(c, cb);
    },
  });
  a.s.on('data', (d) => wire.push(d));
  const t = tls.connect({ socket: wire, servername: 'api.test', ca: rig.ca, ALPNProtocols: [alpn] });
  t.on('error', () => {});
  await new Promise((r) => t.once('secureConnect', r));
  a.s.write(Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0x00, 0x20]), Buffer.alloc(32, 7)]));
  await leave(a, 'silent');
}

function tlsGiveUps(l: Listener): GiveUp[] {
  const before = l === 'explicit' ? 'CONNECT tunnel: the agent' : 'the agent';
  return [
    ...(['fin', 'rst'] as const).map((how) => ({
      listener: l,
      name: `${l === 'explicit' ? 'after the 200' : 'right after connecting'}, by ${how.toUpperCase()}`,
      play: async (addr: string) => leave(await tunnelOrDirect(l, addr), how),
      code: 'client_closed',
      reason: new RegExp(`^${before} ${how === 'fin' ? 'closed' : 'reset'} the connection before sending anything$`),
    })),
    ...(['fin', 'rst'] as const).map((how) => ({
      listener: l,
      name: `mid-ClientHello, by ${how.toUpperCase()}`,
      play: async (addr: string) => {
        const a = await tunnelOrDirect(l, addr);
        a.s.write(hello.subarray(0, 40));
        await new Promise((r) => setTimeout(r, 50));
        await leave(a, how);
      },
      code: 'client_closed',
      reason: new RegExp(`^${before} ${how === 'fin' ? 'closed' : 'reset'} the connection after 40 bytes of a ClientHello$`),
    })),
    ...(['fin', 'rst', 'alert', 'silent'] as const).map((how) => ({
      listener: l,
      name: `after the ServerHello, ${{ fin: 'by FIN without an alert', rst: 'by RST', alert: 'with alert unknown_ca, then FIN', silent: 'by falling silent' }[how]}`,
      play: async (addr: string) => {
        const a = await tunnelOrDirect(l, addr);
        a.s.write(hello);
        await a.read(serverHello);
        if (how === 'alert') a.s.write(UNKNOWN_CA_ALERT);
        await leave(a, how === 'alert' ? 'fin' : how);
      },
      code: 'agent_tls',
      reason: {
        fin: /^TLS handshake with the agent failed: the agent closed the connection during the handshake without an alert: most likely it does not trust airlock's CA/,
        rst: /^TLS handshake with the agent failed: the agent reset the connection$/,
        alert: /^TLS handshake with the agent failed: the agent sent alert unknown_ca: it does not trust airlock's CA \(install it in the agent: airlock ca install\)$/,
        silent: new RegExp(`^TLS handshake with the agent failed: not finished within ${HANDSHAKE_S}s \\(limits.tls_handshake_timeout\\)$`),
      }[how],
      graceMs: how === 'silent' ? 1000 : undefined,
    })),
    { listener: l, name: "rejecting airlock's certificate (Node tls)", play: (addr) => nodeRejects(l, addr), code: 'agent_tls', reason: /without an alert: most likely it does not trust airlock's CA/ },
    { listener: l, name: "rejecting airlock's certificate (curl)", play: (addr) => curlRejects(l, addr), code: 'agent_tls', reason: /the agent sent alert unknown_ca: it does not trust airlock's CA/ },
    ...(['http/1.1', 'h2'] as const).map((alpn) => ({
      listener: l,
      name: `after the TLS handshake (${alpn}), by FIN without a request`,
      play: (addr: string) => handshakeThenFin(l, addr, [alpn]),
      code: 'client_closed',
      reason: /^the agent closed the connection after the TLS handshake, before sending a request$/,
    })),
    ...(['http/1.1', 'h2'] as const).map((alpn) => ({
      listener: l,
      name: `after the TLS handshake (${alpn}), a forged TLS record`,
      play: (addr: string) => forgedRecord(l, addr, alpn),
      code: 'agent_tls',
      reason: /^TLS with the agent failed after the handshake: decryption failed or bad record mac/,
    })),
    {
      listener: l,
      name: 'after the TLS handshake, in the middle of a request head, by FIN',
      play: (addr) => handshakeThenFin(l, addr, ['http/1.1'], 'GET /echo HTTP/1.1\r\nHost: api.te'),
      code: 'client_closed',
      reason: /^the agent closed the connection in the middle of a request$/,
    },
  ];
}

/** The explicit and route listeners read HTTP first. */
function httpGiveUps(l: 'explicit' | 'route'): GiveUp[] {
  const partial = l === 'explicit' ? 'CONNECT api.te' : 'GET /v1/messages HT';
  return [
    ...(['fin', 'rst'] as const).map((how) => ({
      listener: l,
      name: `${l === 'explicit' ? 'before CONNECT' : 'before a request'}, by ${how.toUpperCase()}`,
      play: async (addr: string) => leave(await open(portOf(l), addr), how),
      code: 'client_closed',
      reason: /^the agent (closed|reset) the connection before sending a request$/,
    })),
    ...(['fin', 'rst'] as const).map((how) => ({
      listener: l,
      name: `in the middle of ${l === 'explicit' ? 'its CONNECT' : 'a request head'}, by ${how.toUpperCase()}`,
      play: async (addr: string) => {
        const a = await open(portOf(l), addr);
        a.s.write(partial);
        await new Promise((r) => setTimeout(r, 50));
        await leave(a, how);
      },
      code: 'client_closed',
      reason: new RegExp(`^the agent ${how === 'fin' ? 'closed' : 'reset'} the connection in the middle of a request$`),
    })),
    {
      listener: l,
      name: `in the middle of a request head, by falling silent`,
      play: async (addr) => {
        const a = await open(portOf(l), addr);
        a.s.write(partial);
        await leave(a, 'silent');
      },
      code: 'header_timeout',
      reason: /limits\.header_timeout/,
      graceMs: LINGER_MS + 1000, // the 408 is sent, then airlock waits for the agent's FIN that never comes
    },
    {
      listener: l,
      name: 'after a refusal (garbage answered 400), never closing',
      play: async (addr) => {
        const a = await open(portOf(l), addr);
        a.s.write('GARBAGE / HTTP/1.1\r\n\r\n');
        await a.read((b) => b.includes('\r\n\r\n'));
        await leave(a, 'silent');
      },
      code: 'bad_request',
      reason: /malformed HTTP request/,
      graceMs: LINGER_MS + 1000,
    },
  ];
}

/** A completed exchange with curl (HTTP/1.1 or HTTP/2), after which curl closes: airlock closes too. */
function afterRequest(l: 'explicit' | 'transparent', proto: '--http1.1' | '--http2'): GiveUp {
  return {
    listener: l,
    name: `after a request over ${proto === '--http2' ? 'HTTP/2' : 'HTTP/1.1'} (curl), by closing`,
    play: async (addr) => {
      const via = l === 'explicit' ? ['-x', `http://127.0.0.1:${rig.ports.proxy}`] : ['--connect-to', `api.test:443:127.0.0.1:${rig.ports.transparent}`];
      const r = await run('curl', ['-sS', proto, '--interface', addr, '--cacert', rig.airlock.caCertPath, ...via, '-o', '/dev/null', '-w', '%{http_code}', 'https://api.test/echo']);
      expect(r.stdout, r.stderr).toBe('200');
    },
    code: null,
    reason: null,
  };
}

const GIVE_UPS: GiveUp[] = [
  ...httpGiveUps('explicit'),
  {
    listener: 'explicit',
    name: 'after a denied CONNECT (403), never closing',
    play: async (addr) => {
      const a = await open(rig.ports.proxy, addr);
      a.s.write('CONNECT canary.test:443 HTTP/1.1\r\nHost: canary.test:443\r\n\r\n');
      await a.read((b) => b.includes('\r\n\r\n'));
      await leave(a, 'silent');
    },
    code: 'host_not_allowed',
    reason: /not in the policy/,
    graceMs: LINGER_MS + 1000,
  },
  {
    listener: 'explicit',
    name: 'in the middle of a plain HTTP request inside the tunnel, by FIN',
    play: async (addr) => {
      const a = await tunnelOrDirect('explicit', addr);
      a.s.write('GET /echo HTTP/1.1\r\nHost: api.te');
      await new Promise((r) => setTimeout(r, 50));
      await leave(a, 'fin');
    },
    code: 'client_closed',
    reason: /^the agent closed the connection in the middle of a request$/,
  },
  ...tlsGiveUps('explicit'),
  afterRequest('explicit', '--http1.1'),
  afterRequest('explicit', '--http2'),
  ...tlsGiveUps('transparent'),
  afterRequest('transparent', '--http1.1'),
  afterRequest('transparent', '--http2'),
  ...httpGiveUps('route'),
  // Without SNI airlock uses the CONNECT host's leaf: the same handshake, the same deadline.
  {
    listener: 'explicit',
    name: 'without SNI, after the ServerHello, by falling silent',
    play: async (addr) => {
      const a = await tunnelOrDirect('explicit', addr);
      a.s.write(helloNoSni);
      await a.read(serverHello);
      await leave(a, 'silent');
    },
    code: 'agent_tls',
    reason: new RegExp(`^TLS handshake with the agent failed: not finished within ${HANDSHAKE_S}s \\(limits.tls_handshake_timeout\\)$`),
    graceMs: 1000,
  },
  {
    listener: 'explicit',
    name: 'without SNI, after the ServerHello, by FIN without an alert',
    play: async (addr) => {
      const a = await tunnelOrDirect('explicit', addr);
      a.s.write(helloNoSni);
      await a.read(serverHello);
      await leave(a, 'fin');
    },
    code: 'agent_tls',
    reason: /without an alert: most likely it does not trust airlock's CA/,
  },
];

/** Sockets this process still holds on airlock's listener ports (any TCP state: ESTAB, CLOSE-WAIT, FIN-WAIT-2, ...). */
function held(): string[] {
  // By address and port: an agent's own socket (bound to 127.0.19.x) may get a listener's port
  // number as its ephemeral port, and is not airlock's.
  const ports = [rig.ports.proxy, rig.ports.transparent, rig.ports.route].map((p) => `src 127.0.0.1:${p}`).join(' or ');
  const out = execFileSync('ss', ['-tanpH', `( ${ports} )`], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(`pid=${process.pid},`) && !l.startsWith('LISTEN'));
}

/** Waits (up to `ms`) until airlock holds no agent socket and counts none, for `addr` or at all. */
async function released(addr: string, ms: number): Promise<{ sockets: string[]; client: number; all: number }> {
  const until = Date.now() + ms;
  for (;;) {
    const state = { sockets: held(), client: rig.airlock.openConnections(addr), all: rig.airlock.openConnections() };
    if ((state.sockets.length === 0 && state.all === 0) || Date.now() > until) return state;
    await new Promise((r) => setTimeout(r, 50));
  }
}
const NONE = { sockets: [], client: 0, all: 0 };

/**
 * Flows recorded after `mark` from `addr`. An agent that resets before airlock accepted its
 * connection has no address left (the kernel forgot it): such a flow's client is "unknown".
 */
async function flowsFrom(addr: string, mark: number): Promise<{ code: string | null; reason: string | null; entry: string }[]> {
  await rig.airlock.store.flush();
  return rig.airlock.store.db
    .prepare("SELECT code, reason, entry FROM flows WHERE id > ? AND (client LIKE ? OR client = 'unknown') ORDER BY id")
    .all(mark, `${addr}:%`) as never;
}

/** Waits (up to `ms`) until `n` flows from `addr` are recorded after `mark`. */
async function recorded(addr: string, mark: number, n: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while ((await flowsFrom(addr, mark)).length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
}

const addrOf = (i: number) => `127.0.19.${10 + i}`;

describe('an agent that gives up: airlock closes its socket, records it once, and frees its count', () => {
  GIVE_UPS.forEach((g, i) => {
    it(`${g.listener}: ${g.name}`, async () => {
      const addr = addrOf(i);
      const mark = await rig.mark();
      await g.play(addr);
      // Within the handshake timeout of the agent leaving (of airlock's own deadline, for silence).
      const within = HANDSHAKE_S * 1000 + (g.graceMs ?? 0);
      await recorded(addr, mark, 1, within);
      expect(await released(addr, within)).toEqual(NONE);
      const flows = await flowsFrom(addr, mark);
      expect(flows, JSON.stringify(flows)).toHaveLength(1);
      expect(flows[0]).toMatchObject({ code: g.code, entry: g.listener });
      if (g.reason) expect(flows[0].reason).toMatch(g.reason);
      else expect(flows[0].reason).toBeNull();
    });
  });

  it('1,000 give-ups of every kind from one address, then a correct request from that address succeeds', async () => {
    const addr = '127.0.19.250';
    const mark = await rig.mark();
    const expected: Record<string, number> = {}; // by code ("null": a request's own flow)
    let next = 0;
    // 100 agents at a time, each giving up one way after another (limits.max_connections_per_client is 200 here).
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        while (next < 1000) {
          const g = GIVE_UPS[next++ % GIVE_UPS.length];
          expected[String(g.code)] = (expected[String(g.code)] ?? 0) + 1;
          await g.play(addr);
        }
      }),
    );
    await recorded(addr, mark, 1000, HANDSHAKE_S * 1000 + LINGER_MS + 1000);
    expect(await released(addr, HANDSHAKE_S * 1000 + LINGER_MS + 1000)).toEqual(NONE);
    // No record comes late: wait past every timeout airlock runs (header, handshake, linger).
    await new Promise((r) => setTimeout(r, HANDSHAKE_S * 1000 + LINGER_MS));
    const flows = await flowsFrom(addr, mark);
    const byCode: Record<string, number> = {};
    for (const f of flows) byCode[String(f.code)] = (byCode[String(f.code)] ?? 0) + 1;
    expect(byCode, JSON.stringify({ byCode, expected })).toEqual(expected);
    expect(flows).toHaveLength(1000);

    const plain = await viaProxy(rig.ports.proxy, `http://plain.test:${rig.plain.port}/echo`, {}, addr);
    expect(plain.status).toBe(200);
    const r = await run('curl', ['-sS', '--interface', addr, '--cacert', `${rig.airlock.caCertPath}`, '-x', `http://127.0.0.1:${rig.ports.proxy}`, '-o', '/dev/null', '-w', '%{http_code}', 'https://api.test/echo']);
    expect(r.stdout, r.stderr).toBe('200');
    expect(await released(addr, 1000)).toEqual(NONE);
    // And nothing came late for the single give-ups above: one flow each, these 1,000, and the two requests.
    await rig.airlock.store.flush();
    const all = rig.airlock.store.db.prepare('SELECT count(*) AS n FROM flows WHERE id > ?').get(start) as { n: number };
    expect(all.n).toBe(GIVE_UPS.length + 1000 + 2);
  }, 120_000);
});

describe('an HTTP/2 connection that never opens a stream', () => {
  it('is closed after limits.idle_timeout and recorded once as idle_timeout', async () => {
    const addr = '127.0.19.252';
    const mark = await rig.mark();
    const t = tls.connect({ host: '127.0.0.1', port: rig.ports.transparent, localAddress: addr, servername: 'api.test', ca: rig.ca, ALPNProtocols: ['h2'] } as tls.ConnectionOptions);
    t.on('error', () => {});
    await new Promise((r) => t.once('secureConnect', r));
    expect(t.alpnProtocol).toBe('h2');
    t.write(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00', 'latin1')); // preface, empty SETTINGS
    t.resume();
    await new Promise((r) => t.once('end', r)); // the rig's idle_timeout is 5s
    expect(await released(addr, 2000)).toEqual(NONE);
    await recorded(addr, mark, 1, 1000);
    const flows = await flowsFrom(addr, mark);
    expect(flows).toHaveLength(1);
    expect(flows[0]).toMatchObject({ code: 'idle_timeout', reason: 'no request within 5s of the TLS handshake (limits.idle_timeout)' });
    t.destroy();
  }, 20_000);
});

// The operator's listeners are plain Node HTTP servers (no sniffing, no TLS of airlock's): the same
// give-ups leave nothing behind there either.
describe('the admin and UI listeners: an agent that gives up leaves no socket behind', () => {
  let ops: TestAirlock;
  beforeAll(async () => {
    ops = await startTestAirlock('listen: { proxy: 127.0.0.1:0, admin: 127.0.0.1:0, ui: 127.0.0.1:0 }\n');
  });
  afterAll(() => ops?.close());

  const heldOn = (port: number) =>
    execFileSync('ss', ['-tanpH', `( src 127.0.0.1:${port} )`], { encoding: 'utf8' }) // airlock's side only (see held())
      .split('\n')
      .filter((l) => l.includes(`pid=${process.pid},`) && !l.startsWith('LISTEN'));
  const ways: [string, (port: number, addr: string) => Promise<void>][] = [
    ['FIN before a request', async (port, addr) => leave(await open(port, addr), 'fin')],
    ['RST before a request', async (port, addr) => leave(await open(port, addr), 'rst')],
    [
      'FIN in the middle of a request head',
      async (port, addr) => {
        const a = await open(port, addr);
        a.s.write('GET /healthz HT');
        await leave(a, 'fin');
      },
    ],
    [
      'garbage (answered 400), never closing',
      async (port, addr) => {
        const a = await open(port, addr);
        a.s.write('GARBAGE\r\n\r\n');
        await leave(a, 'silent');
      },
    ],
    [
      'TLS (Node), which the listener does not speak',
      (port, addr) =>
        new Promise<void>((resolve) => {
          const t = tls.connect({ host: '127.0.0.1', port, localAddress: addr, servername: 'airlock.test' } as tls.ConnectionOptions);
          t.once('error', () => resolve());
        }),
    ],
  ];
  for (const which of ['admin', 'ui'] as const) {
    for (const [name, play] of ways) {
      it(`${which}: ${name}`, async () => {
        const port = ops.addresses[which]!.port!;
        await play(port, '127.0.19.251');
        const until = Date.now() + HANDSHAKE_S * 1000;
        while (heldOn(port).length && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
        expect(heldOn(port)).toEqual([]);
      });
    }
  }
});

// A running airlock with every entry path, an allowed TLS upstream, a plain-HTTP upstream, a raw
// upstream that answers with whatever bytes a test sets, a canary upstream no request may ever
// reach, and dnsmasq. Each adversarial case: send real bytes, check the answer, read the
// recorded flow from the SQLite store, check the canaries, and check airlock still answers.
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { expect } from 'vitest';
import { startTestAirlock, tempDir, type TestAirlock } from '../helpers/airlock.ts';
import { makeUpstreamPki } from '../helpers/certs.ts';
import { freePort, startDns, type TestDns } from '../helpers/dns.ts';
import { loopbackIp, startUpstream, type TestUpstream } from '../helpers/upstream.ts';

export interface Row {
  id: number;
  decision: string;
  code: string | null;
  reason: string | null;
  error: string | null;
  status: number | null;
  host: string | null;
  method: string | null;
  protocol: string;
  entry: string;
}

export interface Rig {
  airlock: TestAirlock;
  dir: string;
  ca: string; // airlock's CA (PEM): what agents trust
  api: TestUpstream; // api.test, TLS, allowed (injects x-api-key)
  plain: TestUpstream; // plain.test, plain HTTP, allowed
  canary: TestUpstream; // canary.test: resolvable, never allowed
  /** raw.test: plain TCP, answers every connection's first bytes with `reply`; `seen` is every byte each connection sent. */
  raw: { port: number; reply: (bytes: string | Buffer) => void; hits: () => number; seen: () => string[] };
  dns: TestDns;
  ports: { proxy: number; transparent: number; route: number; admin: number };
  /** The same route as ports.route, on a Unix socket. */
  routeSocket: string;
  secret: string;
  /** Id of the newest flow so far; flowsAfter(mark) gives what a case recorded. */
  mark(): Promise<number>;
  flowsAfter(id: number): Promise<Row[]>;
  /** Nothing reached the canary, and no upstream saw more than `allowed` new requests. */
  untouched(): void;
  /** A plain, allowed request through the explicit proxy still succeeds. */
  stillServes(): Promise<void>;
  close(): Promise<void>;
}

export const SECRET = 'sk-adversarial-REAL-KEY-5d1e7';

export async function startRig(extraPolicy = '', limits = ''): Promise<Rig> {
  const dir = tempDir('airlock-adv-');
  const ips = { api: loopbackIp(), canary: loopbackIp() };
  const pki = makeUpstreamPki(path.join(dir, 'pki'), ['api.test', 'canary.test']);
  const api = await startUpstream({ tls: pki, host: ips.api, port: 443 });
  const canary = await startUpstream({ tls: pki, host: ips.canary, port: 443 });
  const plain = await startUpstream({});
  let rawReply: string | Buffer = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
  let rawHits = 0;
  const rawSeen: string[] = [];
  const rawServer = net.createServer((s) => {
    s.on('error', () => {});
    const i = rawSeen.push('') - 1;
    s.on('data', (c: Buffer) => (rawSeen[i] += c.toString('latin1')));
    s.once('data', () => {
      rawHits++;
      s.end(rawReply);
    });
  });
  await new Promise<void>((r) => rawServer.listen(0, '127.0.0.1', r));
  const rawPort = (rawServer.address() as net.AddressInfo).port;
  // Resolvable names for SSRF and rebinding cases: a name for the admin listener is added per test run.
  const dns = await startDns({
    'canary.test': ips.canary,
    'loop.test': '127.0.0.1',
    'meta.test': '169.254.169.254',
    'private.test': '10.1.2.3',
    'mapped.test': '::ffff:127.0.0.1',
    'ula.test': 'fd00:ec2::254',
    'self.test': '127.0.0.1',
    localhost: '127.0.0.1',
  });
  const [adminPort, proxyPort] = [await freePort(), await freePort()];
  const airlock = await startTestAirlock(
    `
listen:
  proxy: 127.0.0.1:${proxyPort}
  transparent: 127.0.0.1:0
  admin: 127.0.0.1:${adminPort}
routes:
  - listen: 127.0.0.1:0
    upstream: https://api.test
  - listen: unix:${path.join(dir, 'route.sock')}
    upstream: https://api.test
upstream:
  ca_files: [${pki.caCert}]
  resolve: { api.test: ${ips.api}, plain.test: 127.0.0.1, raw.test: 127.0.0.1 }
  dns_servers: [${dns.server}]
  response_timeout_ms: 5000
limits:
  header_timeout: 2s
  body_timeout: 2s
  idle_timeout: 5s
  max_headers: 40
  max_url_bytes: 2KiB
  max_header_bytes: 8KiB
  max_connections_per_client: 200
  leaf_mints_per_minute: 40
  h2_max_concurrent_streams: 20
${limits}
hosts:
  - name: api
    match: api.test
    inject: { headers: { x-api-key: env:ADV_KEY } }
    placeholder: airlock-placeholder-adv
  - name: wild
    match: "*.wild.test"
    allow_ips: [127.0.0.0/8]
  - name: plain
    match: plain.test
    plain_http: true
    ports: [${plain.port}]
  - name: raw
    match: raw.test
    plain_http: true
    ports: [${rawPort}]
    inject: { headers: { x-raw-key: env:ADV_KEY } }
  - name: loop
    match: loop.test
  - name: meta
    match: meta.test
  - name: private
    match: private.test
  - name: mapped
    match: mapped.test
  - name: ula
    match: ula.test
  # Rules that would let an agent reach airlock's own admin listener: airlock must refuse anyway.
  - name: self
    match: self.test
    allow_ips: [127.0.0.0/8]
    plain_http: true
    ports: [${adminPort}, ${proxyPort}]
  - name: localhost
    match: localhost
    allow_ips: [127.0.0.0/8, "::1"]
    plain_http: true
    ports: [${adminPort}]
  - name: loopback-ip
    match: 127.0.0.1
    allow_ips: [127.0.0.0/8]
    plain_http: true
    ports: [${adminPort}]
${extraPolicy}
`,
    { ADV_KEY: SECRET },
    dir,
  );
  const ports = {
    proxy: airlock.addresses.proxy!.port!,
    transparent: airlock.addresses.transparent!.port!,
    route: airlock.addresses.routes[0].port!,
    admin: airlock.addresses.admin!.port!,
  };
  const counts = () => [api.seen.length, plain.seen.length];
  let baseline = counts();
  const rig: Rig = {
    airlock,
    dir,
    ca: airlock.caPem,
    api,
    plain,
    canary,
    raw: { port: rawPort, reply: (b) => (rawReply = b), hits: () => rawHits, seen: () => rawSeen },
    dns,
    ports,
    routeSocket: path.join(dir, 'route.sock'),
    secret: SECRET,
    async mark() {
      await airlock.store.flush();
      baseline = counts();
      const r = airlock.store.db.prepare('SELECT max(id) AS id FROM flows').get() as { id: number | null };
      return r.id ?? 0;
    },
    async flowsAfter(id) {
      // Refusals are recorded as the connection ends; give the event loop a moment, then flush.
      await new Promise((r) => setTimeout(r, 50));
      await airlock.store.flush();
      return airlock.store.db
        .prepare('SELECT id, decision, code, reason, error, status, host, method, protocol, entry FROM flows WHERE id > ? ORDER BY id')
        .all(id) as Row[];
    },
    untouched() {
      expect(canary.seen, 'the canary upstream was reached').toHaveLength(0);
      expect(counts(), 'an upstream was reached by a refused request').toEqual(baseline);
    },
    async stillServes() {
      const r = await viaProxy(ports.proxy, `http://plain.test:${plain.port}/echo?alive=1`);
      expect(r.status).toBe(200);
      baseline = counts();
    },
    async close() {
      await airlock.close();
      await Promise.all([api.close(), canary.close(), plain.close()]);
      rawServer.close();
      dns.close();
    },
  };
  return rig;
}

/** An absolute-form GET through the explicit proxy. */
export function viaProxy(port: number, url: string, headers: Record<string, string> = {}, localAddress?: string): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: url, headers: { host: new URL(url).host, ...headers }, agent: false, localAddress }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends raw bytes and reads until close (or `ms`); also reports whether the peer closed. */
export function raw(port: number, bytes: string | Buffer | (string | Buffer)[], ms = 3000, localAddress?: string): Promise<{ text: string; closed: boolean; status: number }> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    let text = '';
    let closed = false;
    const finish = () => {
      clearTimeout(timer);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ text, closed, status: m ? Number(m[1]) : 0 });
    };
    const timer = setTimeout(() => {
      s.destroy();
      finish();
    }, ms);
    s.on('connect', async () => {
      for (const b of [bytes].flat()) {
        s.write(b);
        if (Array.isArray(bytes)) await new Promise((r) => setTimeout(r, 20));
      }
    });
    s.on('data', (c) => (text += c.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => {
      closed = true;
      finish();
    });
  });
}

/** TLS straight to the transparent listener (as if iptables had redirected :443), with the given SNI. */
export function tlsTo(port: number, opts: tls.ConnectionOptions): Promise<{ ok: boolean; error?: string; alpn?: string | false | null; socket?: tls.TLSSocket }> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ...opts });
    s.once('secureConnect', () => resolve({ ok: true, alpn: s.alpnProtocol, socket: s }));
    s.once('error', (e) => resolve({ ok: false, error: e.message }));
  });
}

export { tempDir };

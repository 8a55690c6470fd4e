// One hostile client floods a real airlock process (thousands of new SNI names, hundreds of
// slowloris connections, oversized headers, Node TLS clients that reject airlock's certificate)
// while a second client, from another address, keeps making HTTPS requests through the explicit
// proxy with curl. Every one of the second client's requests must succeed, airlock's resident
// memory must stay bounded (read from /proc), and afterwards it holds no socket of the flood.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { tempDir } from '../helpers/airlock.ts';
import { children, startCli } from '../helpers/cli.ts';
import { freePort } from '../helpers/dns.ts';
import { run } from '../helpers/run.ts';
import { startTlsUpstream, type TestUpstream } from '../helpers/upstream.ts';

const ATTACKER = '127.0.0.10';
const VICTIM = '127.0.0.20';
const NEW_NAMES = 3000;
const SLOWLORIS = 300;
const OVERSIZED = 200;
// More than max_connections_per_client below: had any of them left its socket open, the attacker's
// address would be locked out at the end.
const REJECTING = 500;
const RSS_LIMIT_MB = 250;

let up: TestUpstream;
let pid: number;
let proxyPort: number;
let transparentPort: number;
let adminPort: number;
let dir: string;
let ca: string;

beforeAll(async () => {
  dir = tempDir('airlock-flood-');
  const started = await startTlsUpstream(dir, ['api.test']);
  up = started.up;
  adminPort = await freePort();
  fs.writeFileSync(
    path.join(dir, 'policy.yaml'),
    `listen: { proxy: 127.0.0.1:0, transparent: 127.0.0.1:0, admin: 127.0.0.1:${adminPort} }
log: { flows: false }
upstream:
  ca_files: [${started.pki.caCert}]
  resolve: { api.test: ${started.ip} }
limits:
  header_timeout: 5s
  max_connections_per_client: 450
hosts:
  - match: api.test
  - match: "*.flood.test"
`,
  );
  const { proc, banner } = await startCli(['--config', 'policy.yaml'], dir);
  pid = proc.pid!;
  proxyPort = Number(/explicit proxy\s+\S+:(\d+)/.exec(banner)![1]);
  transparentPort = Number(/transparent\s+\S+:(\d+)/.exec(banner)![1]);
  ca = path.join(dir, 'ca', 'ca.crt') // the data dir is the policy's directory;
});

afterAll(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await up?.close();
});

function rssMb(field: 'VmRSS' | 'VmHWM'): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]) / 1024;
}

/** The attacker: new SNI names on the transparent port, `width` handshakes at a time. */
async function sniFlood(): Promise<{ ok: number; refused: number }> {
  const caPem = fs.readFileSync(ca);
  let next = 0;
  let ok = 0;
  let refused = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: transparentPort, localAddress: ATTACKER, servername: `n${next++}.flood.test`, ca: caPem } as tls.ConnectionOptions);
      s.once('secureConnect', () => {
        ok++;
        // end(), not destroy(): the client's Finished goes out first, so airlock sees a handshake
        // that finished (destroy() may drop it, which looks like a client rejecting the leaf).
        s.end();
        resolve();
      });
      s.once('error', () => {
        refused++;
        resolve();
      });
    });
  await Promise.all(
    Array.from({ length: 40 }, async () => {
      while (next < NEW_NAMES) await one();
    }),
  );
  return { ok, refused };
}

/** The attacker: connections that send half a request head and then one byte now and then. */
const cutOff = new Set<net.Socket>();
function slowloris(): net.Socket[] {
  return Array.from({ length: SLOWLORIS }, (_, i) => {
    const s = net.connect({ host: '127.0.0.1', port: i % 2 ? proxyPort : transparentPort, localAddress: ATTACKER });
    s.on('error', () => {});
    s.on('data', (c) => {
      if (c.toString().startsWith('HTTP/1.1 408')) cutOff.add(s);
    });
    s.on('connect', () => {
      s.write('GET http://api.test/ HTTP/1.1\r\nHost: api.test\r\n');
      const t = setInterval(() => (s.writable ? s.write('X') : clearInterval(t)), 1000);
      s.once('close', () => clearInterval(t));
    });
    return s;
  });
}

/**
 * The attacker: Node TLS clients that do not trust airlock's CA (the usual setup mistake), through
 * CONNECT and on the transparent port. Each rejects the leaf and closes without an alert.
 */
async function rejectingClients(): Promise<number> {
  let next = 0;
  let rejected = 0;
  const one = (i: number) =>
    new Promise<void>((resolve) => {
      const done = (e: Error) => {
        if (/certificate/.test(e.message)) rejected++;
        resolve();
      };
      if (i % 2) {
        const t = tls.connect({ host: '127.0.0.1', port: transparentPort, localAddress: ATTACKER, servername: 'api.test' } as tls.ConnectionOptions);
        return void t.once('error', done);
      }
      const s = net.connect({ host: '127.0.0.1', port: proxyPort, localAddress: ATTACKER }, () => s.write('CONNECT api.test:443 HTTP/1.1\r\nHost: api.test:443\r\n\r\n'));
      s.once('error', done);
      s.once('data', (head) => {
        if (!head.toString().startsWith('HTTP/1.1 200')) return done(new Error(head.toString()));
        tls.connect({ socket: s, servername: 'api.test' }).once('error', done);
      });
    });
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      while (next < REJECTING) await one(next++);
    }),
  );
  return rejected;
}

/** Sockets airlock holds on its agent-facing ports (any state but LISTEN), from `ss`. */
function agentSockets(): string[] {
  const out = execFileSync('ss', ['-tanpH', `( sport = :${proxyPort} or sport = :${transparentPort} )`], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(`pid=${pid},`) && !l.startsWith('LISTEN'));
}

/** The attacker: requests whose headers are far over limits.max_header_bytes. */
async function oversized(): Promise<number> {
  let answered = 0;
  const big = `GET http://api.test/ HTTP/1.1\r\nHost: api.test\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`;
  for (let i = 0; i < OVERSIZED; i += 20) {
    await Promise.all(
      Array.from({ length: 20 }, () =>
        new Promise<void>((resolve) => {
          const s = net.connect({ host: '127.0.0.1', port: proxyPort, localAddress: ATTACKER }, () => s.end(big));
          s.on('data', (c) => {
            if (c.toString().startsWith('HTTP/1.1 431')) answered++;
          });
          s.on('error', () => resolve());
          s.on('close', () => resolve());
        }),
      ),
    );
  }
  return answered;
}

it('a second client is served throughout a flood from the first, and RSS stays bounded', async () => {
  const rssStart = rssMb('VmRSS');
  let flooding = true;
  const victim = (async () => {
    const results: { code: number | null; status: string; err: string }[] = [];
    while (flooding || results.length < 20) {
      const r = await run('curl', ['-sS', '--max-time', '30', '--interface', VICTIM, '--cacert', ca, '-x', `http://127.0.0.1:${proxyPort}`, '-o', '/dev/null', '-w', '%{http_code}', `https://api.test/echo?n=${results.length}`]);
      results.push({ code: r.code, status: r.stdout, err: r.stderr });
    }
    return results;
  })();

  const loris = slowloris();
  const [sni, big, rejected] = await Promise.all([sniFlood(), oversized(), rejectingClients()]);
  const peakDuring = rssMb('VmHWM');
  await new Promise((r) => setTimeout(r, 6000)); // past limits.header_timeout: the slowloris connections are cut
  flooding = false;
  const served = await victim;
  for (const s of loris) s.destroy();

  const failures = served.filter((r) => r.code !== 0 || r.status !== '200');
  console.log(
    `flood: ${sni.ok} new names admitted, ${sni.refused} refused; ${big}/${OVERSIZED} oversized answered 431; ` +
      `${cutOff.size}/${SLOWLORIS} slowloris cut off with 408; ${rejected}/${REJECTING} rejecting clients; victim ${served.length - failures.length}/${served.length} ok; ` +
      `RSS ${rssStart.toFixed(0)} MB at start, peak ${peakDuring.toFixed(0)} MB, now ${rssMb('VmRSS').toFixed(0)} MB`,
  );
  expect(failures, JSON.stringify(failures.slice(0, 3))).toEqual([]);
  expect(served.length).toBeGreaterThanOrEqual(20);
  expect(sni.ok).toBeLessThanOrEqual(600); // limits.leaf_mints_per_minute default
  expect(sni.ok + sni.refused).toBe(NEW_NAMES);
  expect(big).toBe(OVERSIZED);
  expect(cutOff.size).toBe(SLOWLORIS);
  expect(rejected).toBe(REJECTING);
  expect(rssMb('VmHWM')).toBeLessThan(RSS_LIMIT_MB);

  // The attacker's connections were all released: airlock holds none of its sockets (no
  // CLOSE-WAIT), counts none open, and it is an ordinary client again.
  // (The last ones may still be closing: a refused agent that never closes is let go after 2 s.)
  const metrics = () => fetch(`http://127.0.0.1:${adminPort}/metrics`).then((r) => r.text());
  for (let i = 0; i < 50 && (agentSockets().length || !/^airlock_client_connections 0$/m.test(await metrics())); i++) await new Promise((r) => setTimeout(r, 100));
  expect(agentSockets()).toEqual([]);
  expect(await metrics()).toMatch(/^airlock_client_connections 0$/m);
  const after = await run('curl', ['-sS', '--interface', ATTACKER, '-x', `http://127.0.0.1:${proxyPort}`, '-o', '/dev/null', '-w', '%{http_code}', 'http://denied.test/']);
  expect(after.stdout).toBe('403');

  // Every limit hit is in the store, with its code.
  await new Promise((r) => setTimeout(r, 300)); // the writer's batch interval
  const db = new Database(path.join(dir, 'flows.sqlite'), { readonly: true });
  const counts = Object.fromEntries(
    (db.prepare("SELECT code, count(*) AS n FROM flows WHERE client LIKE ? GROUP BY code").all(`${ATTACKER}:%`) as { code: string; n: number }[]).map((r) => [r.code, r.n]),
  );
  const untrusting = db.prepare("SELECT count(*) AS n FROM flows WHERE client LIKE ? AND code = 'agent_tls' AND reason LIKE '%without an alert%'").get(`${ATTACKER}:%`) as { n: number };
  db.close();
  console.log('attacker flows by code:', counts);
  // A refused name is refused by the mint budget, or earlier by the connection limit (the
  // attacker's lingering sockets); either way it is recorded.
  expect((counts.leaf_mint_limit ?? 0) + (counts.connection_limit ?? 0)).toBeGreaterThanOrEqual(sni.refused);
  expect(counts.headers_too_large).toBe(OVERSIZED);
  expect(counts.header_timeout).toBe(SLOWLORIS);
  // Every attacker connection exactly once (no second, bogus bad_request for a rejected certificate):
  // a rejecting client as agent_tls (closed without an alert), an admitted new name, which the
  // client closes right after its handshake, as client_closed.
  expect(counts.agent_tls).toBe(REJECTING);
  expect(untrusting.n).toBe(REJECTING);
  expect(counts.client_closed).toBe(sni.ok);
  expect(counts.bad_request).toBeUndefined();
  expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(NEW_NAMES + SLOWLORIS + OVERSIZED + REJECTING + 1);
}, 240_000);

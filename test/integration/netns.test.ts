// The transparent deployment end to end, as root: an "agent" network namespace behind a veth pair,
// locked down by the real `airlock iptables --apply`, trusting airlock's CA through the real
// `airlock ca install`, reaches an allowed host with curl, python3, Node fetch, git and openssl
// without knowing airlock exists; everything else it sends is refused or dropped.
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, tempDir, type TestAirlock } from '../helpers/airlock.ts';
import { makeUpstreamPki } from '../helpers/certs.ts';
import { BIN } from '../helpers/cli.ts';
import { createNetns, type Netns } from '../helpers/netns.ts';
import { run } from '../helpers/run.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const SECRET = 'sk-test-NETNS-KEY-41c9e07d';
/** What the agent reads where an upstream echoed the injected key. */
const ECHOED = /^\[redacted:injected\]\**$/;
const airlockCli = (args: string[]) => run(process.execPath, [BIN, ...args]);

let dir: string;
let ns: Netns;
let up: TestUpstream;
let airlock: TestAirlock;
let port: number; // airlock's transparent port
let agentEnv: Record<string, string>; // exactly what `airlock ca install` wrote
const tcpSeen: string[] = []; // connections reaching the host's :8081
const udpSeen: Record<number, string[]> = { 443: [], 53: [] };
const closers: (() => unknown)[] = [];

/** Our chains' lines in iptables-save / ip6tables-save (the interface name is unique to this run). */
function ourRules(): string[] {
  const save = execFileSync('iptables-save').toString() + execFileSync('ip6tables-save').toString();
  return save.split('\n').filter((l) => l.includes(ns.hostIf));
}

async function undo(): Promise<void> {
  if (!ns) return;
  const r = await airlockCli(['iptables', '--undo', '--interface', ns.hostIf]);
  if (r.code !== 0) throw new Error(`airlock iptables --undo failed: ${r.stderr}`);
}

async function cleanup(): Promise<void> {
  try {
    await undo();
  } finally {
    ns?.destroy();
    for (const c of closers.splice(0).reverse()) await c();
  }
}

beforeAll(async () => {
  try {
    dir = tempDir('airlock-netns-');
    ns = createNetns(['api.test', 'denied.test']);

    const pki = makeUpstreamPki(path.join(dir, 'pki'), ['api.test']);
    const repos = path.join(dir, 'repos');
    fs.mkdirSync(repos);
    execFileSync('git', ['init', '-q', '--bare', '-b', 'main', path.join(repos, 'demo.git')]);
    const work = path.join(dir, 'work');
    execFileSync('git', ['init', '-q', '-b', 'main', work]);
    execFileSync('git', ['-C', work, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '--allow-empty', '-m', 'first']);
    execFileSync('git', ['-C', work, 'push', '-q', path.join(repos, 'demo.git'), 'main']);
    up = await startUpstream({ tls: pki, host: ns.hostIp, port: 443, gitRoot: repos });
    closers.push(() => up.close());

    airlock = await startTestAirlock(
      `
listen:
  transparent: ${ns.hostIp}:0
upstream:
  ca_files: [${pki.caCert}]
  resolve: { api.test: ${ns.hostIp} }
hosts:
  - match: api.test
    allow_ips: [${ns.hostIp}/32]
    inject:
      headers: { x-api-key: env:TEST_API_KEY }
`,
      { TEST_API_KEY: SECRET },
      dir,
    );
    closers.push(() => airlock.close());
    port = airlock.addresses.transparent!.port!;

    // Peers the agent must not reach: TCP :8081, UDP :443 (QUIC). UDP :53 is the allowed resolver.
    const tcp = net.createServer((s) => {
      tcpSeen.push(s.remoteAddress!);
      s.destroy();
    });
    const tcp6 = net.createServer((s) => {
      tcpSeen.push(s.remoteAddress!);
      s.destroy();
    });
    await new Promise<void>((r) => tcp.listen(8081, ns.hostIp, r));
    closers.push(() => new Promise((r) => tcp.close(r)));
    await new Promise<void>((r) => tcp6.listen(8081, ns.hostIp6, r));
    closers.push(() => new Promise((r) => tcp6.close(r)));
    for (const p of [443, 53] as const) {
      const u = dgram.createSocket('udp4');
      u.on('message', (m, rinfo) => udpSeen[p].push(`${rinfo.address} ${m}`));
      await new Promise<void>((r) => u.bind(p, ns.hostIp, r));
      closers.push(() => u.close());
    }

    const apply = await airlockCli(['iptables', '--apply', '--interface', ns.hostIf, '--port', String(port), '--dns', ns.hostIp]);
    if (apply.code !== 0) throw new Error(`airlock iptables --apply failed: ${apply.stderr}`);
    const trust = path.join(dir, 'trust');
    const ca = await airlockCli(['ca', 'install', '--data-dir', path.join(dir, 'data'), '--trust-dir', trust]);
    if (ca.code !== 0) throw new Error(`airlock ca install failed: ${ca.stderr}`);
    agentEnv = Object.fromEntries(
      fs.readFileSync(path.join(trust, 'agent.env'), 'utf8').split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
  } catch (e) {
    await cleanup();
    throw e;
  }
});

afterAll(cleanup);

const agent = (cmd: string, args: string[], input?: string) => ns.exec(cmd, args, { env: agentEnv, input });

const udpProbe = (p: number) => `const s = require('dgram').createSocket('udp4'); s.send('probe ${p}', ${p}, '${ns.hostIp}', () => s.close())`;

function seenWith(marker: string) {
  const s = up.seen.find((x) => x.url.includes(marker));
  expect(s, `upstream saw a request for ${marker}`).toBeDefined();
  return s!;
}

describe('set-up', () => {
  it('airlock ca install wrote the env every client below relies on', () => {
    const bundle = path.join(dir, 'trust', 'ca-bundle.pem');
    expect(agentEnv).toEqual({
      NODE_EXTRA_CA_CERTS: path.join(dir, 'trust', 'airlock.crt'),
      REQUESTS_CA_BUNDLE: bundle,
      SSL_CERT_FILE: bundle,
      CURL_CA_BUNDLE: bundle,
      GIT_SSL_CAINFO: bundle,
      PIP_CERT: bundle,
      NPM_CONFIG_CAFILE: bundle,
    });
    expect(fs.readFileSync(bundle, 'utf8')).toContain(airlock.caPem.trim());
  });

  it('airlock iptables --apply is idempotent: a second run leaves the same rules', async () => {
    const before = ourRules();
    expect(before.length).toBeGreaterThan(10);
    const again = await airlockCli(['iptables', '--apply', '--interface', ns.hostIf, '--port', String(port), '--dns', ns.hostIp]);
    expect(again.code, again.stderr).toBe(0);
    expect(ourRules()).toEqual(before);
  });
});

describe('the agent reaches the allowed host transparently, with the credential injected', () => {
  it('curl', async () => {
    const r = await agent('curl', ['-sS', '--max-time', '10', '-H', 'x-api-key: agent-guess', 'https://api.test/echo?via=curl']);
    expect(r.stderr).toBe('');
    // The upstream got the key; its echo reaches the agent scrubbed (docs/dlp.md).
    expect(JSON.parse(r.stdout).headers['x-api-key']).toMatch(ECHOED);
    expect(seenWith('via=curl').headers['x-api-key']).toBe(SECRET);
  });

  it('python3 urllib with the default SSL context (SSL_CERT_FILE)', async () => {
    const script = `
import json, ssl, urllib.request
ctx = ssl.create_default_context()
print(json.load(urllib.request.urlopen("https://api.test/echo?via=python", context=ctx, timeout=10))["headers"]["x-api-key"])
`;
    const r = await agent('python3', ['-c', script]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toMatch(ECHOED);
    expect(seenWith('via=python').headers['x-api-key']).toBe(SECRET);
  });

  it('Node fetch (NODE_EXTRA_CA_CERTS)', async () => {
    const js = `fetch('https://api.test/echo?via=node').then((r) => r.json()).then((j) => console.log(j.headers['x-api-key']))`;
    const r = await agent(process.execPath, ['-e', js]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toMatch(ECHOED);
    expect(seenWith('via=node').headers['x-api-key']).toBe(SECRET);
  });

  it('git clone over HTTPS from a smart-HTTP server (GIT_SSL_CAINFO)', async () => {
    const clone = path.join(dir, 'clone');
    const r = await ns.exec('git', ['clone', '-q', 'https://api.test/git/demo.git', clone], { env: { ...agentEnv, GIT_TERMINAL_PROMPT: '0' } });
    expect(r.code, r.stderr).toBe(0);
    expect(execFileSync('git', ['-C', clone, 'log', '--format=%s']).toString().trim()).toBe('first');
    expect(seenWith('/git/demo.git/info/refs').headers['x-api-key']).toBe(SECRET);
    expect(seenWith('/git/demo.git/git-upload-pack').headers['x-api-key']).toBe(SECRET);
  });

  it('openssl s_client verifies airlock’s certificate for api.test', async () => {
    const request = 'GET /echo?via=openssl HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n';
    const args = ['s_client', '-connect', 'api.test:443', '-servername', 'api.test', '-CAfile', agentEnv.SSL_CERT_FILE, '-verify_return_error', '-ign_eof'];
    const r = await agent('openssl', args, request);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Verify return code: 0 (ok)');
    expect(r.stdout).toContain('HTTP/1.1 200');
    expect(seenWith('via=openssl').headers['x-api-key']).toBe(SECRET);
  });

  it('every flow came in through the transparent listener from the namespace, the key recorded masked', async () => {
    await airlock.store.flush();
    const rows = airlock.store.db.prepare("SELECT entry, client, request_headers FROM flows WHERE decision = 'allow'").all() as {
      entry: string;
      client: string;
      request_headers: string;
    }[];
    expect(rows.length).toBeGreaterThanOrEqual(6);
    for (const row of rows) {
      expect(row.entry).toBe('transparent');
      expect(row.client).toContain(ns.nsIp);
      expect(row.request_headers).not.toContain(SECRET);
    }
  });
});

describe('everything else is refused or dropped', () => {
  it('plain http://denied.test/ gets the 403 JSON', async () => {
    const r = await agent('curl', ['-sS', '--max-time', '10', '-w', '\n%{http_code}', 'http://denied.test/']);
    const [body, status] = r.stdout.split('\n');
    expect(status).toBe('403');
    expect(JSON.parse(body)).toMatchObject({ error: 'host_not_allowed', host: 'denied.test' });
  });

  it('https://denied.test/ gets a TLS access_denied alert (no certificate is minted for it)', async () => {
    const r = await agent('curl', ['-sS', '--max-time', '10', 'https://denied.test/']);
    expect(r.code).toBe(35); // CURLE_SSL_CONNECT_ERROR
    expect(r.stderr).toMatch(/alert access denied/i);
  });

  it('TCP to any other port is dropped (the peer never sees a connection)', async () => {
    const r = await agent('curl', ['-sS', '--connect-timeout', '2', `http://${ns.hostIp}:8081/`]);
    expect(r.code).toBe(28); // timed out: dropped, not refused
    expect(tcpSeen).toEqual([]);
  });

  it('IPv6 is locked down too: TCP over IPv6 to the host is dropped', async () => {
    const r = await agent('curl', ['-sS', '-g', '--connect-timeout', '2', `http://[${ns.hostIp6}]:8081/`]);
    expect(r.code).toBe(28);
    expect(tcpSeen).toEqual([]);
  });

  it('UDP 443 (QUIC) is dropped, while UDP to the resolver on :53 passes', async () => {
    for (const p of [443, 53]) {
      const r = await agent(process.execPath, ['-e', udpProbe(p)]);
      expect(r.code, r.stderr).toBe(0);
    }
    await expect.poll(() => udpSeen[53]).toEqual([`${ns.nsIp} probe 53`]);
    await new Promise((r) => setTimeout(r, 300));
    expect(udpSeen[443]).toEqual([]);
  });
});

describe('airlock iptables --undo', () => {
  it('removes every AIRLOCK_ chain and jump for the interface, after which the dropped traffic flows again', async () => {
    await undo();
    expect(ourRules()).toEqual([]);
    const save = execFileSync('iptables-save').toString() + execFileSync('ip6tables-save').toString();
    expect(save).not.toMatch(new RegExp(`AIRLOCK_(NAT|FLT)_${ns.hostIf}`));
    // The drops above were the rules' doing: without them the same packets arrive.
    for (const host of [ns.hostIp, `[${ns.hostIp6}]`]) {
      const r = await agent('curl', ['-sS', '-g', '--connect-timeout', '2', `http://${host}:8081/`]);
      expect(r.code).not.toBe(28);
    }
    expect(tcpSeen).toEqual([ns.nsIp, ns.nsIp6]);
    expect((await agent(process.execPath, ['-e', udpProbe(443)])).code).toBe(0);
    await expect.poll(() => udpSeen[443]).toEqual([`${ns.nsIp} probe 443`]);
  });
});

describe('apply and undo in a namespace of their own', () => {
  it('undo restores the tables exactly, leaving rules and chains it did not add', async () => {
    const scratch = createNetns();
    try {
      const inNs = (args: string[]) => scratch.exec(process.execPath, [BIN, 'iptables', ...args]);
      const save = async () => {
        const r = (await scratch.exec('iptables-save', [])).stdout + (await scratch.exec('ip6tables-save', [])).stdout;
        // Rules and user chains only: tables the restore instantiated show up with empty built-in chains.
        return r.split('\n').filter((l) => l.startsWith('-A ') || /^:\S+ - /.test(l));
      };
      await scratch.exec('iptables', ['-N', 'AIRLOCK_OTHER']);
      await scratch.exec('iptables', ['-A', 'INPUT', '-i', 'eth9', '-j', 'AIRLOCK_OTHER']);
      const before = await save();
      expect(before).toHaveLength(2);
      for (const args of [
        ['--apply', '--interface', 'veth9', '--port', '8443', '--dns', '198.18.64.1'],
        ['--apply', '--interface', 'veth9', '--port', '9443', '--airlock-ip', '198.18.64.9'],
        ['--apply', '--mode', 'output', '--uid', '998', '--port', '8443', '--dns', '198.18.64.1'],
      ]) {
        const r = await inNs(args);
        expect(r.code, r.stderr).toBe(0);
      }
      expect((await save()).join('\n')).toContain('-j DNAT --to-destination 198.18.64.9:9443');
      for (const args of [['--undo', '--interface', 'veth9'], ['--undo', '--mode', 'output'], ['--undo', '--interface', 'veth9']]) {
        const r = await inNs(args);
        expect(r.code, r.stderr).toBe(0);
      }
      expect(await save()).toEqual(before);
    } finally {
      scratch.destroy();
    }
  });
});

// Operating airlock: health and metrics, the flow log, policy reload on SIGHUP, graceful drain,
// and the admin plane never reachable through the proxy.
import { type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ProxyAgent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, tempDir, type TestAirlock } from '../helpers/airlock.ts';
import { makeUpstreamPki, type UpstreamPki } from '../helpers/certs.ts';
import { children, startCli } from '../helpers/cli.ts';
import { freePort } from '../helpers/dns.ts';
import { run } from '../helpers/run.ts';
import { loopbackIp, startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const KEY = 'ops-secret-value-55aa';
let dir: string;
let ip: string;
let pki: UpstreamPki;
let up: TestUpstream;

beforeAll(async () => {
  dir = tempDir();
  ip = loopbackIp();
  pki = makeUpstreamPki(path.join(dir, 'pki'), ['a.test', 'b.test']);
  up = await startUpstream({ tls: pki, host: ip, port: 443 });
});

afterAll(async () => {
  await up?.close();
});

afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

const policy = (hosts: string, extra = '', adminPort = 0) => `
listen:
  proxy: 127.0.0.1:0
  admin: 127.0.0.1:${adminPort}
upstream:
  ca_files: [${pki.caCert}]
  resolve: { a.test: ${ip}, b.test: ${ip}, admin.test: 127.0.0.1 }
hosts:
${hosts}
${extra}`;

const A_ONLY = `  - match: a.test
    inject: { headers: { x-api-key: env:OPS_KEY } }`;

describe('admin listener', () => {
  let airlock: TestAirlock;
  beforeAll(async () => {
    const port = await freePort();
    const adminRule = `  - match: admin.test\n    plain_http: true\n    ports: [${port}]\n    allow_ips: [127.0.0.0/8]`;
    airlock = await startTestAirlock(policy(`${A_ONLY}\n${adminRule}`, '', port), { OPS_KEY: KEY });
  });
  afterAll(() => airlock?.close());

  it('/healthz answers ok and /metrics counts flows by decision and entry path', async () => {
    const admin = `http://${airlock.addresses.admin!.address}`;
    const health = await request(`${admin}/healthz`);
    expect(health.statusCode).toBe(200);
    expect(await health.body.json()).toMatchObject({ status: 'ok', active: 0 });

    const agent = new ProxyAgent({ uri: airlock.proxyUrl, requestTls: { ca: airlock.caPem } });
    expect((await request('https://a.test/echo', { dispatcher: agent })).statusCode).toBe(200);
    expect((await request('https://nope.test/', { dispatcher: agent }).catch((e: Error) => e)) instanceof Error).toBe(true);
    await agent.close();

    const text = await (await request(`${admin}/metrics`)).body.text();
    expect(text).toMatch(/airlock_flows_total\{decision="allow",entry="explicit",code=""\} 1/);
    expect(text).toMatch(/airlock_flows_total\{decision="deny",entry="explicit",code="host_not_allowed"\} 1/);
    expect(text).toMatch(/airlock_flow_duration_seconds_bucket\{le="\+Inf",entry="explicit"\} \d+/);
    expect(text).toMatch(/airlock_store_queue_depth \d+/);
    expect(text).toMatch(/airlock_cert_cache_total\{result="minted"\} 1/);
    expect(text).not.toContain(KEY);
  });

  it('is never reachable through the proxy, even when a rule allows its address', async () => {
    const port = airlock.addresses.admin!.port!;
    const r = await run('curl', ['-sS', '-x', airlock.proxyUrl, `http://admin.test:${port}/metrics`]);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: 'address_not_allowed' });
    expect(JSON.parse(r.stdout).reason).toContain('airlock itself');
  });
});

describe('policy reload', () => {
  it('applies a new policy to the next request on an open keep-alive connection, and keeps the old one when the new one is broken', async () => {
    const d = tempDir();
    const airlock = await startTestAirlock(policy(A_ONLY), { OPS_KEY: KEY }, d);
    process.env.OPS_KEY = KEY; // reload reads secrets from this process's environment
    try {
      const agent = new ProxyAgent({ uri: airlock.proxyUrl, requestTls: { ca: airlock.caPem } });
      const get = async (host: string) => {
        const r = await request(`https://${host}/echo`, { dispatcher: agent }).catch(() => undefined);
        await r?.body.text();
        return r?.statusCode ?? 'refused';
      };
      expect(await get('a.test')).toBe(200);
      expect(await get('b.test')).toBe('refused'); // CONNECT refused with 403

      fs.writeFileSync(path.join(d, 'policy.yaml'), policy(`${A_ONLY}\n  - match: b.test`, 'log: { flows: false }'));
      expect(airlock.reload()).toEqual({ ok: true, restartNeeded: [] });
      expect(await get('a.test')).toBe(200); // the same pooled connection goes on
      expect(await get('b.test')).toBe(200);

      fs.writeFileSync(path.join(d, 'policy.yaml'), policy(`  - match: "*"`, 'log: { flows: false }'));
      const bad = airlock.reload();
      expect(bad).toEqual({ ok: false, errors: ['hosts[0].match: "*" would allow every host'] });
      expect(await get('b.test')).toBe(200);
      await agent.close();
    } finally {
      delete process.env.OPS_KEY;
      await airlock.close();
    }
  });

  it('SIGHUP reloads the running process and logs the outcome', async () => {
    const d = tempDir();
    fs.writeFileSync(path.join(d, 'policy.yaml'), policy(A_ONLY));
    const { proc, banner } = await startCli(['--config', 'policy.yaml'], d, { OPS_KEY: KEY });
    const proxy = `http://${/explicit proxy\s+(\S+)/.exec(banner)![1]}`;
    const lines = collect(proc);
    const ca = path.join(d, 'ca', 'ca.crt') // the data dir is the policy's directory;
    // A refused CONNECT has no HTTP status of its own in curl's eyes: report the CONNECT's.
    const code = async (host: string) => {
      const out = (await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{http_connect}', '--cacert', ca, '-x', proxy, `https://${host}/echo`])).stdout;
      const [status, connect] = out.split(' ');
      return status === '000' ? connect : status;
    };
    expect(await code('b.test')).toBe('403');
    fs.writeFileSync(path.join(d, 'policy.yaml'), policy(`${A_ONLY}\n  - match: b.test`));
    proc.kill('SIGHUP');
    await expect.poll(() => lines.find((l) => l.msg === 'policy reloaded')).toBeTruthy();
    expect(await code('b.test')).toBe('200');

    fs.writeFileSync(path.join(d, 'policy.yaml'), 'hosts: [');
    proc.kill('SIGHUP');
    await expect.poll(() => lines.find((l) => l.msg === 'policy reload failed; the policy in force stays')).toBeTruthy();
    expect(await code('b.test')).toBe('200');

    // One canonical JSON line per flow, with the injected header named but never its value.
    const flows = lines.filter((l) => l.msg === 'flow');
    expect(flows.find((l) => l.host === 'b.test' && l.decision === 'deny')).toMatchObject({ code: 'host_not_allowed', entry: 'explicit' });
    expect(JSON.stringify(lines)).not.toContain(KEY);
  });
});

describe('graceful stop', () => {
  it('lets a request in progress finish and records it before exiting', async () => {
    const d = tempDir();
    const airlock = await startTestAirlock(policy(A_ONLY), { OPS_KEY: KEY }, d);
    const agent = new ProxyAgent({ uri: airlock.proxyUrl, requestTls: { ca: airlock.caPem } });
    // Two keep-alive connections, open and idle.
    await Promise.all([1, 2].map(async () => (await request('https://a.test/slow?ms=50', { dispatcher: agent })).body.text()));
    const pending = request('https://a.test/slow?ms=600', { dispatcher: agent });
    await new Promise((r) => setTimeout(r, 200));
    const closed = airlock.close();
    // A request that arrives on the other open connection while stopping is served, and told to go.
    const late = await request('https://a.test/slow?ms=100', { dispatcher: agent });
    expect(late.statusCode).toBe(200);
    expect(late.headers.connection).toBe('close');
    await late.body.text();
    const res = await pending;
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('slow done');
    await closed;
    await agent.close();
    const db = new Database(airlock.config.store.path, { readonly: true });
    expect(db.prepare("SELECT status, decision FROM flows WHERE path = '/slow' AND query = 'ms=600'").get()).toEqual({ status: 200, decision: 'allow' });
    db.close();
  });
});

/** JSON lines a running airlock writes on stdout. */
function collect(proc: ChildProcess): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  proc.stdout!.on('data', (c: Buffer) => {
    buf += c;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.startsWith('{')) lines.push(JSON.parse(line));
    }
  });
  return lines;
}

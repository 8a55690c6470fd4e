// airlock instances that share one PostgreSQL store, as real processes: `airlock start` with a
// policy naming store.postgres (the URL in AIRLOCK_PG_URL, as a deployment passes it), and the web
// UI on its own (`airlock ui --config`), the way an operator runs a fleet.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ProxyAgent, request } from 'undici';
import { tempDir } from './airlock.ts';
import { BIN, children, NODE_FLAGS, startCli } from './cli.ts';
import { freePort } from './dns.ts';

export interface Instance {
  name: string;
  dir: string;
  proc: ChildProcess;
  proxyUrl: string;
  caPem: string;
  adminPort: number;
  out: () => string;
  err: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** A request through this instance's proxy; resolves with status and body. */
  send(url: string, init?: { method?: string; body?: string; headers?: Record<string, string> }): Promise<{ status: number; body: string }>;
  close(): Promise<void>;
}

export interface FleetOptions {
  name: string;
  pgUrl: string;
  /** Policy lines for upstream:, hosts: and the rest (indented as top-level YAML). */
  policy: string;
  /** Extra keys under store.postgres (indented by 4). */
  postgres?: string;
  /** Extra keys under store (indented by 2). */
  store?: string;
  args?: string[];
}

export function fleetPolicy(o: FleetOptions, adminPort: number): string {
  return `listen:
  proxy: 127.0.0.1:0
  admin: 127.0.0.1:${adminPort}
store:
  instance: ${o.name}
${o.store ?? ''}  postgres:
    url: env:AIRLOCK_PG_URL
${o.postgres ?? ''}${o.policy}
log: { flows: false }
`;
}

export async function startInstance(o: FleetOptions): Promise<Instance> {
  const dir = tempDir(`airlock-${o.name}-`);
  const adminPort = await freePort();
  fs.writeFileSync(path.join(dir, 'policy.yaml'), fleetPolicy(o, adminPort));
  const { proc, banner } = await startCli(['--config', 'policy.yaml', ...(o.args ?? [])], dir, { AIRLOCK_PG_URL: o.pgUrl });
  let out = banner;
  let err = '';
  proc.stdout!.on('data', (c) => (out += c));
  proc.stderr!.on('data', (c) => (err += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const proxyUrl = `http://${/explicit proxy\s+(\S+)/.exec(banner)![1]}`;
  const caPem = fs.readFileSync(path.join(dir, /CA certificate\s+(\S+)/.exec(banner)![1]), 'utf8');
  const agent = new ProxyAgent({ uri: proxyUrl, requestTls: { ca: caPem } });
  return {
    name: o.name,
    dir,
    proc,
    proxyUrl,
    caPem,
    adminPort,
    out: () => out,
    err: () => err,
    exited,
    async send(url, init = {}) {
      try {
        const r = await request(url, { dispatcher: agent, method: (init.method ?? 'GET') as 'GET', body: init.body, headers: init.headers });
        return { status: r.statusCode, body: await r.body.text() };
      } catch (err) {
        // A tunnel airlock refused (a denied host) is its CONNECT answer, not a response.
        const m = /Proxy response \((\d+)\)/.exec((err as Error).message);
        if (m) return { status: Number(m[1]), body: '' };
        throw err;
      }
    },
    async close() {
      await agent.close().catch(() => {});
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await exited;
      }
    },
  };
}

export interface UiProcess {
  proc: ChildProcess;
  base: string;
  token: string;
  out: () => string;
  close(): Promise<void>;
}

/** `airlock ui --config policy.yaml --listen 127.0.0.1:0` in `dir`; resolves once it listens, with its first token. */
export function startUiProcess(dir: string, env: NodeJS.ProcessEnv): Promise<UiProcess> {
  const proc = spawn(process.execPath, [...NODE_FLAGS, BIN, 'ui', '--config', 'policy.yaml', '--listen', '127.0.0.1:0'], { cwd: dir, env: { ...process.env, ...env } });
  children.push(proc);
  let out = '';
  let err = '';
  proc.stderr!.on('data', (c) => (err += c));
  return new Promise((resolve, reject) => {
    proc.stdout!.on('data', (c) => {
      out += c;
      const m = /web UI\s+(http:\/\/\S+)\/\s+\(log in with admin token (\S+);/.exec(out);
      if (m && /\n\n/.test(out)) {
        resolve({
          proc,
          base: m[1],
          token: m[2],
          out: () => out + err,
          async close() {
            if (proc.exitCode !== null) return;
            proc.kill('SIGTERM');
            await new Promise((r) => proc.once('exit', r));
          },
        });
      }
    });
    proc.on('exit', (code) => reject(new Error(`airlock ui exited ${code}: ${out}${err}`)));
  });
}

/** Polls `check` until it is true (a check that throws counts as false), or throws after `ms`. */
export async function eventually(check: () => Promise<boolean> | boolean, ms = 20_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The text of /metrics of an instance. */
export async function metricsOf(i: Instance): Promise<string> {
  const r = await request(`http://127.0.0.1:${i.adminPort}/metrics`);
  return r.body.text();
}

export function metric(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

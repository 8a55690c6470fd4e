// CPU cost of agent traffic: airlock's own CPU time (all its threads, from /proc) per request and
// per MB while agent sessions (bench/agent-corpus.ts) pass through it as shipped (explicit proxy,
// CONNECT + TLS, DLP and body capture on). A quick, noise-tolerant companion to the shared
// harness's `agent` workload: CPU time does not depend on what else the machine runs, so a change
// on the hot path can be judged here in a minute and then confirmed there.
// Run: npx tsx bench/agent-cpu.ts [sessions=60] [turns=60]
//   AIRLOCK_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles airlock;
//   AGENT_PATH=/v1/messages posts where airlock reads LLM calls (sessions are filed by the writer).
//   WORKERS=2 runs two workers (CPU of the supervisor and of each worker, by thread).
//   EXTRA_YAML=file appends to the policy (e.g. `dlp: { enabled: false }` to compare).
//   WARMUP=N sessions before the measured ones (default 4): V8 is still compiling airlock's hot
//   paths for ~20 s after start, so a longer warm-up measures the steady state (docs/bench.md).
//   KA16=1 measures the shared bench's `ka16` instead: 200-byte GETs on 16 keep-alive connections
//   (sessions x turns requests), the per-request cost of issue 13.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ProxyAgent, request } from 'undici';
import { tempDir } from '../test/helpers/airlock.ts';
import { startTlsUpstream } from '../test/helpers/upstream.ts';
import { conversation, sessionBodies } from './agent-corpus.ts';

const SESSIONS = Number(process.argv[2] ?? 60);
const TURNS = Number(process.argv[3] ?? 60);
const KA16 = process.env.KA16 === '1';
const CONNECTIONS = KA16 ? 16 : 4;
const WARMUP_SESSIONS = Number(process.env.WARMUP ?? 4);

const dir = tempDir('airlock-bench-cpu-');
const { ip, pki, up } = await startTlsUpstream(dir, ['api.test']);
const policy = path.join(dir, 'policy.yaml');
fs.writeFileSync(
  policy,
  `data_dir: ${dir}/data
listen:
  proxy: 127.0.0.1:0
upstream:
  ca_files: [${pki.caCert}]
  resolve: { api.test: ${ip} }
hosts:
  - match: api.test
    allow_ips: [${ip}]
${process.env.EXTRA_YAML ? fs.readFileSync(process.env.EXTRA_YAML, 'utf8') : ''}`,
);
const flags = (process.env.AIRLOCK_NODE_FLAGS ?? '--max-semi-space-size=1 --v8-pool-size=1 --initial-old-space-size=32').split(/\s+/).filter(Boolean);
const child = spawn(process.execPath, [...flags, 'proxy/airlock.js', 'start', '--config', policy, '--workers', process.env.WORKERS ?? '1'], { stdio: ['ignore', 'pipe', process.env.AIRLOCK_STDERR ? 'pipe' : 'inherit'] });
process.on('exit', () => child.kill('SIGKILL'));
if (process.env.AIRLOCK_STDERR) child.stderr!.pipe(fs.createWriteStream(process.env.AIRLOCK_STDERR));
if (process.env.AIRLOCK_STDOUT) child.stdout!.pipe(fs.createWriteStream(process.env.AIRLOCK_STDOUT));
const proxyUrl = await new Promise<string>((resolve, reject) => {
  let out = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c;
    const m = /explicit proxy\s+(127\.0\.0\.1:\d+)/.exec(out);
    if (m) resolve(`http://${m[1]}`);
  });
  child.on('exit', (code) => reject(new Error(`airlock exited ${code}: ${out}`)));
});

/** CPU seconds of every thread of `pid`, by thread name. */
/** CPU seconds by thread, of airlock and of its workers (WORKERS=N: `--workers N`, default 1). */
function cpu(root: number): Map<string, number> {
  const out = new Map<string, number>();
  const kids = fs.readFileSync(`/proc/${root}/task/${root}/children`, 'utf8').trim();
  for (const pid of [root, ...(kids ? kids.split(/\s+/).map(Number) : [])]) threadsCpu(pid, pid === root ? '' : `worker ${pid} `, out);
  return out;
}

function threadsCpu(pid: number, prefix: string, out: Map<string, number>): void {
  const tick = 100; // USER_HZ
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const key = prefix + (Number(tid) === pid ? 'main' : `${name}/${tid}`);
      out.set(key, (out.get(key) ?? 0) + (Number(f[11]) + Number(f[12])) / tick);
    } catch {
      // the thread ended
    }
  }
}
const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

const conv = conversation(TURNS);
const agent = new ProxyAgent({ uri: proxyUrl, requestTls: { ca: fs.readFileSync(`${dir}/data/ca/ca.crt`) }, connections: CONNECTIONS });
async function run(from: number, to: number): Promise<{ n: number; bytes: number }> {
  let next = from;
  let n = 0;
  let bytes = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < to) {
        if (KA16) {
          next++;
          for (let t = 0; t < TURNS; t++) {
            const r = await request('https://api.test/bytes?n=200', { dispatcher: agent });
            await r.body.dump();
            if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`);
            n++;
          }
          continue;
        }
        for (const body of sessionBodies(conv, next++)) {
          const r = await request(`https://api.test${process.env.AGENT_PATH ?? '/upload'}`, { method: 'POST', body, headers: { 'content-type': 'application/json' }, dispatcher: agent });
          await r.body.dump();
          if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`);
          n++;
          bytes += body.length;
        }
      }
    }),
  );
  return { n, bytes };
}
await run(0, WARMUP_SESSIONS);
const before = cpu(child.pid!);
const t0 = process.hrtime.bigint();
const { n, bytes } = await run(WARMUP_SESSIONS, WARMUP_SESSIONS + SESSIONS);
const wall = Number(process.hrtime.bigint() - t0) / 1e9;
const after = cpu(child.pid!);
const used = total(after) - total(before);
const mb = bytes / 1e6;
console.log(`${n} requests, ${mb.toFixed(0)} MB of request bodies (${(bytes / n / 1e3).toFixed(0)} KB mean) in ${wall.toFixed(1)} s (${(n / wall).toFixed(0)} req/s)`);
console.log(`airlock CPU: ${used.toFixed(2)} s = ${((used / n) * 1e3).toFixed(2)} ms per request = ${(mb / used).toFixed(0)} MB/s of CPU time`);
const threads = [...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const).filter(([, v]) => v > 0.01).sort((a, b) => b[1] - a[1]);
console.log(`by thread: ${threads.map(([k, v]) => `${k} ${((v / n) * 1e3).toFixed(2)} ms`).join(', ')}`);
const hwm = /VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
console.log(`airlock peak RSS: ${(Number(hwm) / 1024).toFixed(0)} MB`);
if (process.env.SMAPS) fs.writeFileSync(process.env.SMAPS, fs.readFileSync(`/proc/${child.pid}/smaps`));
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
await agent.close();
await up.close();
fs.rmSync(dir, { recursive: true, force: true });

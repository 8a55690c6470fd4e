// The audit trail under load, against a real `airlock start` process and a real HTTPS upstream:
// every request the client saw complete is in the store after a graceful stop (also mid-load),
// and a kill -9 leaves a sound database that `airlock flows verify` accepts, missing at most the
// flows of the last moments. Counts, never speed: the load runs for a fixed time, whatever rate.
import { type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { tempDir } from '../helpers/airlock.ts';
import { makeUpstreamPki, type UpstreamPki } from '../helpers/certs.ts';
import { BIN, children, startCli } from '../helpers/cli.ts';
import { freePort } from '../helpers/dns.ts';
import { type Load, startLoad } from '../helpers/load.ts';
import { run } from '../helpers/run.ts';
import { loopbackIp, startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const HOST = 'load.test';
const SECONDS = Number(process.env.AIRLOCK_DURABILITY_SECONDS ?? 60);
/** Bounds the store's size (and the run's disk use) whatever the machine's speed. */
const MAX_REQUESTS = Number(process.env.AIRLOCK_DURABILITY_MAX_REQUESTS ?? 600_000);

let ip: string;
let pki: UpstreamPki;
let up: TestUpstream;
const loads: Load[] = [];
const timers: NodeJS.Timeout[] = [];
/** Data dirs to remove after each test: a 60 s run leaves a store of a few hundred MB. */
const dirs: string[] = [];
let pkiDir: string;

beforeAll(async () => {
  ip = loopbackIp();
  pkiDir = tempDir();
  pki = makeUpstreamPki(path.join(pkiDir, 'pki'), [HOST]);
  up = await startUpstream({ tls: pki, host: ip, port: 443 });
});

afterAll(async () => {
  await up?.close();
  if (pkiDir) fs.rmSync(pkiDir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  for (const c of children.splice(0)) c.kill('SIGKILL');
  // With airlock gone every loop ends at its next request.
  await Promise.all(loads.splice(0).map((l) => l.done));
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

interface Running {
  proc: ChildProcess;
  proxyUrl: string;
  caPem: string;
  dbFile: string;
  adminPort: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
  /** What airlock printed after its banner (with log.flows off: its events). */
  stdout: () => string;
}

async function startAirlock(): Promise<Running> {
  const dir = tempDir('airlock-durability-');
  dirs.push(dir);
  const adminPort = await freePort();
  fs.writeFileSync(
    path.join(dir, 'policy.yaml'),
    `listen:
  proxy: 127.0.0.1:0
  admin: 127.0.0.1:${adminPort}
upstream:
  ca_files: [${pki.caCert}]
  resolve: { ${HOST}: ${ip} }
hosts:
  - match: ${HOST}
    methods: [GET]
log: { flows: false }
`,
  );
  // Two workers: flows cross from the workers to the one store writer; none may be lost.
  const { proc, banner } = await startCli(['--config', 'policy.yaml', '--workers', '2'], dir);
  let err = '';
  proc.stderr!.on('data', (c) => (err += c));
  let out = '';
  proc.stdout!.on('data', (c) => (out += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    proc,
    proxyUrl: `http://${/explicit proxy\s+(\S+)/.exec(banner)![1]}`,
    caPem: fs.readFileSync(path.join(dir, /CA certificate\s+(\S+)/.exec(banner)![1]), 'utf8'),
    dbFile: path.join(dir, /flow store\s+(\S+)/.exec(banner)![1]),
    adminPort,
    exited,
    stderr: () => err,
    stdout: () => out,
  };
}

function load(a: Running, connections: number, durationMs: number): Load {
  const l = startLoad({
    proxyUrl: a.proxyUrl,
    caPem: a.caPem,
    origin: `https://${HOST}`,
    path: '/echo',
    connections,
    durationMs,
    maxRequests: MAX_REQUESTS,
  });
  loads.push(l);
  // The upstream keeps every request it saw; this run only needs the count.
  timers.push(setInterval(() => (up.seen.length = 0), 500));
  return l;
}

/** The flows of the load host in the store: request id (?i=N) -> status and decision. */
function storedFlows(dbFile: string): Map<number, { status: number | null; decision: string }> {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT query, status, decision FROM flows WHERE host = ?').all(HOST) as {
      query: string | null;
      status: number | null;
      decision: string;
    }[];
    const byId = new Map<number, { status: number | null; decision: string }>();
    const odd: string[] = [];
    for (const r of rows) {
      const id = Number(/^i=(\d+)$/.exec(r.query ?? '')?.[1]);
      if (!Number.isInteger(id)) odd.push(`unexpected query ${r.query}`);
      else if (byId.has(id)) odd.push(`request ${id} recorded twice`);
      else byId.set(id, { status: r.status, decision: r.decision });
    }
    expect(odd).toEqual([]);
    return byId;
  } finally {
    db.close();
  }
}

function integrityCheck(dbFile: string): string {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    return db.pragma('integrity_check', { simple: true }) as string;
  } finally {
    db.close();
  }
}

async function verifyChain(dbFile: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return run(process.execPath, [BIN, 'flows', 'verify', '--db', dbFile]);
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

it(
  `64 keep-alive connections for ${SECONDS} s: after a graceful stop the store holds exactly the requests the client completed`,
  async () => {
    const a = await startAirlock();
    const l = load(a, 64, SECONDS * 1000);
    // Sampled queue depth: airlock exposes the current depth, not the writer's own high-water mark.
    let maxDepth = 0;
    let samples = 0;
    const poll = setInterval(() => {
      request(`http://127.0.0.1:${a.adminPort}/metrics`)
        .then((r) => r.body.text())
        .then((text) => {
          const depth = Number(/^airlock_store_queue_depth (\d+)/m.exec(text)?.[1]);
          if (Number.isFinite(depth)) {
            samples++;
            maxDepth = Math.max(maxDepth, depth);
          }
        })
        .catch(() => {});
    }, 200);
    timers.push(poll);
    await l.done;
    clearInterval(poll);
    const elapsed = (performance.now() - l.startedAt) / 1000;

    const termAt = performance.now();
    a.proc.kill('SIGTERM');
    const exit = await a.exited;
    const stopMs = performance.now() - termAt;
    expect(exit, a.stderr()).toEqual({ code: 0, signal: null });
    // The store never stopped writing: no event of store trouble, nothing dropped.
    expect(a.stdout()).not.toMatch(/"msg":"flow(s in the backlog| store| writer)/);

    const stored = storedFlows(a.dbFile);
    const allowed = [...stored.values()].filter((f) => f.decision === 'allow').length;
    console.log(
      `bounded load: ${l.completed.size} requests completed over 64 connections in ${elapsed.toFixed(1)} s ` +
        `(${l.issued()} issued, cap ${MAX_REQUESTS}); graceful stop ${stopMs.toFixed(0)} ms; ${allowed} allowed flows stored; ` +
        `store queue depth max ${maxDepth} over ${samples} /metrics samples (the writer's high-water mark itself is not exposed)`,
    );
    expect(l.errors).toEqual([]);
    expect(l.completed.size).toBe(l.issued());
    expect(allowed).toBe(l.completed.size);
    expect(stored.size).toBe(l.completed.size);
    expect([...l.completed.keys()].filter((id) => stored.get(id)?.status !== 200)).toEqual([]);
    expect(integrityCheck(a.dbFile)).toBe('ok');
  },
  SECONDS * 1000 + 90_000,
);

it('kill -9 under load leaves a sound store that verifies, missing only the last moments', async () => {
  const a = await startAirlock();
  const l = load(a, 16, 30_000);
  await wait(2000);
  const killedAt = performance.now();
  a.proc.kill('SIGKILL');
  expect(await a.exited).toEqual({ code: null, signal: 'SIGKILL' });
  await l.done;

  // No request failed before the kill.
  expect(l.errors.filter((e) => e.at < killedAt)).toEqual([]);
  expect(integrityCheck(a.dbFile)).toBe('ok');
  const verify = await verifyChain(a.dbFile);
  expect(verify.code, verify.stdout + verify.stderr).toBe(0);

  const stored = storedFlows(a.dbFile);
  const times = [...l.completed.values()];
  const lastWindow = times.filter((t) => t >= killedAt - 250).length;
  const rate = l.completed.size / ((killedAt - l.startedAt) / 1000);
  const missing = [...l.completed.keys()].filter((id) => !stored.has(id));
  const oldestMissingMs = missing.length ? Math.max(...missing.map((id) => killedAt - l.completed.get(id)!)) : 0;
  const notSeenByClient = [...stored.keys()].filter((id) => !l.completed.has(id)).length;
  console.log(
    `kill -9: ${l.completed.size} completed (${rate.toFixed(0)} req/s), ${stored.size} recorded, ${missing.length} missing ` +
      `(oldest completed ${oldestMissingMs.toFixed(0)} ms before the kill), ${notSeenByClient} recorded but not completed by the client, ` +
      `${lastWindow} completed in the last 250 ms; verify: ${verify.stdout.trim()}`,
  );
  expect(l.completed.size).toBeGreaterThan(0);
  expect(missing.length).toBeLessThanOrEqual(lastWindow);
  expect([...stored].filter(([, f]) => f.decision === 'allow' && f.status !== 200)).toEqual([]);
});

it('SIGTERM with requests in flight: every request the client completed is stored, and exit is 0', async () => {
  const a = await startAirlock();
  const l = load(a, 32, 30_000);
  await wait(1500);
  expect(l.inFlight()).toBeGreaterThan(0);
  const termAt = performance.now();
  const inFlightAtTerm = l.inFlight();
  a.proc.kill('SIGTERM');
  const exit = await a.exited;
  const exitedAfterMs = performance.now() - termAt;
  expect(exit, a.stderr()).toEqual({ code: 0, signal: null });
  await l.done;
  expect(a.stdout()).not.toMatch(/"msg":"flow(s in the backlog| store| writer)/);

  expect(l.errors.filter((e) => e.at < termAt)).toEqual([]);
  const stored = storedFlows(a.dbFile);
  const afterTerm = [...l.completed.values()].filter((t) => t >= termAt).length;
  const missing = [...l.completed.keys()].filter((id) => !stored.has(id));
  const allowed = [...stored.entries()].filter(([, f]) => f.decision === 'allow');
  const byDecision: Record<string, number> = {};
  for (const f of stored.values()) byDecision[f.decision] = (byDecision[f.decision] ?? 0) + 1;
  console.log(
    `SIGTERM: ${inFlightAtTerm} in flight at the signal; exit after ${exitedAfterMs.toFixed(0)} ms; ${l.completed.size} completed ` +
      `(${afterTerm} after the signal), ${stored.size} recorded ${JSON.stringify(byDecision)}, ${missing.length} missing; ` +
      `client errors after the signal: ${l.errors.length}`,
  );
  expect(missing).toEqual([]);
  expect(stored.size).toBeGreaterThanOrEqual(l.completed.size);
  expect(allowed.filter(([, f]) => f.status !== 200)).toEqual([]);
  expect(integrityCheck(a.dbFile)).toBe('ok');
  const verify = await verifyChain(a.dbFile);
  expect(verify.code, verify.stdout + verify.stderr).toBe(0);
});

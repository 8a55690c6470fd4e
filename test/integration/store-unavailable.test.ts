// When the flow store cannot write (issue 20), against real `airlock start` processes whose data
// dir is on a small file system the test mounts (tmpfs with size=, ext4 on a loop device): with
// store.on_unavailable refuse, a full disk turns the next request into a 503 that never reaches the
// upstream, and requests are served and recorded again once space is freed; with serve, traffic
// goes on and /healthz, /metrics and one log line say it is unrecorded. Flows held back while the
// store could not write are all in it afterwards, and `airlock flows verify` passes.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import Database from 'better-sqlite3';
import { ProxyAgent, request } from 'undici';
import { WebSocket } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/airlock.ts';
import { BIN, children, startCli } from '../helpers/cli.ts';
import { freePort } from '../helpers/dns.ts';
import { run } from '../helpers/run.ts';
import { cleanupSmallFs, mountExt4, mountTmpfs } from '../helpers/smallfs.ts';
import { uiGet, uiLogin } from '../helpers/ui.ts';
import { startTlsUpstream, type TestUpstream } from '../helpers/upstream.ts';

const HOST = 'store.test';
const MiB = 1024 * 1024;

let up: TestUpstream;
let upstreamDir: string;
let ip: string;
let caFile: string;
const dirs: string[] = [];

beforeAll(async () => {
  upstreamDir = tempDir();
  const u = await startTlsUpstream(upstreamDir, [HOST]);
  up = u.up;
  ip = u.ip;
  caFile = u.pki.caCert;
});

afterEach(async () => {
  up.seen.length = 0;
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await gone;
    }
  }
  cleanupSmallFs();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

afterAll(async () => {
  await up?.close();
  if (upstreamDir) fs.rmSync(upstreamDir, { recursive: true, force: true });
});

interface Running {
  proc: ChildProcess;
  dispatcher: ProxyAgent;
  admin: string;
  /** The web UI and its first-start admin token. */
  ui?: { base: string; token: string };
  /** A base-URL route to the upstream (plain HTTP from the agent). */
  route?: string;
  dbFile: string;
  /** JSON log lines printed after the banner. */
  log: () => Record<string, unknown>[];
  stop(): Promise<number | null>;
}

async function startAirlock(dataDir: string, store: string): Promise<Running> {
  const dir = tempDir('airlock-store-unavailable-');
  dirs.push(dir);
  const adminPort = await freePort();
  fs.writeFileSync(
    path.join(dir, 'policy.yaml'),
    `data_dir: ${dataDir}
listen:
  proxy: 127.0.0.1:0
  admin: 127.0.0.1:${adminPort}
  ui: 127.0.0.1:0
upstream:
  ca_files: [${caFile}]
  resolve: { ${HOST}: ${ip} }
routes:
  - listen: 127.0.0.1:0
    upstream: https://${HOST}
hosts:
  - match: ${HOST}
log: { flows: false }
store:
${store}
`,
  );
  const { proc, banner } = await startCli(['--config', 'policy.yaml'], dir);
  let out = '';
  proc.stdout!.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const proxy = /explicit proxy\s+(\S+)/.exec(banner)![1];
  const caPem = fs.readFileSync(path.join(dataDir, 'ca', 'ca.crt'), 'utf8');
  const ui = /web UI +(http:\/\/\S+)\/ +\(log in with admin token (\S+);/.exec(banner)!;
  return {
    proc,
    ui: { base: ui[1], token: ui[2] },
    route: `http://${/route\s+(\S+) ->/.exec(banner)![1]}`,
    dispatcher: new ProxyAgent({ uri: `http://${proxy}`, requestTls: { ca: caPem } }),
    admin: `http://127.0.0.1:${adminPort}`,
    dbFile: path.join(dataDir, 'flows.sqlite'),
    log: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    async stop() {
      proc.kill('SIGTERM');
      return exited;
    },
  };
}

/** A request through the explicit proxy (CONNECT, TLS to airlock), with an optional upload. */
async function send(a: Running, n: number, upload = 0): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const r = await request(`https://${HOST}/echo?n=${n}`, {
    dispatcher: a.dispatcher,
    method: upload ? 'POST' : 'GET',
    // Random bytes: the store keeps each body (stored by content, a repeated body would take no room).
    ...(upload ? { body: crypto.randomBytes(upload), headers: { 'content-type': 'application/octet-stream' } } : {}),
  });
  return { status: r.statusCode, headers: r.headers, body: await r.body.text() };
}

async function health(a: Running): Promise<{ code: number; body: { status: string; store: { state: string; kind?: string; backlog: number; on_unavailable: string } } }> {
  const r = await request(`${a.admin}/healthz`);
  return { code: r.statusCode, body: (await r.body.json()) as never };
}

async function metric(a: Running, line: RegExp): Promise<number> {
  const text = await (await request(`${a.admin}/metrics`)).body.text();
  const m = line.exec(text);
  return m ? Number(m[1]) : NaN;
}

async function until<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The ids (?n=) of the flows of HOST in the store, by decision. */
function stored(dbFile: string): { allow: number[]; other: number } {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT query, decision FROM flows WHERE host = ? ORDER BY id').all(HOST) as { query: string; decision: string }[];
    return {
      allow: rows.filter((r) => r.decision === 'allow').map((r) => Number(/n=(\d+)/.exec(r.query)![1])),
      other: rows.filter((r) => r.decision !== 'allow').length,
    };
  } finally {
    db.close();
  }
}

/** Waits until the store holds `n` allowed flows (so what follows does not race their write). */
async function committed(a: Running, n: number): Promise<void> {
  await until(`${n} flows committed`, () => fs.existsSync(a.dbFile) && stored(a.dbFile).allow.length === n);
}

async function verify(dbFile: string): Promise<string> {
  const r = await run(process.execPath, [BIN, 'flows', 'verify', '--db', dbFile]);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return r.stdout;
}

const seenAt = (n: number) => up.seen.filter((s) => s.url === `/echo?n=${n}`).length;

describe('store.on_unavailable: refuse (the default)', () => {
  it('a full disk: the next request gets the 503 JSON and never reaches the upstream; once space is freed, requests are served and recorded again', async () => {
    const small = mountTmpfs(24 * MiB);
    // min_free 0: the store fills for real, and SQLite's own "database or disk is full" is what airlock meets.
    const a = await startAirlock(path.join(small.dir, 'data'), '  min_free: 0');
    expect((await send(a, 1)).status).toBe(200);
    expect((await health(a)).body).toMatchObject({ status: 'ok', store: { state: 'ok', on_unavailable: 'refuse' } });
    await committed(a, 1);

    small.fill(256 * 1024);
    // Served before airlock could know: its 1 MiB body does not fit, so its flow waits in the backlog.
    expect((await send(a, 2, MiB)).status).toBe(200);
    const h = await until('healthz says unavailable', async () => {
      const r = await health(a);
      return r.code === 503 && r.body;
    });
    expect(h).toMatchObject({ status: 'unavailable', store: { state: 'unavailable', kind: 'full', backlog: 1, on_unavailable: 'refuse' } });

    const seen = up.seen.length;
    const r = await send(a, 3);
    expect(r.status).toBe(503);
    expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(r.headers['x-airlock-decision']).toBe('audit_store_unavailable');
    const body = JSON.parse(r.body);
    expect(body).toMatchObject({ error: 'audit_store_unavailable', host: HOST });
    expect(body.reason).toMatch(/cannot record requests right now \(the disk of airlock's flow store is full\)/);
    expect(body.hint).toMatch(/Retry-After/);
    // Uploads too: refused before a byte is forwarded.
    expect((await send(a, 4, 64 * 1024)).status).toBe(503);
    // A base-URL route and a WebSocket upgrade get the same answer.
    const routed = await request(`${a.route}/echo?n=6`, { method: 'POST', body: 'x'.repeat(1000) });
    expect(routed.statusCode).toBe(503);
    expect(routed.headers['retry-after']).toBeDefined();
    expect(JSON.parse(await routed.body.text())).toMatchObject({ error: 'audit_store_unavailable', host: HOST });
    const ws = await new Promise<{ status?: number; body: string }>((resolve, reject) => {
      const socket = new WebSocket(`${a.route!.replace('http:', 'ws:')}/ws?n=7`);
      socket.on('open', () => reject(new Error('the WebSocket opened')));
      socket.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      });
      socket.on('error', () => {});
    });
    expect(ws.status).toBe(503);
    expect(JSON.parse(ws.body)).toMatchObject({ error: 'audit_store_unavailable' });
    expect(up.seen.length).toBe(seen);
    expect(seenAt(3) + seenAt(4)).toBe(0);
    expect(await metric(a, /^airlock_store_unavailable (\d+)/m)).toBe(1);
    expect(await metric(a, /^airlock_flows_total\{decision="refuse",entry="route",code="audit_store_unavailable"\} (\d+)/m)).toBe(2);
    expect(await metric(a, /^airlock_store_write_failures_total\{kind="full"\} (\d+)/m)).toBeGreaterThanOrEqual(1);
    expect(await metric(a, /^airlock_flows_total\{decision="refuse",entry="explicit",code="audit_store_unavailable"\} (\d+)/m)).toBe(2);
    const ui = await uiLogin(a.ui!.base, a.ui!.token);
    const page = (await uiGet(ui, '/flows')).text;
    // The reason is the latest word on it: SQLite's error, or the probe's "no space left".
    expect(page).toMatch(/<div class="note bad store-banner" role="alert"><strong>The flow store cannot write<\/strong> \(full: (database or disk is full|no space left on the store&#39;s file system)\) since <time/);
    expect(page).toContain('airlock refuses new requests (503) until it can record them. 1 flow wait in memory to be written; 0 dropped since start.');

    small.unfill();
    // Recovery is found by probing, with no request needed.
    await until('healthz ok again', async () => (await health(a)).code === 200);
    expect((await health(a)).body).toMatchObject({ status: 'ok', store: { state: 'ok', backlog: 0 } });
    expect((await send(a, 5)).status).toBe(200);
    expect(seenAt(5)).toBe(1);
    expect((await uiGet(ui, '/flows')).text).not.toContain('store-banner');

    const lines = a.log().filter((l) => String(l.msg).startsWith('flow store'));
    expect(lines.map((l) => l.msg)).toEqual([
      'flow store cannot write: refusing new requests (503) until it can',
      'flow store writes again: requests are served again',
    ]);
    expect(lines[0]).toMatchObject({ level: 'error', kind: 'full', on_unavailable: 'refuse' });
    expect(lines[1]).toMatchObject({ level: 'info', backlog_written: 1, dropped: 0 });

    expect(await a.stop()).toBe(0);
    // Every request served is in the store, the one from the backlog included; the refused ones are not.
    expect(stored(a.dbFile)).toEqual({ allow: [1, 2, 5], other: 0 });
    expect(await verify(a.dbFile)).toContain('ok: 3 flows verified');
  });

  it('free space at the floor (store.min_free) counts as full: seen without traffic, and left without traffic', async () => {
    const small = mountTmpfs(24 * MiB);
    // The default floor: 1 GiB or 5 % of the file system, whichever is smaller (here 1.2 MiB).
    const a = await startAirlock(path.join(small.dir, 'data'), '  body_cap_bytes: 1024');
    expect((await send(a, 1)).status).toBe(200);
    expect(await metric(a, /^airlock_store_free_floor_bytes (\d+)/m)).toBe(Math.floor(24 * MiB * 0.05));
    await committed(a, 1);
    small.fill(512 * 1024);
    const h = await until('healthz says unavailable', async () => {
      const r = await health(a);
      return r.code === 503 && r.body;
    });
    expect(h.store).toMatchObject({ state: 'unavailable', kind: 'full' });
    expect((h.store as unknown as { reason: string }).reason).toMatch(/at or below the floor of 1\.2 MiB \(store\.min_free\)/);
    expect((await send(a, 2)).status).toBe(503);
    // No write was attempted: the floor is a check, not a failure.
    expect(await metric(a, /^airlock_store_write_failures_total\{kind="full"\} (\d+)/m)).toBe(0);
    small.unfill();
    await until('healthz ok again', async () => (await health(a)).code === 200);
    expect((await send(a, 3)).status).toBe(200);
    expect(await a.stop()).toBe(0);
    expect(stored(a.dbFile)).toEqual({ allow: [1, 3], other: 0 });
  });
});

describe('store.on_unavailable: serve', () => {
  it('traffic goes on unrecorded, said by /healthz, /metrics and one log line; every flow held back is written once space returns', async () => {
    const small = mountTmpfs(24 * MiB);
    const a = await startAirlock(path.join(small.dir, 'data'), '  on_unavailable: serve\n  min_free: 0');
    expect((await send(a, 0)).status).toBe(200);
    await committed(a, 1);
    small.fill(128 * 1024);
    // The first of them meets the full disk (SQLite's own error); the rest are held back without trying.
    const statuses: number[] = [];
    for (let n = 1; n <= 30; n++) statuses.push((await send(a, n, n === 1 ? MiB : 4096)).status);
    expect(statuses.every((s) => s === 200)).toBe(true);
    for (let n = 1; n <= 30; n++) expect(seenAt(n)).toBe(1);

    const h = await until('healthz reports the store', async () => {
      const r = await health(a);
      return r.body.store.state === 'unavailable' && r.body.store.backlog === 30 && r;
    });
    // Serving, so healthy enough for a load balancer, but not "ok".
    expect(h.code).toBe(200);
    expect(h.body).toMatchObject({ status: 'degraded', store: { state: 'unavailable', kind: 'full', on_unavailable: 'serve', backlog: 30 } });
    expect(await metric(a, /^airlock_store_unavailable (\d+)/m)).toBe(1);
    expect(await metric(a, /^airlock_store_backlog_flows (\d+)/m)).toBe(30);
    expect(await metric(a, /^airlock_store_write_failures_total\{kind="full"\} (\d+)/m)).toBeGreaterThanOrEqual(1);
    const loud = a.log().filter((l) => String(l.msg).startsWith('flow store'));
    // One line for the change, not one per flow.
    expect(loud).toHaveLength(1);
    expect(loud[0]).toMatchObject({ level: 'error', msg: 'flow store cannot write: SERVING REQUESTS UNRECORDED (store.on_unavailable: serve)', kind: 'full' });
    expect(String(loud[0].error)).toMatch(/database or disk is full/);
    const ui = await uiLogin(a.ui!.base, a.ui!.token);
    expect((await uiGet(ui, '/stats')).text).toContain('airlock is serving requests UNRECORDED (store.on_unavailable: serve). 30 flows wait in memory to be written');

    small.unfill();
    await until('the backlog is written', async () => (await health(a)).body.store.state === 'ok');
    expect(await metric(a, /^airlock_store_unavailable (\d+)/m)).toBe(0);
    expect(await metric(a, /^airlock_store_dropped_flows_total\{cause="backlog_full"\} (\d+)/m)).toBe(0);
    expect(a.log().filter((l) => String(l.msg).startsWith('flow store')).at(-1)).toMatchObject({
      msg: 'flow store writes again: requests are recorded again',
      backlog_written: 30,
      dropped: 0,
    });
    expect(await a.stop()).toBe(0);
    const s = stored(a.dbFile);
    // Requests served == flows stored: none of the 30 lost, in the order they were recorded.
    expect(s).toEqual({ allow: Array.from({ length: 31 }, (_, i) => i), other: 0 });
    expect(await verify(a.dbFile)).toContain('ok: 31 flows verified');
  });
});

describe('other write errors take the same path', () => {
  it('the store file deleted under airlock: noticed, closed (its space freed), and a new store started at its path', async () => {
    const small = mountTmpfs(24 * MiB);
    const a = await startAirlock(path.join(small.dir, 'data'), '  min_free: 0');
    for (let n = 1; n <= 3; n++) expect((await send(a, n, 2 * MiB)).status).toBe(200);
    await committed(a, 3);
    // The web UI has a connection of its own to the file.
    const ui = await uiLogin(a.ui!.base, a.ui!.token);
    expect((await uiGet(ui, '/flows')).text).toContain('/echo?n=3');
    const before = small.free();
    fs.rmSync(a.dbFile);
    await until('the state change is logged', () => a.log().some((l) => l.msg === 'flow store file was deleted or replaced: writing to a new store at its path (its hash chain starts anew)'));
    await until('healthz ok', async () => (await health(a)).code === 200);
    // airlock let go of the deleted file, so its space came back (3 MiB of bodies: body_cap_bytes keeps 1 MiB of each).
    expect(small.free() - before).toBeGreaterThan(2.5 * MiB);
    expect(a.log().find((l) => String(l.msg).startsWith('flow store cannot write'))).toMatchObject({ kind: 'deleted' });
    expect((await send(a, 4)).status).toBe(200);
    await committed(a, 1);
    // The UI reads the new store, not the deleted file.
    const page = (await uiGet(ui, '/flows')).text;
    expect(page).toContain('/echo?n=4');
    expect(page).not.toContain('/echo?n=3');
    expect(await a.stop()).toBe(0);
    expect(stored(a.dbFile)).toEqual({ allow: [4], other: 0 });
    expect(await verify(a.dbFile)).toContain('ok: 1 flows verified');
  });

  it('I/O errors from the device (a thin volume out of space): the write fails, the next request gets 503, the count of lost flows is logged at stop', async () => {
    // ext4 believes it has 128 MiB; the device under it can hold 24 MiB.
    const ext4 = mountExt4(128 * MiB, 24 * MiB);
    const a = await startAirlock(path.join(ext4.dir, 'data'), '  min_free: 0');
    let served = 0;
    for (let n = 1; n <= 100 && (await health(a)).code === 200; n++) {
      const r = await send(a, n, MiB);
      if (r.status === 200) served++;
      await new Promise((r) => setTimeout(r, 30));
    }
    const h = await until('healthz says unavailable', async () => {
      const r = await health(a);
      return r.code === 503 && r.body;
    });
    // What airlock meets first depends on the moment: SQLite's "disk I/O error", ext4 turned
    // read-only after aborting its journal, or statfs reporting no space left once it has.
    expect(['io', 'readonly', 'full']).toContain(h.store.kind);
    expect(a.log().filter((l) => String(l.msg).startsWith('flow store cannot write')).length).toBeGreaterThanOrEqual(1);
    const seen = up.seen.length;
    const r = await send(a, 1000);
    expect(r.status).toBe(503);
    expect(up.seen.length).toBe(seen);
    expect(served).toBeGreaterThan(0);
    expect(await a.stop()).toBe(0);
    // Nothing can be written there any more: what the backlog held is counted, not silently gone.
    expect(a.log().at(-1)).toMatchObject({ level: 'error', msg: 'flows in the backlog could not be written before stopping: lost' });
    expect(Number(a.log().at(-1)!.flows)).toBeGreaterThan(0);
  });

  it('a file system an I/O error turned read-only (ext4 errors=remount-ro): refused with 503, seen without traffic', async () => {
    const ext4 = mountExt4(32 * MiB);
    const a = await startAirlock(path.join(ext4.dir, 'data'), '  min_free: 0');
    expect((await send(a, 1)).status).toBe(200);
    await committed(a, 1);
    ext4.fail();
    const h = await until('healthz says unavailable', async () => {
      const r = await health(a);
      return r.code === 503 && r.body;
    });
    expect(h.store).toMatchObject({ state: 'unavailable', kind: 'readonly' });
    const seen = up.seen.length;
    const r = await send(a, 2);
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body).reason).toMatch(/the flow store's file system is read-only/);
    expect(up.seen.length).toBe(seen);
    expect(await a.stop()).toBe(0);
  });
});

/** 1 MiB response bodies (kept whole: body_cap_bytes is 1 MiB) until `total` requests are done; healthz and free space sampled throughout. */
async function fillThrough(a: Running, small: { free(): number }, total: number) {
  const statuses = new Map<number, number>();
  const health: string[] = [];
  let minFree = Infinity;
  const sample = setInterval(() => {
    minFree = Math.min(minFree, small.free());
    request(`${a.admin}/healthz`)
      .then((r) => r.body.json() as Promise<{ status: string }>)
      .then((b) => health.push(b.status), () => {});
  }, 50);
  try {
    for (let i = 0; i < total; i++) {
      const r = await request(`https://${HOST}/random?n=${MiB}`, { dispatcher: a.dispatcher });
      await r.body.dump({ limit: 2 * MiB });
      statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
      minFree = Math.min(minFree, small.free());
    }
  } finally {
    clearInterval(sample);
  }
  return { statuses: Object.fromEntries(statuses), health: [...new Set(health)], minFree };
}

function usedBytes(dbFile: string): { used: number; flows: number; maxId: number } {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    const p = (n: string) => db.pragma(n, { simple: true }) as number;
    const r = db.prepare('SELECT count(*) AS flows, max(id) AS maxId FROM flows').get() as { flows: number; maxId: number };
    return { used: (p('page_count') - p('freelist_count')) * p('page_size'), ...r };
  } finally {
    db.close();
  }
}

describe('a bounded default', () => {
  it('a new data dir gets max_bytes of half its free space, and a store filling under that policy stays under the cap, never full', async () => {
    const small = mountTmpfs(64 * MiB);
    const cwd = small.dir;
    const freeAtStart = small.free();
    // The first start without --config writes .airlock/policy.yaml before it binds 127.0.0.1:8080
    // (which may be taken on a shared machine).
    const first = await startCli([], cwd).catch((e: Error) => {
      expect(e.message).toMatch(/EADDRINUSE/);
      return undefined;
    });
    if (first) {
      const gone = new Promise((r) => first.proc.once('exit', r));
      first.proc.kill('SIGTERM');
      await gone;
    }
    const written = fs.readFileSync(path.join(cwd, '.airlock', 'policy.yaml'), 'utf8');
    const m = /^ {4}max_bytes: (\d+)MiB {3}# 50% of the (\d+)MiB free at first start \(\d{4}-\d\d-\d\d\)$/m.exec(written);
    expect(m, written).not.toBeNull();
    const cap = Number(m![1]) * MiB;
    expect(Number(m![2])).toBe(Math.floor(freeAtStart / MiB));
    expect(cap).toBe(Math.floor(freeAtStart / 2 / MiB) * MiB);

    // The generated policy, pointed at the test upstream; its store section stays as written.
    const adminPort = await freePort();
    fs.writeFileSync(
      path.join(cwd, '.airlock', 'policy.yaml'),
      written
        .replace('proxy: 127.0.0.1:8080', `proxy: 127.0.0.1:0\n  admin: 127.0.0.1:${adminPort}`)
        .replace('ui: 127.0.0.1:8090', 'ui: 127.0.0.1:0')
        .replace('hosts: []', `hosts:\n  - match: ${HOST}\nupstream:\n  ca_files: [${caFile}]\n  resolve: { ${HOST}: ${ip} }\nlog: { flows: false }`),
    );
    const { proc, banner } = await startCli(['--config', '.airlock/policy.yaml'], cwd);
    const a: Running = {
      proc,
      dispatcher: new ProxyAgent({ uri: `http://${/explicit proxy\s+(\S+)/.exec(banner)![1]}`, requestTls: { ca: fs.readFileSync(path.join(cwd, '.airlock', 'ca', 'ca.crt'), 'utf8') } }),
      admin: `http://127.0.0.1:${adminPort}`,
      dbFile: path.join(cwd, '.airlock', 'flows.sqlite'),
      log: () => [],
      stop: async () => {
        const gone = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
        proc.kill('SIGTERM');
        return gone;
      },
    };
    // 120 MiB of bodies through a 64 MiB file system.
    const r = await fillThrough(a, small, 120);
    expect(r.statuses).toEqual({ 200: 120 });
    expect(r.health).toEqual(['ok']);
    const floor = await metric(a, /^airlock_store_free_floor_bytes (\d+)/m);
    expect(r.minFree).toBeGreaterThan(floor);
    expect(await metric(a, /^airlock_store_write_failures_total\{kind="full"\} (\d+)/m)).toBe(0);
    expect(await metric(a, /^airlock_store_dropped_flows_total\{cause="backlog_full"\} (\d+)/m)).toBe(0);
    await until('retention caught up', () => usedBytes(a.dbFile).used <= cap);
    expect(await a.stop()).toBe(0);
    const u = usedBytes(a.dbFile);
    // Every flow was written (ids count them); the oldest went to keep the store under the cap.
    expect(u.maxId).toBe(120);
    expect(u.flows).toBeLessThan(40);
    expect(await verify(a.dbFile)).toMatch(/note: the chain starts at flow \d+/);
  });

  it('with max_bytes above what the disk holds, retention frees space before free space reaches the floor', async () => {
    const small = mountTmpfs(64 * MiB);
    const a = await startAirlock(path.join(small.dir, 'data'), '  retention: { max_bytes: 1GiB }');
    const r = await fillThrough(a, small, 100);
    expect(r.statuses).toEqual({ 200: 100 });
    expect(r.health).toEqual(['ok']);
    const floor = await metric(a, /^airlock_store_free_floor_bytes (\d+)/m);
    expect(r.minFree).toBeGreaterThan(floor);
    expect(await metric(a, /^airlock_store_write_failures_total\{kind="full"\} (\d+)/m)).toBe(0);
    expect(await a.stop()).toBe(0);
    const u = usedBytes(a.dbFile);
    expect(u.maxId).toBe(100);
    expect(u.flows).toBeLessThan(100);
    await verify(a.dbFile);
  });
});

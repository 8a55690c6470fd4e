// The PostgreSQL store's writer thread. It speaks the writer protocol of writer-worker.cjs (a
// batch in; "written" once it is durable, or the batch handed back when it cannot be kept), so
// writer-thread.ts drives both stores alike. Batches are written to PostgreSQL one transaction
// each (batch.cjs), in order. When PostgreSQL is down, refuses, or is slow (a write in progress
// for over SLOW_MS, or too much waiting behind it), batches go to the local spool (spool.cjs)
// instead, and are acknowledged once there; from then on every batch goes behind them, and a
// replay loop writes the spool back, oldest first, as soon as PostgreSQL takes writes again, so
// the chain continues in order. A batch leaves out the flows PostgreSQL already holds (a commit
// whose answer was lost, a slow write that was spooled too): each flow is written once. Only when
// the spool cannot take a batch (full, or its disk failing) is a batch handed back: the store is
// then unavailable, and store.on_unavailable decides (availability.ts).
// Plain CommonJS so it runs from source and bundle alike.
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const { classify, createSpaceCheck } = require('../space.cjs');
const { createPool, batchFault, describe } = require('./connect.cjs');
const { createPgBatchWriter } = require('./batch.cjs');
const { createPgRetention } = require('./retention.cjs');
const { createPgCounters } = require('./counters.cjs');
const { migrate } = require('./schema.cjs');
const { createSpool } = require('./spool.cjs');

const EMPTY = Buffer.alloc(0);
const CHECK_MS = workerData.checkIntervalMs;
/**
 * A write in progress this long means PostgreSQL is slow (not merely busy: instances take turns
 * under the write lock, and a GIN index flushes its pending list now and then): it and what waits
 * behind it are spooled.
 */
const SLOW_MS = workerData.slowMs ?? 5000;
/** Flows (or body bytes) waiting behind a write in progress before they are spooled. */
const MAX_WAITING_FLOWS = 5000;
const MAX_WAITING_BYTES = 32 * 1024 * 1024;
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 5000;
/** While PostgreSQL stays unreachable, a reminder line this often. */
const REMIND_MS = 60_000;

const instance = workerData.instance;
const schema = workerData.schema;
const spoolMax = workerData.spool.maxBytes;
const pool = createPool({
  url: workerData.url,
  schema,
  max: 2,
  name: `airlock writer ${instance}`.slice(0, 63),
  connectTimeoutMs: workerData.connectTimeoutMs ?? 5000,
  statementTimeoutMs: workerData.statementTimeoutMs ?? 30_000,
  onError: () => {},
});
// Budget counters on a connection of their own: a claim never waits behind a batch being written.
const counterPool = createPool({
  url: workerData.url,
  schema,
  max: 1,
  name: `airlock budgets ${instance}`.slice(0, 63),
  connectTimeoutMs: 2000,
  statementTimeoutMs: 10_000,
  onError: () => {},
});
const counters = createPgCounters(counterPool);
const write = createPgBatchWriter({ schema, instance, columns: workerData.columns, hashed: workerData.hashed });
const spool = createSpool(Database, workerData.spool.path);
const space = createSpaceCheck(workerData.spool.path, workerData.minFree);
const retention = workerData.retention ? createPgRetention(pool, schema, workerData.retention) : null;

/** Batches received and not yet durable, in order: { msg, at }. */
const waiting = [];
let waitingFlows = 0;
let waitingBytes = 0;
/**
 * The write to PostgreSQL in progress: since when, and the batch (a batch from `waiting`; none
 * while the spool is replayed: that batch is in the spool already). `spooled`: it was slow to
 * answer, so a copy went to the spool and it was acknowledged; whatever the write does now, the
 * replay stores each of its flows once (batch.cjs leaves out flows already written).
 */
let current = null;
let pumping = false;
let closed = false;
let ready = false;
let retryTimer;
let retryDelay = RETRY_FIRST_MS;
/** PostgreSQL as last seen: up (true), unreachable (false), or not tried yet (null). */
const pg = { up: null, since: Date.now(), error: null, replayed: 0, spooled: 0, lastLine: 0 };
let spoolFull = null;
/** The size of the batch the spool last refused: it is available again once that fits. */
let spoolNeed = 0;

function event(level, msg, fields) {
  parentPort.postMessage({ event: { level, msg, fields } });
}

function state() {
  return {
    up: pg.up,
    since: pg.since,
    error: pg.error,
    spool: { flows: spool.flows, bytes: spool.bytes, maxBytes: spoolMax, full: spoolFull !== null, path: workerData.spool.path },
    replayed: pg.replayed,
    spooled: pg.spooled,
  };
}

function report() {
  parentPort.postMessage({ pg: state() });
}

function markUp() {
  retryDelay = RETRY_FIRST_MS;
  if (pg.up === true) return;
  const was = pg.up;
  pg.up = true;
  pg.error = null;
  if (was === false) {
    event('info', 'PostgreSQL takes writes again', { down_s: Math.round((Date.now() - pg.since) / 100) / 10, spooled_flows: spool.flows });
  }
  pg.since = Date.now();
  report();
}

function markDown(err) {
  pg.error = describe(err);
  if (pg.up === false) {
    if (Date.now() - pg.lastLine >= REMIND_MS) {
      pg.lastLine = Date.now();
      event('error', 'PostgreSQL still unreachable: flows are spooled locally', { error: pg.error, since: new Date(pg.since).toISOString(), spooled_flows: spool.flows, spool_bytes: spool.bytes });
    }
    return;
  }
  pg.up = false;
  pg.since = Date.now();
  pg.lastLine = Date.now();
  event('error', 'PostgreSQL cannot take writes: flows are spooled locally and replayed in order once it can', {
    error: pg.error,
    spool: workerData.spool.path,
    spool_max_bytes: spoolMax,
  });
  report();
}

/** Migrations first (once per process; under an advisory lock, so once for instances starting together). */
async function ensureReady() {
  if (ready) return;
  const applied = await migrate(pool, schema, instance);
  ready = true;
  if (applied.length) event('info', 'PostgreSQL flow store schema migrated', { versions: applied, schema });
}

/** The batch is durable (in PostgreSQL or the spool); `rejected` of its flows PostgreSQL refused. */
function ack(msg, rejected = 0, rejectedError) {
  parentPort.postMessage({ written: msg.count - rejected, rejected, rejectedError, bytes: msg.bytes, retry: msg.retry });
}

/**
 * Hands a batch back (the spool cannot take it): `rest` (JSON, `restCount` flows) of it, when the
 * others were already written flow by flow (`rejected` of those refused).
 */
function giveBack(msg, problem, rest = msg.json, restCount = msg.count, rejected = 0, rejectedError) {
  const reply = {
    written: msg.count - restCount - rejected,
    rejected,
    rejectedError,
    failed: restCount,
    bytes: msg.bytes,
    problem,
    json: rest,
    blob: msg.blob,
    retry: msg.retry,
  };
  if (msg.blob) parentPort.postMessage(reply, [msg.blob]);
  else parentPort.postMessage(reply);
}

/** Whether the spool can take a batch of `size` bytes now; the problem if not. */
function spoolProblem(size) {
  const disk = spaceProblem();
  if (disk) return disk;
  if (spool.bytes + size > spoolMax) {
    return {
      kind: 'spool_full',
      message: `PostgreSQL cannot take writes (${pg.error ?? 'it is slow'}) and the local spool is full: ${spool.flows} flows, ${mib(spool.bytes)} of ${mib(spoolMax)} (store.postgres.spool.max_bytes)`,
    };
  }
  return null;
}

/** The spool's file system below store.min_free counts as full, as for the SQLite store. */
function spaceProblem() {
  try {
    const { free, floor } = space.space();
    if (free <= floor) return { kind: 'full', message: `${mib(free)} free on the spool's file system, at or below the floor of ${mib(floor)} (store.min_free)` };
  } catch (err) {
    return classify(err) || { kind: 'io', message: String(err && err.message) };
  }
  return null;
}

function mib(n) {
  return `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

/**
 * Keeps a batch in the spool and acknowledges it; hands it back when the spool cannot take it.
 * `part`: only this much of it is left to keep (the rest was written flow by flow, `rejected` of
 * those refused); `front`: it goes before everything spooled (it was being written when
 * PostgreSQL failed).
 */
function toSpool(msg, front = false, part = { json: msg.json, count: msg.count, rejected: 0, rejectedError: undefined }) {
  const blob = msg.blob ? Buffer.from(msg.blob) : null;
  const size = spool.sizeOf(part.json, blob);
  const problem = spoolProblem(size);
  if (problem) {
    spoolNeed = size;
    return refuse(msg, problem, part);
  }
  try {
    spool.add(part.json, blob, part.count, front);
  } catch (err) {
    return refuse(msg, classify(err) || { kind: 'io', message: String(err && err.message) }, part);
  }
  pg.spooled += part.count;
  ack(msg, part.rejected, part.rejectedError);
}

function refuse(msg, problem, part) {
  if (!spoolFull) {
    spoolFull = problem;
    event('error', 'PostgreSQL spool cannot take more flows', { kind: problem.kind, error: problem.message, spool_flows: spool.flows, spool_bytes: spool.bytes });
    report();
  }
  giveBack(msg, problem, part.json, part.count, part.rejected, part.rejectedError);
}

/** Everything waiting goes to the spool (in order, behind what is there). */
function spoolWaiting() {
  while (waiting.length) {
    const { msg } = waiting.shift();
    waitingFlows -= msg.count;
    waitingBytes -= msg.bytes;
    toSpool(msg);
  }
}

function spooling() {
  return spool.flows > 0 || pg.up === false;
}

/** PostgreSQL is slow to answer the write in progress: it, and everything behind it, is kept in the spool. */
function slow() {
  if (!current || Date.now() - current.at <= SLOW_MS) return false;
  spoolCurrent();
  spoolWaiting();
  return true;
}

/** A copy of the batch being written goes first into the spool, and it is acknowledged now. */
function spoolCurrent() {
  if (!current || !current.msg || current.spooled) return;
  current.spooled = true;
  // A copy of its bytes: the write still reads them, and a batch handed back takes its buffer along.
  const msg = current.msg;
  toSpool({ ...msg, blob: msg.blob ? msg.blob.slice(0) : undefined }, true);
}

function onBatch(msg) {
  if (spooling() && !current) {
    spoolWaiting();
    toSpool(msg);
    return void schedulePump(0);
  }
  if (spooling() || slow()) {
    // Behind the spool, or behind a write PostgreSQL is slow to answer: keep order, keep serving.
    spoolWaiting();
    toSpool(msg);
    return;
  }
  waiting.push({ msg, at: Date.now() });
  waitingFlows += msg.count;
  waitingBytes += msg.bytes;
  if (current && (waitingFlows > MAX_WAITING_FLOWS || waitingBytes > MAX_WAITING_BYTES)) spoolWaiting();
  else void pump();
}

async function writeBatch(json, blob) {
  const { rows, bodies } = JSON.parse(json);
  const client = await pool.connect();
  let broken = true;
  try {
    const n = await write(client, rows, bodies, blob);
    broken = false;
    return n;
  } catch (err) {
    // A refused batch leaves a sound connection; any other failure may not.
    broken = batchFault(err) === null;
    throw err;
  } finally {
    client.release(broken);
  }
}

/** A batch PostgreSQL refused for a reason of its own: each flow alone, so one bad flow costs only itself. */
async function writeOneByOne(json, blob) {
  const { rows, bodies } = JSON.parse(json);
  let written = 0;
  let rejected = 0;
  let rejectedError;
  for (let i = 0; i < rows.length; i++) {
    const mine = bodies.filter((b) => b[0] === i).map((b) => [0, ...b.slice(1)]);
    try {
      written += await writeBatch(JSON.stringify({ rows: [rows[i]], bodies: mine }), blob);
    } catch (err) {
      if (batchFault(err) === null) {
        const rest = { rows: rows.slice(i), bodies: bodies.filter((b) => b[0] >= i).map((b) => [b[0] - i, ...b.slice(1)]) };
        return { written, rejected, rejectedError, rest: JSON.stringify(rest), error: err };
      }
      rejected++;
      rejectedError = describe(err);
    }
  }
  return { written, rejected, rejectedError };
}

/**
 * Writes `json` (+ blob). { ok: true } or, when PostgreSQL failed, { ok: false, rest, restCount }
 * (what is left to write); with `rejected` flows PostgreSQL refused for reasons of their own.
 */
async function writeWhole(json, blob) {
  try {
    await ensureReady();
    await writeBatch(json, blob);
    markUp();
    return { ok: true, rejected: 0 };
  } catch (err) {
    if (batchFault(err) === null) {
      markDown(err);
      return { ok: false, rest: json, restCount: JSON.parse(json).rows.length, rejected: 0 };
    }
    const r = await writeOneByOne(json, blob);
    if (r.rest) {
      markDown(r.error);
      return { ok: false, rest: r.rest, restCount: JSON.parse(r.rest).rows.length, rejected: r.rejected, rejectedError: r.rejectedError };
    }
    markUp();
    return { ok: true, rejected: r.rejected, rejectedError: r.rejectedError };
  }
}

/** The spool's oldest batch to PostgreSQL. False when PostgreSQL failed (retry later). */
async function replayOne() {
  const b = spool.first();
  if (!b) return true;
  const r = await writeWhole(b.json, b.blob ?? EMPTY);
  // Stopping meanwhile: the spool is closed; the batch stays in it (written again at the next start, each flow once).
  if (closed) return false;
  if (r.rejected) parentPort.postMessage({ dropped: r.rejected, error: r.rejectedError });
  if (!r.ok) {
    // Part of it may have been written flow by flow before PostgreSQL failed: only the rest stays.
    if (r.rest !== b.json) spool.replace(b, r.rest, r.restCount);
    return false;
  }
  spool.remove(b.seq, b.count, b.bytes);
  pg.replayed += b.count;
  if (spool.flows === 0) {
    event('info', 'PostgreSQL spool replayed: every spooled flow is in PostgreSQL', { replayed_flows: pg.replayed });
    report();
  }
  return true;
}

function schedulePump(ms) {
  if (closed || retryTimer) return;
  retryTimer = setTimeout(() => {
    retryTimer = undefined;
    void pump();
  }, ms);
}

async function pump() {
  if (pumping || closed) return;
  pumping = true;
  try {
    while (!closed) {
      if (spool.flows > 0) {
        spoolWaiting();
        const t0 = Date.now();
        current = { at: t0 };
        const ok = await replayOne();
        current = null;
        if (!ok) {
          schedulePump(retryDelay);
          retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
          return;
        }
        continue;
      }
      if (!waiting.length) {
        if (pg.up === false) {
          // Nothing to replay, nothing waiting, but PostgreSQL was last seen down: look again.
          try {
            await ensureReady();
            await pool.query('SELECT 1');
            markUp();
          } catch (err) {
            markDown(err);
            schedulePump(retryDelay);
            retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
          }
        }
        return;
      }
      const item = waiting.shift();
      waitingFlows -= item.msg.count;
      waitingBytes -= item.msg.bytes;
      const mine = { at: Date.now(), msg: item.msg, spooled: false };
      current = mine;
      const blob = item.msg.blob ? Buffer.from(item.msg.blob) : EMPTY;
      const r = await writeWhole(item.msg.json, blob);
      current = null;
      // Spooled (and acknowledged) while PostgreSQL was slow: the replay writes what this write did not.
      if (mine.spooled) continue;
      if (closed) return;
      if (r.ok) {
        ack(item.msg, r.rejected, r.rejectedError);
        continue;
      }
      // PostgreSQL failed: this batch (what is left of it) goes first into the spool, then everything behind it.
      toSpool(item.msg, true, { json: r.rest, count: r.restCount, rejected: r.rejected, rejectedError: r.rejectedError });
      spoolWaiting();
    }
  } finally {
    pumping = false;
    current = null;
  }
}

/** A write PostgreSQL has not answered for SLOW_MS is spooled, with what waits behind it. */
function tick() {
  slow();
  const problem = spoolFull && spoolProblem(spoolNeed) ? spoolFull : null;
  if (spoolFull && !problem) {
    spoolFull = null;
    report();
  }
  parentPort.postMessage({ health: problem, space: space.last(), pg: state() });
}

/** Resolves once nothing waits for PostgreSQL (the spool replayed too), or PostgreSQL cannot take writes (then the spool keeps it). */
async function drained() {
  while (!closed && pg.up !== false && (spool.flows > 0 || waiting.length > 0 || current !== null)) await new Promise((r) => setTimeout(r, 25));
}

/** Counter windows older than this are deleted (a day's window is the longest). */
const COUNTERS_KEPT_MS = 2 * 86_400_000;
let counterReads = 0;

/**
 * Budget counters (counters.cjs): a claim or a read is answered, `ok: false` while PostgreSQL
 * cannot be used (the proxy then counts on its own, as with a SQLite store that cannot write);
 * an addition is not answered, and one PostgreSQL could not take is lost (logged).
 */
function budget(msg) {
  const b = msg.budget;
  const answer = (reply) => msg.seq !== undefined && !closed && parentPort.postMessage({ seq: msg.seq, budget: reply });
  if (pg.up === false) return answer({ ok: false });
  const failed = (err) => {
    answer({ ok: false });
    if (b.add) event('warn', 'budget counters could not be added to PostgreSQL', { error: describe(err) });
  };
  // The schema first (at start the migration may still be running).
  const run = () => {
    if (b.claim) return counters.claim(b.claim, b.want, b.max).then((granted) => answer({ ok: true, granted }));
    if (b.add) return counters.add(b.add);
    if (counterReads++ % 600 === 0) void counters.prune(Date.now() - COUNTERS_KEPT_MS).catch(() => {});
    return counters.read(b.read).then((rows) => answer({ ok: true, rows }));
  };
  void ensureReady().then(run).catch(failed);
}

async function retain() {
  if (!retention) return { deleted: 0, bytes: 0 };
  try {
    await ensureReady();
    return await retention.run(() => new Promise((r) => setImmediate(r)));
  } catch (err) {
    return { deleted: 0, bytes: 0, error: describe(err) };
  }
}

let retaining = null;
function runRetention(seq) {
  if (seq === undefined && retaining) return;
  const mine = (retaining ?? Promise.resolve()).then(retain);
  retaining = mine;
  mine.then((r) => {
    if (retaining === mine) retaining = null;
    if (!closed) parentPort.postMessage({ retained: r, seq });
  });
}

spool.openIfPresent();
if (spool.flows > 0) event('info', 'PostgreSQL spool from an earlier run found: replaying it first', { spool_flows: spool.flows, spool: workerData.spool.path });
parentPort.postMessage({ attached: true, problem: null, space: space.last(), pg: state() });
// Connect and migrate now: instances starting together migrate once, and readers find the schema.
ensureReady()
  .then(() => markUp())
  .catch((err) => markDown(err))
  .finally(() => void pump());

const checks = setInterval(tick, CHECK_MS);
const limits = workerData.retention;
const timer = limits ? setInterval(() => runRetention(undefined), limits.intervalMs) : undefined;
const first = limits ? setTimeout(() => runRetention(undefined), Math.min(1000, limits.intervalMs)) : undefined;

parentPort.on('message', (msg) => {
  if (msg.json) {
    try {
      onBatch(msg);
    } catch (err) {
      parentPort.postMessage({ written: 0, rejected: msg.count, rejectedError: String(err && err.message), bytes: msg.bytes, retry: msg.retry });
    }
  }
  if (msg.budget) budget(msg);
  if (msg.retain) runRetention(msg.seq);
  if (msg.drained) void drained().then(() => parentPort.postMessage({ drained: true, seq: msg.seq }));
  if (msg.probe) {
    // The store is unavailable only while the spool cannot take batches: it can again once there
    // is room for the batch it refused (room for nothing would let the next batch fail again).
    const problem = spoolProblem(spoolFull ? spoolNeed : 0);
    if (!problem && spoolFull) {
      spoolFull = null;
      report();
    }
    parentPort.postMessage({ probed: true, seq: msg.seq, problem, wrote: false, space: space.last() });
  }
  if (msg.close) {
    closed = true;
    clearInterval(checks);
    clearInterval(timer);
    clearTimeout(first);
    clearTimeout(retryTimer);
    // Nothing waits for PostgreSQL any more: a write in progress is spooled too (the next start
    // writes what it did not), and so is everything behind it; then the spool is closed, and the
    // thread ends (the proxy thread terminates it), whatever a hung connection does.
    spoolCurrent();
    spoolWaiting();
    spool.close();
    if (!pumping) void pool.end().catch(() => {});
    void counterPool.end().catch(() => {});
    parentPort.postMessage({ closed: true, seq: msg.seq });
  }
});

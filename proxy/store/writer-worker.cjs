// The flow writer's thread: SQLite inserts, hash chaining and WAL checkpoints (with their fsyncs)
// happen here, never on the thread that serves agents; so does retention (retention.cjs), on a
// timer, one small transaction at a time between insert batches. Plain CommonJS so it runs from
// source and bundle alike.
//
// A batch the store cannot take (disk full or below store.min_free, read-only, I/O error, the file
// deleted: space.cjs) is handed back whole, bytes included, so the proxy thread keeps it in its
// backlog and sends it again once a probe says the store can write (availability.ts). A batch that
// fails for a reason of its own is written flow by flow, and only the flows SQLite refuses are
// reported as rejected.
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const { createBatchWriter } = require('./batch.cjs');
const { createRetention, usedBytes } = require('./retention.cjs');
const { classify, createSpaceCheck } = require('./space.cjs');
const { createCounters } = require('./counters.cjs');

const EMPTY = Buffer.alloc(0);
/** How often the store's file and file system are looked at while nothing is written. */
const CHECK_MS = workerData.checkIntervalMs;

const limits = workerData.retention;
const space = createSpaceCheck(workerData.file, workerData.minFree);

/** The open store: null between a detach and the next attach (the file is being replaced). */
let store = null;
let closed = false;
/** The retention run in progress, if any. A timer tick during a run is skipped; an explicit request waits for it. */
let running = null;

function open() {
  const db = new Database(workerData.file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // Checkpoint every 4 MiB of WAL (with 16 KiB pages) and cut the WAL back after it, so the WAL
    // stays small next to the store (it would otherwise grow to 1,000 pages and stay that size).
    db.pragma('wal_autocheckpoint = 256');
    db.pragma(`journal_size_limit = ${8 * 1024 * 1024}`);
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    space.opened();
    const write = createBatchWriter(db, workerData.columns, workerData.hashed, true, workerData.instance ?? null);
    // Chunks may go with the flows retention deletes: the writer looks them up again after each step.
    return { db, write, retention: limits ? createRetention(db, limits, write.forget) : null, counters: createCounters(db) };
  } catch (err) {
    db.close();
    throw err;
  }
}

function attach() {
  try {
    store = open();
    return null;
  } catch (err) {
    store = null;
    return classify(err) || { kind: 'io', message: String(err && err.message) };
  }
}

function detach() {
  const s = store;
  store = null;
  if (!s) return;
  try {
    s.db.close();
  } catch {
    // the file is gone or failing: nothing more to save in it
  }
}

/** Between two retention steps, the insert batches already queued are written first. */
function pauseFor(s) {
  return () =>
    new Promise((resolve, reject) => setImmediate(() => (closed || store !== s ? reject(new Error('store closed')) : resolve())));
}

function retain(limitBytes) {
  const s = store;
  if (!s || !s.retention) return Promise.resolve({ deleted: 0, bytes: s ? usedBytes(s.db) : 0 });
  const mine = (running ?? Promise.resolve())
    .catch(() => {})
    .then(() => s.retention.run(pauseFor(s), limitBytes))
    .then((r) => {
      // Freed pages reach the file system when the WAL is checkpointed (incremental_vacuum truncates there).
      if (r.deleted > 0 && store === s) s.db.pragma('wal_checkpoint(PASSIVE)');
      return r;
    })
    .finally(() => {
      if (running === mine) running = null;
    });
  running = mine;
  return mine;
}

function report(seq, limitBytes) {
  if (seq === undefined && running) return; // a timer tick, or a growth check, while a run is under way
  retain(limitBytes).then(
    (r) => parentPort.postMessage({ retained: r, seq }),
    (err) => !closed && parentPort.postMessage({ retained: { deleted: 0, bytes: 0, error: String(err && err.message) }, seq }),
  );
}

/** Free space above the floor that retention keeps (with max_bytes set): room for a full WAL and a few batches. */
const HEADROOM_BYTES = 32 * 1024 * 1024;

/**
 * Retention between its timer ticks: when the store has grown past max_bytes, or free space has
 * fallen below the floor plus a headroom (the floor itself or 32 MiB, whichever is larger; then the
 * store shrinks by what is missing), so that space is freed before the floor is reached. Only with
 * max_bytes set: without it the operator asked to keep everything, and the store refuses (or
 * serves unrecorded) at the floor instead.
 */
function retainIfNeeded() {
  if (!store || !store.retention || store.retention.maxBytes === undefined) return;
  const used = usedBytes(store.db);
  const { free, floor } = space.last();
  const short = Number.isFinite(free) ? floor + Math.max(floor, HEADROOM_BYTES) - free : 0;
  if (short > 0) {
    // Free space runs short: make room now, before the next batch, not between batches (a run
    // that pauses for inserts falls behind a writer busy with large bodies).
    try {
      const r = store.retention.runNow(Math.max(0, used - short));
      if (r.deleted > 0) {
        store.db.pragma('wal_checkpoint(PASSIVE)');
        parentPort.postMessage({ retained: r });
      }
    } catch (err) {
      parentPort.postMessage({ retained: { deleted: 0, bytes: 0, error: String(err && err.message) } });
    }
  } else if (used > store.retention.maxBytes && !running) report(undefined);
}

/** Counter windows older than this are deleted (a day's window is the longest). */
const COUNTERS_KEPT_MS = 2 * 86_400_000;
let reads = 0;

/**
 * Budget counters (counters.cjs): a claim or a read is answered (`ok: false` when the store cannot
 * be used now: the proxy then counts on its own), an addition is not.
 */
function budget(msg) {
  const b = msg.budget;
  const answer = (reply) => msg.seq !== undefined && parentPort.postMessage({ seq: msg.seq, budget: reply });
  if (!store) return answer({ ok: false });
  try {
    if (b.claim) return answer({ ok: true, granted: store.counters.claim(b.claim, b.want, b.max) });
    if (b.add) return void store.counters.add(b.add);
    if (b.read !== undefined) {
      if (reads++ % 600 === 0) store.counters.prune(Date.now() - COUNTERS_KEPT_MS);
      return answer({ ok: true, rows: store.counters.read(b.read) });
    }
  } catch {
    answer({ ok: false });
  }
}

/** Hands a batch back to the proxy thread, its bytes transferred back with it. */
function giveBack(msg, json, count, problem, extra) {
  const reply = { failed: count, bytes: msg.bytes, problem, json, blob: msg.blob, retry: msg.retry, ...extra };
  if (msg.blob) parentPort.postMessage(reply, [msg.blob]);
  else parentPort.postMessage(reply);
}

function writeBatch(msg) {
  if (!store) return giveBack(msg, msg.json, msg.count, { kind: 'deleted', message: `the store file ${workerData.file} is being reopened` });
  const before = space.check();
  if (before) return giveBack(msg, msg.json, msg.count, before);
  const { rows, bodies } = JSON.parse(msg.json);
  const blob = msg.blob ? Buffer.from(msg.blob) : EMPTY;
  try {
    store.write(rows, bodies, blob);
  } catch (err) {
    const p = classify(err);
    if (p) return giveBack(msg, msg.json, msg.count, p);
    return writeOneByOne(msg, rows, bodies, blob);
  }
  // Written into a file someone deleted meanwhile: those flows would go with it. Send them again.
  if (!space.sameFile()) return giveBack(msg, msg.json, msg.count, { kind: 'deleted', message: `the store file ${workerData.file} was deleted or replaced` });
  parentPort.postMessage({ written: msg.count, bytes: msg.bytes, retry: msg.retry });
  retainIfNeeded();
}

/** A batch SQLite refused for a reason of its own: each flow alone, so one bad flow costs only itself. */
function writeOneByOne(msg, rows, bodies, blob) {
  let written = 0;
  let rejected = 0;
  let rejectedError;
  for (let i = 0; i < rows.length; i++) {
    const mine = bodies.filter((b) => b[0] === i).map((b) => [0, ...b.slice(1)]);
    try {
      store.write([rows[i]], mine, blob);
      written++;
    } catch (err) {
      const p = classify(err);
      if (p) {
        // The store itself failed part-way: the rest waits in the backlog like any failed batch.
        const rest = { rows: rows.slice(i), bodies: bodies.filter((b) => b[0] >= i).map((b) => [b[0] - i, ...b.slice(1)]) };
        return giveBack(msg, JSON.stringify(rest), rows.length - i, p, { written, rejected, rejectedError });
      }
      rejected++;
      rejectedError = String(err && err.message);
    }
  }
  parentPort.postMessage({ written, rejected, rejectedError, bytes: msg.bytes, retry: msg.retry });
}

function tick() {
  if (!store) return;
  const problem = space.check();
  parentPort.postMessage({ health: problem, space: space.last() });
  if (!problem) retainIfNeeded();
}

const attached = attach();
parentPort.postMessage({ attached: true, problem: attached, space: space.last() });

const timer = limits ? setInterval(() => report(undefined), limits.intervalMs) : undefined;
// The first run soon after start: a store that outgrew its limits while airlock was down shrinks now.
const first = limits ? setTimeout(() => report(undefined), Math.min(1000, limits.intervalMs)) : undefined;
const checks = setInterval(tick, CHECK_MS);
tick();

parentPort.on('message', (msg) => {
  if (msg.json) {
    try {
      writeBatch(msg);
    } catch (err) {
      // Not the store's fault and not SQLite's: a batch that cannot even be read. Counted, never retried.
      parentPort.postMessage({ written: 0, rejected: msg.count, rejectedError: String(err && err.message), bytes: msg.bytes, retry: msg.retry });
    }
  }
  if (msg.retain) report(msg.seq);
  if (msg.budget) budget(msg);
  if (msg.probe) {
    // A store that could not be opened (at start, or after a reopen) is tried again first.
    const notOpen = store ? null : attach();
    const r = notOpen ? { problem: notOpen, wrote: false } : space.probe();
    parentPort.postMessage({ probed: true, seq: msg.seq, problem: r.problem, wrote: r.wrote, space: space.last() });
  }
  if (msg.detach) {
    detach();
    parentPort.postMessage({ detached: true, seq: msg.seq });
  }
  if (msg.attach) {
    const problem = attach();
    parentPort.postMessage({ attached: true, seq: msg.seq, problem, space: space.last() });
  }
  if (msg.close) {
    closed = true;
    clearInterval(timer);
    clearInterval(checks);
    clearTimeout(first);
    detach();
    parentPort.postMessage({ closed: true, seq: msg.seq });
  }
});

// The flow writer's thread: SQLite inserts, hash chaining and WAL checkpoints (with their fsyncs)
// happen here, never on the thread that serves agents; so does retention (retention.cjs), on a
// timer, one small transaction at a time between insert batches. Plain CommonJS so it runs from
// source and bundle alike.
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const { createBatchWriter } = require('./batch.cjs');
const { createRetention, usedBytes } = require('./retention.cjs');

const db = new Database(workerData.file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('busy_timeout = 5000');
db.pragma('foreign_keys = ON');
const write = createBatchWriter(db, workerData.columns, workerData.hashed);
const EMPTY = Buffer.alloc(0);

const limits = workerData.retention;
const retention = limits ? createRetention(db, limits) : null;
let closed = false;
/** The run in progress, if any. A timer tick during a run is skipped; an explicit request waits for it. */
let running = null;
// Between two retention steps, the insert batches already queued are written first.
const pause = () =>
  new Promise((resolve, reject) => setImmediate(() => (closed ? reject(new Error('store closed')) : resolve())));

function retain() {
  if (!retention) return Promise.resolve({ deleted: 0, bytes: usedBytes(db) });
  const mine = (running ?? Promise.resolve())
    .catch(() => {})
    .then(() => retention.run(pause))
    .finally(() => {
      if (running === mine) running = null;
    });
  running = mine;
  return mine;
}

function report(seq) {
  if (seq === undefined && running) return; // a timer tick while a run is under way
  retain().then(
    (r) => parentPort.postMessage({ retained: r, seq }),
    (err) => !closed && parentPort.postMessage({ retained: { deleted: 0, bytes: 0, error: String(err && err.message) }, seq }),
  );
}

const timer = retention ? setInterval(() => report(undefined), limits.intervalMs) : undefined;
// The first run soon after start: a store that outgrew its limits while airlock was down shrinks now.
const first = retention ? setTimeout(() => report(undefined), Math.min(1000, limits.intervalMs)) : undefined;

parentPort.on('message', (msg) => {
  if (msg.json) {
    try {
      const { rows, bodies } = JSON.parse(msg.json);
      write(rows, bodies, msg.blob ? Buffer.from(msg.blob) : EMPTY);
      parentPort.postMessage({ written: msg.count, bytes: msg.bytes });
    } catch (err) {
      parentPort.postMessage({ failed: msg.count, bytes: msg.bytes, error: String(err && err.message) });
    }
  }
  if (msg.retain) report(msg.seq);
  if (msg.close) {
    closed = true;
    clearInterval(timer);
    clearTimeout(first);
    db.close();
    parentPort.postMessage({ closed: true });
  }
});

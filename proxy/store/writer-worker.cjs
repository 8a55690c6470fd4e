// The flow writer's thread: SQLite inserts, hash chaining and WAL checkpoints (with their fsyncs)
// happen here, never on the thread that serves agents. Plain CommonJS so it runs from source and
// bundle alike.
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const { createBatchWriter } = require('./batch.cjs');

const db = new Database(workerData.file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('busy_timeout = 5000');
db.pragma('foreign_keys = ON');
const write = createBatchWriter(db, workerData.columns, workerData.hashed);
const EMPTY = Buffer.alloc(0);

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
  if (msg.close) {
    db.close();
    parentPort.postMessage({ closed: true });
  }
});

// The flow writer's thread: SQLite inserts and WAL checkpoints (with their fsyncs) happen here,
// never on the thread that serves agents. Plain CommonJS so it runs from source and bundle alike.
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);

const db = new Database(workerData.file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('busy_timeout = 5000');
const insert = db.prepare(workerData.sql);
const write = db.transaction((rows) => {
  for (const row of rows) insert.run(row);
});

parentPort.on('message', (msg) => {
  if (msg.json) {
    try {
      write(JSON.parse(msg.json));
      parentPort.postMessage({ written: msg.count });
    } catch (err) {
      parentPort.postMessage({ failed: msg.count, error: String(err && err.message) });
    }
  }
  if (msg.close) {
    db.close();
    parentPort.postMessage({ closed: true });
  }
});

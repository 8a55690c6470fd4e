// The local spool of the PostgreSQL store: batches of flows PostgreSQL could not take (down,
// slow, refusing connections), kept in order in a SQLite file in the data dir until they are
// replayed, oldest first. A batch is kept as the writer thread got it (rows and body bytes), so
// the hash chain is computed once, when it reaches PostgreSQL, and simply continues. The file
// exists only while it holds something: emptied, it is removed. Bounded by store.postgres.spool.
// max_bytes: a full spool refuses batches (writer-worker.cjs reports the store unavailable).
// Plain CommonJS: runs on the writer thread.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

function createSpool(Database, file) {
  let db = null;
  let stmts = null;
  let flows = 0;
  let bytes = 0;

  function open() {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // What agents sent, like the store itself: owner-only (SQLite gives -wal/-shm the same mode).
    fs.closeSync(fs.openSync(file, 'a', 0o600));
    fs.chmodSync(file, 0o600);
    const d = new Database(file);
    try {
      d.pragma('journal_mode = WAL');
      d.pragma('synchronous = NORMAL');
      d.pragma('busy_timeout = 5000');
      d.exec('CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY, json TEXT NOT NULL, blob BLOB, count INTEGER NOT NULL, bytes INTEGER NOT NULL, spooled_at INTEGER NOT NULL)');
      stmts = {
        append: d.prepare('INSERT INTO spool (json, blob, count, bytes, spooled_at) VALUES (?, ?, ?, ?, ?)'),
        prepend: d.prepare('INSERT INTO spool (seq, json, blob, count, bytes, spooled_at) VALUES ((SELECT coalesce(min(seq), 1) - 1 FROM spool), ?, ?, ?, ?, ?)'),
        first: d.prepare('SELECT seq, json, blob, count, bytes FROM spool ORDER BY seq LIMIT 1'),
        remove: d.prepare('DELETE FROM spool WHERE seq = ?'),
        replace: d.prepare('UPDATE spool SET json = ?, count = ?, bytes = ? WHERE seq = ?'),
        totals: d.prepare('SELECT coalesce(sum(count), 0) AS flows, coalesce(sum(length(json) + coalesce(length(blob), 0)), 0) AS bytes FROM spool'),
      };
      const t = stmts.totals.get();
      flows = t.flows;
      bytes = t.bytes;
    } catch (err) {
      d.close();
      throw err;
    }
    db = d;
  }

  function close() {
    if (!db) return;
    try {
      db.close();
    } catch {
      // nothing more to save in it
    }
    db = null;
    stmts = null;
  }

  /** Size of a batch as the spool counts it (the bound is on these bytes). */
  const sizeOf = (json, blob) => Buffer.byteLength(json) + (blob ? blob.length : 0);

  return {
    get flows() {
      return flows;
    },
    get bytes() {
      return bytes;
    },
    sizeOf,
    /** A spool left by an earlier run (airlock stopped while PostgreSQL was down) is picked up. */
    openIfPresent() {
      if (!db && fs.existsSync(file)) open();
      return flows;
    },
    /** Adds a batch at the end (`front`: before everything, for a batch that was being written when PostgreSQL failed). Throws when the disk does. */
    add(json, blob, count, front = false) {
      if (!db) open();
      const buf = blob ? Buffer.from(blob) : null;
      (front ? stmts.prepend : stmts.append).run(json, buf, count, sizeOf(json, buf), Date.now());
      flows += count;
      bytes += sizeOf(json, buf);
    },
    /** The oldest batch: { seq, json, blob (Buffer or null), count }. */
    first() {
      if (!db) return undefined;
      return stmts.first.get();
    },
    /** The oldest batch, partly written: only `json` (its `count` flows) is left of it. */
    replace(row, json, count) {
      const size = sizeOf(json, row.blob);
      stmts.replace.run(json, count, size, row.seq);
      flows += count - row.count;
      bytes += size - row.bytes;
    },
    remove(seq, count, size) {
      stmts.remove.run(seq);
      flows -= count;
      bytes -= size;
      if (flows <= 0) {
        // Emptied: the file goes (it is made anew when PostgreSQL next fails).
        close();
        flows = 0;
        bytes = 0;
        for (const suffix of ['', '-wal', '-shm']) fs.rmSync(file + suffix, { force: true });
      }
    },
    close,
  };
}

module.exports = { createSpool };

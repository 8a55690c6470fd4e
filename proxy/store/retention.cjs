// Retention: deletes the oldest flows (by id, so the hash chain only ever loses a prefix and
// `airlock flows verify` reports "the chain starts at flow N") past store.retention.max_age, then
// until the store's used pages fit in store.retention.max_bytes (or in a smaller size the writer
// asks for when free space runs low, see writer-worker.cjs). Runs on the writer thread, one
// small transaction per step, so batches of new flows are written between steps.
// Bodies and findings go with their flow (ON DELETE CASCADE, foreign_keys=ON on this connection),
// the full-text row with it (trigger flows_fts_delete). A body chunk (schema 6) goes once the
// newest flow that refers to it is gone (its `last_ref` says about when, see collect); one that outlives the flow whose full-text
// row indexed its text moves to the newest flow that refers to it, whose row is indexed anew. The newest flow is never deleted: the
// writer reads the chain head (id, hash) from it, so ids keep growing and the chain continues.
// Plain CommonJS so it runs from source and bundle alike.
'use strict';
const { ftsRow, TOUCH_LAG } = require('./batch.cjs');
const { decodeIds, unpack } = require('./chunks.cjs');

/** Flows deleted per transaction: small enough that a waiting insert batch is not held up long. */
const STEP_FLOWS = 100;
/** Steps per run: a run ends and reports even under steady traffic; the next check starts another. */
const MAX_STEPS = 64;

/**
 * Bytes the store uses: pages in use (page_count - freelist_count) * page_size, after
 * `PRAGMA incremental_vacuum` gave the free pages back to the file system where auto_vacuum is
 * INCREMENTAL (stores created by this airlock). In an older store without it the file keeps its
 * size, but freed pages are reused, so the used size is what the cap bounds.
 */
function usedBytes(db) {
  const pageSize = db.pragma('page_size', { simple: true });
  const pages = db.pragma('page_count', { simple: true });
  const free = db.pragma('freelist_count', { simple: true });
  return (pages - free) * pageSize;
}

/** `deleted`: called after each step that deleted flows (and with them, maybe chunks). */
function createRetention(db, { maxAgeMs, maxBytes }, deleted = () => {}) {
  const incremental = db.pragma('auto_vacuum', { simple: true }) === 2;
  const oldest = db.prepare('SELECT id, started_at FROM flows ORDER BY id LIMIT ?').raw();
  const newest = db.prepare('SELECT max(id) FROM flows').pluck();
  const del = db.prepare('DELETE FROM flows WHERE id <= ?');
  const hasChunks = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'chunks'").get() !== undefined;
  const reown = hasChunks ? db.prepare('UPDATE chunks SET owner = last_ref WHERE owner <= ? AND last_ref > ? RETURNING owner').pluck() : null;
  const dropChunks = hasChunks ? db.prepare('DELETE FROM chunks WHERE last_ref <= ?') : null;
  const markedNear = hasChunks ? db.prepare('SELECT id FROM chunks WHERE last_ref > ? AND last_ref <= ?').pluck() : null;
  const chunkLists = hasChunks ? db.prepare('SELECT flow_id, chunks FROM bodies WHERE flow_id > ? AND flow_id <= ? AND chunks IS NOT NULL ORDER BY flow_id').raw() : null;
  const mark = hasChunks ? db.prepare('UPDATE chunks SET last_ref = ? WHERE id = ?') : null;
  const dropChunk = hasChunks ? db.prepare('DELETE FROM chunks WHERE id = ?') : null;
  const flowOf = db.prepare('SELECT scheme, host, port, path, query, request_headers, response_headers FROM flows WHERE id = ?');
  const ownedText = hasChunks ? db.prepare('SELECT data, deflated FROM chunks WHERE owner = ? AND text = 1 ORDER BY id').raw() : null;
  // Schema 7: a session goes with its newest call (its turns go with their flows, ON DELETE CASCADE).
  const dropSessions = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'llm_sessions'").get() ? db.prepare('DELETE FROM llm_sessions WHERE last_flow <= ?') : null;
  const ftsDelete = db.prepare('DELETE FROM flows_fts WHERE rowid = ?');
  const ftsInsert = db.prepare('INSERT INTO flows_fts (rowid, url, headers, bodies) VALUES (?, ?, ?, ?)');
  /**
   * Chunks no remaining flow refers to go; the text of those that stay is indexed in a flow that
   * does. A chunk's mark (`last_ref`) trails the newest flow that refers to it by at most
   * TOUCH_LAG (batch.cjs): marked at or before upTo - TOUCH_LAG, every flow that refers to it is
   * gone; marked within TOUCH_LAG of upTo, only the flows after upTo up to upTo + TOUCH_LAG can
   * still refer to it, and they are read to know (and the mark set to the newest of them).
   */
  const collect = (upTo) => {
    if (!hasChunks) return;
    dropChunks.run(upTo - TOUCH_LAG);
    const near = markedNear.all(upTo - TOUCH_LAG, upTo);
    if (near.length) {
      const newest = new Map();
      for (const [flowId, list] of chunkLists.all(upTo, upTo + TOUCH_LAG)) for (const cid of decodeIds(list)) newest.set(cid, flowId);
      for (const cid of near) {
        const f = newest.get(cid);
        if (f === undefined) dropChunk.run(cid);
        else mark.run(f, cid);
      }
    }
    for (const owner of new Set(reown.all(upTo, upTo))) {
      const r = flowOf.get(owner);
      if (!r) continue;
      ftsDelete.run(owner);
      ftsInsert.run(owner, ...ftsRow(r, ownedText.all(owner).map(([data, deflated]) => unpack(data, deflated))));
    }
  };
  // Freed pages go back to the file system a bounded number at a time, each batch followed by a
  // checkpoint: moving pages writes them to the WAL, and an unbounded vacuum after a large delete
  // could grow the WAL by what it frees on a disk that is already short of space.
  const VACUUM_PAGES = 256;
  const vacuum = () => {
    if (!incremental) return;
    for (let i = 0; i < 64 && db.pragma('freelist_count', { simple: true }) > 0; i++) {
      db.pragma(`incremental_vacuum(${VACUUM_PAGES})`);
      db.pragma('wal_checkpoint(PASSIVE)');
    }
  };

  /** One step: deletes up to STEP_FLOWS of the oldest flows that have to go. Returns how many. */
  const step = db.transaction((now, cap) => {
    const head = newest.get();
    if (head === null || head === undefined) return 0;
    const rows = oldest.all(STEP_FLOWS);
    let upTo = -1;
    let count = 0;
    if (maxAgeMs !== undefined) {
      const cutoff = now - maxAgeMs;
      // Only a prefix: a younger flow stops the scan, so no hole opens in the chain.
      for (const [id, startedAt] of rows) {
        if (id >= head || startedAt >= cutoff) break;
        upTo = id;
        count++;
      }
    }
    const used = count === 0 && cap !== undefined ? usedBytes(db) : 0;
    if (used > cap) {
      // About as many flows as the excess holds at the store's average flow size (ids are
      // contiguous: only prefixes are ever deleted), so a store of large flows loses what it must
      // and not a whole step of them; the next step deletes more if that was not enough.
      const flows = Math.max(1, head - rows[0][0] + 1);
      // A quarter more than the average says: index pages and shared chunks do not shrink with
      // every flow deleted, and a run that keeps falling just short never ends under traffic.
      const enough = Math.max(1, Math.ceil((1.25 * (used - cap)) / (used / flows)));
      for (const [id] of rows) {
        if (id >= head || count >= enough) break;
        upTo = id;
        count++;
      }
    }
    if (count > 0) {
      del.run(upTo);
      collect(upTo);
      dropSessions?.run(upTo);
    }
    return count;
  });

  /**
   * Runs steps until nothing more has to go; `yieldFn` lets queued inserts in between. `limitBytes`
   * (only with max_bytes set) shrinks the store below max_bytes this time.
   */
  async function run(yieldFn, limitBytes) {
    const result = { deleted: 0, bytes: 0 };
    const cap = maxBytes === undefined ? undefined : Math.min(maxBytes, limitBytes ?? maxBytes);
    for (let steps = 0; steps < MAX_STEPS; steps++) {
      const n = step.immediate(Date.now(), cap);
      if (n === 0) break;
      deleted();
      result.deleted += n;
      // Freed pages count as unused at once; giving them back to the file system is separate.
      vacuum();
      // Under the cap, and no more aged flows than a step takes: done. Batches written while this
      // run pauses may take the store over again; the next growth check starts a new run, so a
      // run ends (and reports) even under steady traffic.
      if ((cap === undefined || usedBytes(db) <= cap) && n < STEP_FLOWS) break;
      await yieldFn();
    }
    vacuum();
    result.bytes = usedBytes(db);
    return result;
  }

  /** The same, without pausing: when free space runs short, before the next batch is written. */
  function runNow(limitBytes) {
    const result = { deleted: 0, bytes: 0 };
    const cap = maxBytes === undefined ? undefined : Math.min(maxBytes, limitBytes ?? maxBytes);
    for (let n = step.immediate(Date.now(), cap); n > 0; n = step.immediate(Date.now(), cap)) {
      deleted();
      result.deleted += n;
    }
    vacuum();
    result.bytes = usedBytes(db);
    return result;
  }

  return { run, runNow, usedBytes: () => usedBytes(db), maxBytes };
}

module.exports = { createRetention, usedBytes };

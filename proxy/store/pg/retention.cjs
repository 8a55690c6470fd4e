// Retention in PostgreSQL (store.retention.max_age): the oldest flows go, by id, so each
// instance's chain only ever loses a prefix (`flows verify` then says where it starts); bodies and
// findings go with them (ON DELETE CASCADE); a chunk goes once the newest flow that refers to it
// (`last_ref`) is gone, and one that outlives the flow whose full-text document holds its text
// moves to the newest flow that refers to it, whose document is made anew (as retention.cjs does
// in SQLite). One instance runs it at a time (a session advisory lock; the others skip their
// turn), one small transaction per step under the write lock, so writers wait only for a step.
// Plain CommonJS: runs on the writer thread.
'use strict';
const { ftsRow } = require('../batch.cjs');
const { unpack } = require('../chunks.cjs');
const { ftsDocument } = require('./batch.cjs');
const { lockKeys } = require('./schema.cjs');

const STEP_FLOWS = 500;
const MAX_STEPS = 64;

function createPgRetention(pool, schema, { maxAgeMs }) {
  const [r1, r2] = lockKeys(schema, 'retention');
  const [w1, w2] = lockKeys(schema, 'write');

  /** One step: deletes up to STEP_FLOWS of the oldest flows older than the cutoff. Returns how many. */
  async function step(client, cutoff) {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [w1, w2]);
      const rows = (await client.query('SELECT id, started_at FROM flows ORDER BY id LIMIT $1', [STEP_FLOWS])).rows;
      let upTo = -1;
      let count = 0;
      // Only a prefix: a younger flow stops the scan, so no hole opens in a chain.
      for (const r of rows) {
        if (Number(r.started_at) >= cutoff) break;
        upTo = Number(r.id);
        count++;
      }
      if (count === 0) {
        await client.query('COMMIT');
        return 0;
      }
      await client.query('DELETE FROM flows WHERE id <= $1', [upTo]);
      // A session goes with its newest call (its turns and MCP calls go with their flows, ON DELETE CASCADE).
      await client.query('DELETE FROM llm_sessions WHERE last_flow <= $1', [upTo]);
      const owners = (await client.query('UPDATE chunks SET owner = last_ref WHERE owner <= $1 AND last_ref > $1 RETURNING owner', [upTo])).rows;
      for (const owner of new Set(owners.map((o) => Number(o.owner)))) {
        const f = (await client.query('SELECT scheme, host, port, path, query, request_headers, response_headers FROM flows WHERE id = $1', [owner])).rows[0];
        if (!f) continue;
        const texts = (await client.query('SELECT data, deflated FROM chunks WHERE owner = $1 AND text = 1 ORDER BY id', [owner])).rows.map((c) => unpack(c.data, c.deflated));
        const [url, headers, text] = ftsRow(f, texts);
        await client.query("UPDATE flows SET fts = to_tsvector('simple', $2) WHERE id = $1", [owner, ftsDocument(url, headers, text)]);
      }
      await client.query('DELETE FROM chunks WHERE last_ref <= $1', [upTo]);
      await client.query('COMMIT');
      return count;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  /** Runs steps until nothing more has to go; `pause` lets queued batches be written in between. */
  async function run(pause = async () => {}) {
    const result = { deleted: 0, bytes: 0 };
    if (maxAgeMs === undefined) return result;
    const client = await pool.connect();
    let broken = false;
    try {
      const got = (await client.query('SELECT pg_try_advisory_lock($1, $2) AS got', [r1, r2])).rows[0].got;
      if (!got) return result; // another instance is running it
      try {
        for (let steps = 0; steps < MAX_STEPS; steps++) {
          const n = await step(client, Date.now() - maxAgeMs);
          result.deleted += n;
          if (n < STEP_FLOWS) break;
          await pause();
        }
      } finally {
        await client.query('SELECT pg_advisory_unlock($1, $2)', [r1, r2]).catch(() => {
          broken = true;
        });
      }
      return result;
    } catch (err) {
      broken = true;
      throw err;
    } finally {
      client.release(broken);
    }
  }

  return { run };
}

module.exports = { createPgRetention };

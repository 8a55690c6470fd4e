// Writes one batch of flows (and their bodies) in one IMMEDIATE transaction and extends the hash
// chain. Shared by the writer thread and the proxy thread's overload fallback, so both produce
// the same chain: the chain head is read inside the write lock, never cached across batches.
// Plain CommonJS so it runs from source and bundle alike (loaded at run time, never bundled).
'use strict';
const crypto = require('node:crypto');

const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');

/**
 * hash = sha256(prev_hash "\n" JSON([id, ...columns]) { "\n" JSON([direction, content_type,
 * encoding, size, truncated, sha256(data)]) } ), bodies in direction order (request, response).
 */
function flowHash(prevHash, id, values, bodies) {
  const h = crypto.createHash('sha256');
  h.update(prevHash || '');
  h.update('\n');
  h.update(JSON.stringify([id, ...values]));
  for (const b of bodies) {
    h.update('\n');
    h.update(JSON.stringify([b.direction, b.content_type, b.encoding, b.size, b.truncated, sha256(b.data || Buffer.alloc(0))]));
  }
  return h.digest('hex');
}

/**
 * Body descriptors travel as [rowIndex, direction, contentType, encoding, size, truncated, offset,
 * length] with every body's bytes in one blob (transferred, not copied, across threads).
 */
function createBatchWriter(db, columns) {
  const insertFlow = db.prepare(
    `INSERT INTO flows (id, ${columns.join(', ')}, hash, prev_hash) VALUES (${['id', ...columns, 'hash', 'prev_hash'].map(() => '?').join(', ')})`,
  );
  const insertBody = db.prepare('INSERT INTO bodies (flow_id, direction, content_type, encoding, size, truncated, data) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const head = db.prepare('SELECT id, hash FROM flows ORDER BY id DESC LIMIT 1').raw();
  const write = db.transaction((rows, bodies, blob) => {
    const last = head.get();
    let id = last ? last[0] : 0;
    let prev = (last && last[1]) || '';
    let b = 0;
    for (let i = 0; i < rows.length; i++) {
      id++;
      const mine = [];
      while (b < bodies.length && bodies[b][0] === i) {
        const d = bodies[b++];
        mine.push({ direction: d[1], content_type: d[2], encoding: d[3], size: d[4], truncated: d[5], data: blob.subarray(d[6], d[6] + d[7]) });
      }
      const hash = flowHash(prev, id, rows[i], mine);
      insertFlow.run([id, ...rows[i], hash, prev]);
      for (const m of mine) insertBody.run(id, m.direction, m.content_type, m.encoding, m.size, m.truncated, m.data);
      prev = hash;
    }
  });
  return (rows, bodies, blob) => write.immediate(rows, bodies, blob);
}

module.exports = { createBatchWriter, flowHash, sha256 };

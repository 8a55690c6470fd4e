// Writes one batch of flows (and their bodies) in one IMMEDIATE transaction and extends the hash
// chain. Shared by the writer thread and the proxy thread's overload fallback, so both produce
// the same chain: the chain head is read inside the write lock, never cached across batches.
// Plain CommonJS so it runs from source and bundle alike (loaded at run time, never bundled).
'use strict';
const crypto = require('node:crypto');

const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');

/** Full-text search (schema 3) indexes the first FTS_BODY_CAP bytes of text-like bodies (schema.ts has the same cap). */
const FTS_BODY_CAP = 256 * 1024;
const TEXTUAL = /^(text\/|application\/([\w.+-]*\+)?(json|xml|javascript|x-www-form-urlencoded|yaml|x-yaml|csv|graphql|x-ndjson)\b)/i;

/** The flows_fts row of a flow: scheme://host:port/path?query, both header sets, text bodies. */
function ftsText(values, at, bodies) {
  const v = (name) => values[at[name]];
  const url = `${v('scheme') ?? ''}://${v('host') ?? ''}:${v('port') ?? ''}${v('path') ?? ''}${v('query') != null ? `?${v('query')}` : ''}`;
  const headers = `${v('request_headers') ?? ''}\n${v('response_headers') ?? ''}`;
  let text = '';
  for (const b of bodies) {
    if (b.encoding !== null || !b.content_type || !TEXTUAL.test(b.content_type)) continue;
    text += (text ? '\n' : '') + b.data.subarray(0, FTS_BODY_CAP).toString('utf8');
  }
  return [url, headers, text];
}

/**
 * hash = sha256(prev_hash "\n" JSON([id, ...columns]) { "\n" JSON([direction, content_type,
 * encoding, size, truncated, sha256(data)]) } [ "\nfindings " JSON([[rule_id, location, action,
 * preview], ...]) ] ), bodies in direction order (request, response); the findings part only when
 * the flow has DLP findings, so flows without any hash as they did before findings existed.
 */
function flowHash(prevHash, id, values, bodies, findings) {
  const h = crypto.createHash('sha256');
  h.update(prevHash || '');
  h.update('\n');
  h.update(JSON.stringify([id, ...values]));
  for (const b of bodies) {
    h.update('\n');
    h.update(JSON.stringify([b.direction, b.content_type, b.encoding, b.size, b.truncated, sha256(b.data || Buffer.alloc(0))]));
  }
  if (findings && findings.length) h.update(`\nfindings ${JSON.stringify(findings)}`);
  return h.digest('hex');
}

/**
 * The values a flow's hash covers: all of them, except that columns from `hashed` on (the LLM
 * columns of schema 4) are left out when every one is NULL, so a row written before they existed
 * hashes as it did then. Setting or clearing any of them still changes the hash.
 */
function hashValues(values, hashed) {
  if (values.length <= hashed) return values;
  for (let k = hashed; k < values.length; k++) if (values[k] !== null && values[k] !== undefined) return values;
  return values.slice(0, hashed);
}

/**
 * Body descriptors travel as [rowIndex, direction, contentType, encoding, size, truncated, offset,
 * length] with every body's bytes in one blob (transferred, not copied, across threads).
 */
function createBatchWriter(db, columns, hashed = columns.length) {
  const insertFlow = db.prepare(
    `INSERT INTO flows (id, ${columns.join(', ')}, hash, prev_hash) VALUES (${['id', ...columns, 'hash', 'prev_hash'].map(() => '?').join(', ')})`,
  );
  const insertBody = db.prepare('INSERT INTO bodies (flow_id, direction, content_type, encoding, size, truncated, data) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const head = db.prepare('SELECT id, hash FROM flows ORDER BY id DESC LIMIT 1').raw();
  const insertFts = db.prepare('INSERT INTO flows_fts (rowid, url, headers, bodies) VALUES (?, ?, ?, ?)');
  const insertFinding = db.prepare('INSERT INTO findings (flow_id, rule_id, location, action, preview) VALUES (?, ?, ?, ?, ?)');
  const at = {};
  for (const name of ['scheme', 'host', 'port', 'path', 'query', 'request_headers', 'response_headers']) at[name] = columns.indexOf(name);
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
      // A row without the trailing (LLM) columns leaves them NULL; one element past the columns
      // carries the flow's DLP findings as JSON [[rule_id, location, action, preview], ...].
      const given = rows[i];
      const row = given.length < columns.length ? given.concat(new Array(columns.length - given.length).fill(null)) : given.slice(0, columns.length);
      const findings = given.length > columns.length && given[columns.length] ? JSON.parse(given[columns.length]) : null;
      const hash = flowHash(prev, id, hashValues(row, hashed), mine, findings);
      insertFlow.run([id, ...row, hash, prev]);
      for (const m of mine) insertBody.run(id, m.direction, m.content_type, m.encoding, m.size, m.truncated, m.data);
      if (findings) for (const f of findings) insertFinding.run(id, f[0], f[1], f[2], f[3]);
      insertFts.run(id, ...ftsText(row, at, mine));
      prev = hash;
    }
  });
  return (rows, bodies, blob) => write.immediate(rows, bodies, blob);
}

module.exports = { createBatchWriter, flowHash, hashValues, sha256, ftsText };

// Writes one batch of flows (and their bodies) in one IMMEDIATE transaction and extends the hash
// chain. Shared by the writer thread and the proxy thread's overload fallback, so both produce
// the same chain: the chain head is read inside the write lock, never cached across batches.
// Plain CommonJS so it runs from source and bundle alike (loaded at run time, never bundled).
'use strict';
const crypto = require('node:crypto');
const { cut, encodeIds, listDigest, pack } = require('./chunks.cjs');
const { createSessionIndexer, agentOf } = require('./sessions.cjs');
const { mcpCallsOf } = require('./mcp.cjs');

const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');

/** Full-text search (schema 3) indexes the first FTS_BODY_CAP bytes of text-like bodies (schema.ts has the same cap). */
const FTS_BODY_CAP = 256 * 1024;
const TEXTUAL = /^(text\/|application\/([\w.+-]*\+)?(json|xml|javascript|x-www-form-urlencoded|yaml|x-yaml|csv|graphql|x-ndjson)\b)/i;

function textual(b) {
  return b.encoding === null && Boolean(b.content_type) && TEXTUAL.test(b.content_type);
}

/**
 * The flows_fts row of a flow: scheme://host:port/path?query, both header sets, and body text:
 * of a body stored by content only the chunks this flow stored first (`fresh`), so text an agent
 * resends every turn is indexed once, in the flow that sent it first.
 */
function ftsText(values, at, bodies) {
  const v = (name) => values[at[name]];
  const texts = [];
  for (const b of bodies) if (textual(b)) texts.push(...(b.fresh ?? [b.data]));
  return ftsRow({ scheme: v('scheme'), host: v('host'), port: v('port'), path: v('path'), query: v('query'), request_headers: v('request_headers'), response_headers: v('response_headers') }, texts);
}

/** [url, headers, bodies] of a flows_fts row from a flow's named columns and its body texts. */
function ftsRow(r, texts) {
  const url = `${r.scheme ?? ''}://${r.host ?? ''}:${r.port ?? ''}${r.path ?? ''}${r.query != null ? `?${r.query}` : ''}`;
  const headers = `${r.request_headers ?? ''}\n${r.response_headers ?? ''}`;
  let text = '';
  for (const part of texts) {
    if (text.length >= FTS_BODY_CAP) break;
    text += (text ? '\n' : '') + part.subarray(0, FTS_BODY_CAP - text.length).toString('utf8');
  }
  return [url, headers, text];
}

/**
 * hash = sha256(prev_hash "\n" JSON([id, ...columns]) { "\n" JSON([direction, content_type,
 * encoding, size, truncated, DIGEST]) } [ "\nfindings " JSON([[rule_id, location, action,
 * preview], ...]) ] ), bodies in direction order (request, response); the findings part only when
 * the flow has DLP findings, so flows without any hash as they did before findings existed.
 * DIGEST is sha256(data) for a body stored whole (before schema 6), and "chunks:" + sha256 over
 * its chunks' SHA-256s in order for a body stored by content (chunks.cjs). Since schema 7 a flow
 * names the airlock instance that handled it, and each instance has a chain of its own: then
 * "\ninstance " JSON(name) ends the text (flows from before carry no instance and hash as then).
 */
function flowHash(prevHash, id, values, bodies, findings, instance) {
  const h = crypto.createHash('sha256');
  h.update(prevHash || '');
  h.update('\n');
  h.update(JSON.stringify([id, ...values]));
  for (const b of bodies) {
    h.update('\n');
    const digest = b.digest || sha256(b.data || Buffer.alloc(0));
    h.update(JSON.stringify([b.direction, b.content_type, b.encoding, b.size, b.truncated, digest]));
  }
  if (findings && findings.length) h.update(`\nfindings ${JSON.stringify(findings)}`);
  if (instance !== null && instance !== undefined) h.update(`\ninstance ${JSON.stringify(instance)}`);
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
 * A chunk's `last_ref` is a flow that refers to it, at most TOUCH_LAG flows older than the newest
 * one that does: a chunk referred to again is marked only when its mark is older than that, not
 * by every flow (an agent's context is referred to by every turn; marking it each time rewrote
 * its row's page for every request). Retention (retention.cjs) therefore treats a chunk marked
 * within TOUCH_LAG flows of what it deletes as possibly still in use, and looks.
 */
const TOUCH_LAG = 256;

/**
 * Body descriptors travel as [rowIndex, direction, contentType, encoding, size, truncated, offset,
 * length, (ranges, digestOffset)] with every body's bytes (and the digests of pieces the DLP
 * scanner hashed) in one blob (transferred, not copied, across threads). Each body
 * is stored by content (chunks.cjs): new chunks are inserted, known ones referred to.
 * `remember`: keep a map of chunk SHA-256 -> id across batches (the writer thread's writer; it
 * forgets it whenever retention deleted chunks). The proxy thread's overload fallback looks every
 * chunk up instead, so a chunk deleted by the writer thread's retention is never referred to.
 * `instance` (schema 8): the airlock instance writing; its flows carry its name and extend its own
 * chain, whose head (id, hash) the instances table keeps, so it survives retention. Without one
 * (tests, stores before schema 8) flows extend the chain of the flows without an instance.
 */
function createBatchWriter(db, columns, hashed = columns.length, remember = false, instance = null) {
  const has = (name) => db.prepare('SELECT 1 FROM sqlite_master WHERE name = ?').get(name) !== undefined;
  const named = instance !== null && has('instances');
  const insertFlow = db.prepare(
    `INSERT INTO flows (id, ${columns.join(', ')}, hash, prev_hash${named ? ', instance' : ''}) VALUES (${['id', ...columns, 'hash', 'prev_hash', ...(named ? ['instance'] : [])].map(() => '?').join(', ')})`,
  );
  // A store not yet at schema 6 (tests of upgrades write such rows) keeps bodies whole.
  const byContent = has('chunks');
  const insertBody = byContent
    ? db.prepare('INSERT INTO bodies (flow_id, direction, content_type, encoding, size, truncated, chunks) VALUES (?, ?, ?, ?, ?, ?, ?)')
    : db.prepare('INSERT INTO bodies (flow_id, direction, content_type, encoding, size, truncated, data) VALUES (?, ?, ?, ?, ?, ?, ?)');
  // The next id follows the newest flow of any instance; the previous hash is this chain's head.
  const lastId = db.prepare('SELECT max(id) FROM flows').pluck();
  const chainHead = named
    ? db.prepare('SELECT head_hash FROM instances WHERE name = ?').pluck().bind(instance)
    : has('instances')
      ? db.prepare('SELECT hash FROM flows WHERE instance IS NULL ORDER BY id DESC LIMIT 1').pluck()
      : db.prepare('SELECT hash FROM flows ORDER BY id DESC LIMIT 1').pluck();
  const setHead = named
    ? db.prepare(
        'INSERT INTO instances (name, head_id, head_hash, first_seen, last_seen) VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET head_id = excluded.head_id, head_hash = excluded.head_hash, last_seen = excluded.last_seen',
      )
    : null;
  const insertFts = db.prepare('INSERT INTO flows_fts (rowid, url, headers, bodies) VALUES (?, ?, ?, ?)');
  const insertFinding = db.prepare('INSERT INTO findings (flow_id, rule_id, location, action, preview) VALUES (?, ?, ?, ?, ?)');
  const chunkOf = byContent ? db.prepare('SELECT id, last_ref FROM chunks WHERE sha256 = ?').raw() : null;
  const insertChunk = byContent ? db.prepare('INSERT INTO chunks (sha256, data, deflated, text, owner, last_ref) VALUES (?, ?, ?, ?, ?, ?)') : null;
  const touch = byContent ? db.prepare('UPDATE chunks SET last_ref = ? WHERE id = ? AND last_ref < ?') : null;
  /** Chunk SHA-256 (latin1) -> [id, last_ref as written]. */
  const known = new Map();
  const KNOWN_MAX = 100_000;
  const at = {};
  for (const name of ['scheme', 'host', 'port', 'path', 'query', 'request_headers', 'response_headers', 'agent_user', 'listener', 'started_at', 'llm_provider']) {
    at[name] = columns.indexOf(name);
  }
  // Schema 7: sessions of LLM calls and MCP calls, derived here from each flow's stored bodies.
  const derived = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'llm_sessions'").get() !== undefined;
  const assignSession = derived ? createSessionIndexer(db) : null;
  const insertMcp = derived ? db.prepare('INSERT INTO mcp_calls (flow_id, seq, method, tool, rpc_id, arguments) VALUES (?, ?, ?, ?, ?, ?)') : null;

  /** Stores one body's chunks for flow `id`; sets `chunks`, `digest` and `fresh` on it. */
  function storeChunks(body, id, touched, learned) {
    const ids = [];
    const digests = [];
    const fresh = [];
    const text = textual(body) ? 1 : 0;
    for (const [s, e, sha] of cut(body.data, body.given)) {
      const key = sha.toString('latin1');
      let c = remember ? (learned.get(key) ?? known.get(key)) : undefined;
      if (c === undefined) c = chunkOf.get(sha);
      if (c === undefined) {
        const data = body.data.subarray(s, e);
        c = [Number(insertChunk.run(sha, ...pack(data), text, id, id).lastInsertRowid), id];
        fresh.push(data);
      } else if (c[1] < id - TOUCH_LAG) {
        // Referred to again long after it was last marked: marked with this flow (see TOUCH_LAG).
        touched.set(c[0], id);
        c = [c[0], id];
      }
      // Remembered only once the transaction commits: a batch rolled back (a full disk) takes its chunks with it.
      if (remember) learned.set(key, c);
      ids.push(c[0]);
      digests.push(sha);
    }
    body.chunks = encodeIds(ids);
    body.digest = listDigest(digests);
    body.fresh = fresh;
  }

  /** The session and MCP rows of flow `id`; a body that cannot be read leaves them out, never the flow. */
  function derive(id, row, extra, bodies) {
    const request = bodies.find((b) => b.direction === 'request');
    const response = bodies.find((b) => b.direction === 'response');
    if (extra.api && row[at.llm_provider]) {
      assignSession(id, extra.api, row[at.llm_provider], agentOf(row[at.agent_user], row[at.listener]), row[at.started_at], request, response, extra.called);
    }
    if (extra.mcp) {
      mcpCallsOf(extra.mcp, request).forEach((c, seq) => insertMcp.run(id, seq, c.method, c.tool, c.id, c.arguments));
    }
  }

  const write = db.transaction((rows, bodies, blob) => {
    let id = lastId.get() ?? 0;
    let prev = chainHead.get() || '';
    let b = 0;
    const touched = new Map();
    const learned = new Map();
    for (let i = 0; i < rows.length; i++) {
      id++;
      const mine = [];
      while (b < bodies.length && bodies[b][0] === i) {
        const d = bodies[b++];
        const body = { direction: d[1], content_type: d[2], encoding: d[3], size: d[4], truncated: d[5], data: blob.subarray(d[6], d[6] + d[7]) };
        // Pieces the DLP scanner already hashed: [ranges, blob offset of their digests].
        if (d[8]) body.given = { ranges: d[8], digests: blob.subarray(d[9], d[9] + 16 * d[8].length) };
        if (byContent) storeChunks(body, id, touched, learned);
        mine.push(body);
      }
      // A row without the trailing (LLM) columns leaves them NULL; one element past the columns
      // carries the flow's DLP findings as JSON [[rule_id, location, action, preview], ...], the
      // next what the writer derives tables from ({api, called, mcp}, writer.ts derivedOf).
      const given = rows[i];
      const row = given.length < columns.length ? given.concat(new Array(columns.length - given.length).fill(null)) : given.slice(0, columns.length);
      const findings = given.length > columns.length && given[columns.length] ? JSON.parse(given[columns.length]) : null;
      const extra = given.length > columns.length + 1 && given[columns.length + 1] ? JSON.parse(given[columns.length + 1]) : null;
      const hash = flowHash(prev, id, hashValues(row, hashed), mine, findings, named ? instance : null);
      insertFlow.run(named ? [id, ...row, hash, prev, instance] : [id, ...row, hash, prev]);
      for (const m of mine) insertBody.run(id, m.direction, m.content_type, m.encoding, m.size, m.truncated, byContent ? m.chunks : m.data);
      if (findings) for (const f of findings) insertFinding.run(id, f[0], f[1], f[2], f[3]);
      insertFts.run(id, ...ftsText(row, at, mine));
      if (extra && derived) derive(id, row, extra, mine);
      prev = hash;
    }
    // Chunks marked again: with the newest flow of the batch that refers to them, once each.
    for (const [cid, fid] of touched) touch.run(fid, cid, fid);
    if (setHead && rows.length) {
      const now = Date.now();
      setHead.run(instance, id, prev, now, now);
    }
    return learned;
  });
  const run = (rows, bodies, blob) => {
    const learned = write.immediate(rows, bodies, blob);
    if (!remember) return;
    if (known.size + learned.size > KNOWN_MAX) known.clear();
    for (const [k, v] of learned) known.set(k, v);
  };
  /** After retention deleted chunks: ids remembered may be gone. */
  run.forget = () => known.clear();
  return run;
}

module.exports = { createBatchWriter, flowHash, hashValues, sha256, ftsText, ftsRow, textual, TEXTUAL, FTS_BODY_CAP, TOUCH_LAG };

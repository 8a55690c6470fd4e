// Writes one batch of flows into PostgreSQL in one transaction, as batch.cjs does for SQLite: the
// flows rows (with this instance's name), the hash chain (this instance's, its head kept in
// `instances`), bodies stored by content (chunks shared by SHA-256 across flows and instances),
// DLP findings, and the full-text document (a tsvector). Each statement takes the whole batch at
// once (unnest of one array per column), so a batch is a dozen round trips whatever its size.
// Every writer (each instance, and retention) takes one advisory lock for its transaction: flow
// ids then grow in commit order (a reader that saw flow N never misses a flow below N committed
// later), a chunk found cannot be deleted before the flow that refers to it commits, and two
// processes that share an instance name still extend one valid chain.
// Plain CommonJS: runs on the writer thread (writer-worker.cjs).
'use strict';
const { flowHash, hashValues, ftsText, textual } = require('../batch.cjs');
const { cut, encodeIds, listDigest, pack } = require('../chunks.cjs');
const { COLUMN_TYPES, lockKeys } = require('./schema.cjs');
const { createPgSessionIndexer, agentOf } = require('../sessions.cjs');
const { mcpCallsOf } = require('../mcp.cjs');

/** The full-text document is capped (tsvector values must stay under 1 MB). */
const FTS_DOC_CAP = 256 * 1024;

/**
 * Text as both backends tokenize it: letters and digits, diacritics removed, everything else a
 * separator (SQLite's unicode61 remove_diacritics 2). PostgreSQL's own parser would keep
 * "api.example.com" or "a@b.c" as one token; here they are words, as in SQLite. Lower-casing is
 * to_tsvector('simple', ...)'s.
 */
function ftsWords(text) {
  return text
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

function ftsDocument(url, headers, bodies) {
  return ftsWords(`${url}\n${headers}\n${bodies}`.slice(0, FTS_DOC_CAP));
}

/** PostgreSQL text cannot hold NUL: shown as U+2400 (␀) instead, before the flow is hashed. */
function noNul(v) {
  return typeof v === 'string' && v.includes('\0') ? v.replace(/\0/g, '\u2400') : v;
}

/**
 * `columns`: the flows columns rows carry (rows.ts STORED_COLUMNS), `hashed`: how many of them
 * the hash always covers (batch.cjs hashValues). Returns write(client, rows, bodies, blob):
 * flows already in PostgreSQL (by flow_id: a batch written again from the spool after its commit's
 * answer was lost, or after a write that was slow to answer was spooled too) are left out, so a
 * batch may be written any number of times and each flow is stored once. Resolves with the flows
 * written.
 */
function createPgBatchWriter({ schema, instance, columns, hashed = columns.length }) {
  const [k1, k2] = lockKeys(schema, 'write');
  const flowIdAt = columns.indexOf('flow_id');
  const at = {};
  for (const name of ['scheme', 'host', 'port', 'path', 'query', 'request_headers', 'response_headers', 'agent_user', 'listener', 'started_at', 'llm_provider']) {
    at[name] = columns.indexOf(name);
  }
  const assignSession = createPgSessionIndexer();
  const insertFlows =
    `INSERT INTO flows (id, instance, ${columns.join(', ')}, hash, prev_hash, fts) ` +
    `SELECT u.id, $${columns.length + 5}, ${columns.map((c) => `u.${c}`).join(', ')}, u.hash, u.prev_hash, to_tsvector('simple', u.doc) ` +
    `FROM unnest($1::bigint[], ${columns.map((c, i) => `$${i + 2}::${COLUMN_TYPES[c]}[]`).join(', ')}, $${columns.length + 2}::text[], $${columns.length + 3}::text[], $${columns.length + 4}::text[]) ` +
    `AS u(id, ${columns.join(', ')}, hash, prev_hash, doc)`;

  /** The session and MCP rows of one flow; a body that cannot be read leaves them out, never the flow. */
  async function derive(client, id, f) {
    const x = f.extra;
    if (!x) return;
    const request = f.bodies.find((b) => b.direction === 'request');
    const response = f.bodies.find((b) => b.direction === 'response');
    const row = f.row;
    if (x.api && row[at.llm_provider]) {
      await assignSession(client, id, x.api, row[at.llm_provider], agentOf(row[at.agent_user], row[at.listener]), Number(row[at.started_at]), request, response, x.called);
    }
    if (x.mcp) {
      const calls = mcpCallsOf(x.mcp, request);
      if (calls.length) {
        await client.query('INSERT INTO mcp_calls (flow_id, seq, method, tool, rpc_id, arguments) SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[])', [
          id,
          calls.map((_, k) => k),
          calls.map((c) => noNul(c.method)),
          calls.map((c) => noNul(c.tool)),
          calls.map((c) => noNul(c.id)),
          calls.map((c) => noNul(c.arguments)),
        ]);
      }
    }
  }

  return async function write(client, rows, bodies, blob) {
    if (rows.length === 0) return 0;
    const given = rows.map((r) => r.map(noNul));
    // The bodies of each flow, and every chunk of the batch, cut before the transaction.
    let flows = given.map((r) => ({ row: r.length < columns.length ? r.concat(new Array(columns.length - r.length).fill(null)) : r.slice(0, columns.length), findings: null, extra: null, bodies: [] }));
    given.forEach((r, i) => {
      if (r.length > columns.length && r[columns.length]) flows[i].findings = JSON.parse(r[columns.length]).map((f) => f.map(noNul));
      // What the writer derives sessions and MCP calls from (writer.ts derivedOf), as batch.cjs.
      if (r.length > columns.length + 1 && r[columns.length + 1]) flows[i].extra = JSON.parse(r[columns.length + 1]);
    });
    for (const d of bodies) {
      const data = blob.subarray(d[6], d[6] + d[7]);
      // Pieces the DLP scanner already hashed travel with the body (batch.cjs): taken as they are.
      const given = d[8] ? { ranges: d[8], digests: blob.subarray(d[9], d[9] + 16 * d[8].length) } : undefined;
      flows[d[0]].bodies.push({ direction: d[1], content_type: noNul(d[2]), encoding: noNul(d[3]), size: d[4], truncated: d[5], data, pieces: cut(data, given) });
    }

    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [k1, k2]);
      const head = (
        await client.query(
          `SELECT (SELECT head_hash FROM instances WHERE name = $1) AS head,
                  ARRAY(SELECT flow_id FROM flows WHERE flow_id = ANY($2::text[])) AS written`,
          [instance, flows.map((f) => f.row[flowIdAt])],
        )
      ).rows[0];
      if (head.written.length) {
        const written = new Set(head.written);
        flows = flows.filter((f) => !written.has(f.row[flowIdAt]));
        if (!flows.length) {
          await client.query('ROLLBACK');
          return 0;
        }
      }
      const ids = (await client.query("SELECT nextval('flows_id_seq') AS id FROM generate_series(1, $1)", [flows.length])).rows.map((r) => Number(r.id)).sort((a, b) => a - b);

      // Chunks: those already stored are referred to (and kept as long as this flow), new ones inserted once.
      const shas = new Map();
      for (const f of flows) for (const b of f.bodies) for (const [, , sha] of b.pieces) shas.set(sha.toString('hex'), sha);
      const known = new Map();
      if (shas.size) {
        const r = await client.query('SELECT id, sha256 FROM chunks WHERE sha256 = ANY($1::bytea[])', [[...shas.values()]]);
        for (const c of r.rows) known.set(c.sha256.toString('hex'), Number(c.id));
      }
      const fresh = { sha: [], data: [], deflated: [], text: [], owner: [] };
      /** New chunks: where in `fresh`, and the newest flow of this batch that refers to each. */
      const freshAt = new Map();
      const freshLastRef = new Map();
      const touched = new Map();
      flows.forEach((f, i) => {
        const id = ids[i];
        for (const b of f.bodies) {
          const isText = textual(b);
          b.fresh = [];
          for (const [s, e, sha] of b.pieces) {
            const key = sha.toString('hex');
            if (known.has(key)) {
              touched.set(known.get(key), id);
              continue;
            }
            if (freshAt.has(key)) {
              freshLastRef.set(key, id);
              continue;
            }
            const data = b.data.subarray(s, e);
            const [bytes, deflated] = pack(data);
            freshAt.set(key, fresh.sha.length);
            fresh.sha.push(sha);
            fresh.data.push(bytes);
            fresh.deflated.push(deflated);
            fresh.text.push(isText ? 1 : 0);
            fresh.owner.push(id);
            b.fresh.push(data);
          }
        }
      });
      const chunkIds = new Map(known);
      if (fresh.sha.length) {
        const lastRef = fresh.sha.map((sha, k) => freshLastRef.get(sha.toString('hex')) ?? fresh.owner[k]);
        const r = await client.query(
          'INSERT INTO chunks (sha256, data, deflated, text, owner, last_ref) SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::smallint[], $4::smallint[], $5::bigint[], $6::bigint[]) RETURNING id, sha256',
          [fresh.sha, fresh.data, fresh.deflated, fresh.text, fresh.owner, lastRef],
        );
        for (const c of r.rows) chunkIds.set(c.sha256.toString('hex'), Number(c.id));
      }

      // The chain: this instance's head, extended flow by flow.
      let prev = head.head ?? '';
      const cols = columns.map(() => []);
      const hashes = [];
      const prevs = [];
      const docs = [];
      const body = { flow: [], direction: [], type: [], encoding: [], size: [], truncated: [], chunks: [] };
      const finding = { flow: [], rule: [], location: [], action: [], preview: [] };
      flows.forEach((f, i) => {
        const id = ids[i];
        const hashedBodies = f.bodies.map((b) => {
          const list = b.pieces.map(([, , sha]) => chunkIds.get(sha.toString('hex')));
          b.chunks = encodeIds(list);
          return { direction: b.direction, content_type: b.content_type, encoding: b.encoding, size: b.size, truncated: b.truncated, digest: listDigest(b.pieces.map((p) => p[2])) };
        });
        const hash = flowHash(prev, id, hashValues(f.row, hashed), hashedBodies, f.findings, instance);
        f.row.forEach((v, c) => cols[c].push(v));
        hashes.push(hash);
        prevs.push(prev);
        const [url, headers, text] = ftsText(f.row, at, f.bodies);
        docs.push(ftsDocument(url, headers, text));
        for (const b of f.bodies) {
          body.flow.push(id);
          body.direction.push(b.direction);
          body.type.push(b.content_type);
          body.encoding.push(b.encoding);
          body.size.push(b.size);
          body.truncated.push(b.truncated);
          body.chunks.push(b.chunks);
        }
        for (const x of f.findings ?? []) {
          finding.flow.push(id);
          finding.rule.push(x[0]);
          finding.location.push(x[1]);
          finding.action.push(x[2]);
          finding.preview.push(x[3]);
        }
        prev = hash;
      });
      await client.query(insertFlows, [ids, ...cols, hashes, prevs, docs, instance]);
      if (body.flow.length) {
        await client.query(
          'INSERT INTO bodies (flow_id, direction, content_type, encoding, size, truncated, chunks) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::smallint[], $7::bytea[])',
          [body.flow, body.direction, body.type, body.encoding, body.size, body.truncated, body.chunks],
        );
      }
      if (finding.flow.length) {
        await client.query(
          'INSERT INTO findings (flow_id, rule_id, location, action, preview) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])',
          [finding.flow, finding.rule, finding.location, finding.action, finding.preview],
        );
      }
      // Sessions and MCP calls (outside the chain, as in SQLite), flow by flow in id order: a call may continue the one before it.
      for (let i = 0; i < flows.length; i++) await derive(client, ids[i], flows[i]);
      if (touched.size) {
        // Chunks referred to again: the newest flow that needs them (retention keeps them that long).
        await client.query('UPDATE chunks SET last_ref = v.ref FROM unnest($1::bigint[], $2::bigint[]) AS v(id, ref) WHERE chunks.id = v.id AND chunks.last_ref < v.ref', [
          [...touched.keys()],
          [...touched.values()],
        ]);
      }
      const now = Date.now();
      await client.query(
        `INSERT INTO instances (name, head_id, head_hash, first_seen, last_seen) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (name) DO UPDATE SET head_id = excluded.head_id, head_hash = excluded.head_hash, last_seen = excluded.last_seen`,
        [instance, ids[ids.length - 1], prev, now],
      );
      await client.query('COMMIT');
      return flows.length;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  };
}

module.exports = { createPgBatchWriter, ftsWords, ftsDocument, FTS_DOC_CAP };

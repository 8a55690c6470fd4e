// A node-postgres pool for the flow store: the store's schema first on the search_path, bigint
// and numeric read as numbers (ids, times and byte counts stay far below 2^53), keep-alive, and
// an 'error' handler, so a server that goes away under idle connections is a failed query later,
// never a crash. Which errors mean "the database cannot take writes" (spool, retry later) and
// which mean "this batch is refused" (written flow by flow) is decided here too.
// Plain CommonJS: used by the writer thread and the readers alike.
'use strict';
const { workerData } = require('node:worker_threads');
// The writer thread is given where `pg` is (as the SQLite writer is given better-sqlite3's path).
const pg = require((workerData && workerData.pg) || 'pg');

const INT8 = 20;
const NUMERIC = 1700;
const TYPES = {
  getTypeParser(oid, format) {
    if ((oid === INT8 || oid === NUMERIC) && format !== 'binary') return (v) => (v === null ? null : Number(v));
    return pg.types.getTypeParser(oid, format);
  },
};

/**
 * `url`: postgres://user:password@host:port/db?sslmode=... (the policy checked it: never
 * sslmode=no-verify). `schema`: a plain lower-case name (the policy checked that too).
 */
function createPool({ url, schema, max, name, connectTimeoutMs = 5000, statementTimeoutMs = 0, onError }) {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    application_name: name,
    options: `-c search_path=${schema}`,
    connectionTimeoutMillis: connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    ...(statementTimeoutMs ? { statement_timeout: statementTimeoutMs, query_timeout: statementTimeoutMs + 5000 } : {}),
    types: TYPES,
  });
  // An idle connection the server closed (restart, failover) reports here; the pool drops it.
  pool.on('error', (err) => onError?.(err));
  // A connection in use when the server goes away fails its query, and also emits 'error' on the
  // client, which the pool does not listen for while the client is checked out: without this
  // listener that event would end the process (or the writer thread).
  pool.on('connect', (client) => client.on('error', (err) => onError?.(err)));
  return pool;
}

/**
 * A failed write says either that the database cannot take writes now (null: connection lost or
 * refused, server shutting down, out of space or connections, a timeout, ...: the batch is
 * spooled and replayed later), or that this batch's data was refused ('batch': a data exception
 * or a violated constraint; written flow by flow so only the bad flows are lost).
 */
function batchFault(err) {
  const code = String((err && err.code) || '');
  return /^2[23]/.test(code) ? 'batch' : null;
}

/** The error as the operator should read it: the server's message and code, never the URL. */
function describe(err) {
  const code = err && err.code ? ` (${err.code})` : '';
  return `${String((err && err.message) || err)}${code}`;
}

module.exports = { createPool, batchFault, describe, TYPES };

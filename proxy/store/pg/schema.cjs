// The PostgreSQL flow store's schema (docs/audit.md, "PostgreSQL"): the same content as the
// SQLite store at its schema 8 (flows with LLM columns and the instance that handled each, bodies
// stored by content in shared chunks, DLP findings, one hash chain per instance with its head in
// `instances`; sessions, MCP calls, budget counters), full-text search as a tsvector column with a GIN index. Versioned migrations,
// recorded in airlock_schema; run under an advisory lock, so instances starting together migrate
// once (the others wait, then find nothing left to do).
// Plain CommonJS: used by the writer thread (writer-worker.cjs) and the readers alike.
'use strict';
const crypto = require('node:crypto');

const TEXT = 'text';
/** Column -> PostgreSQL type, for the flows columns airlock fills (rows.ts STORED_COLUMNS order). */
const COLUMN_TYPES = {
  flow_id: TEXT,
  started_at: 'bigint',
  entry: TEXT,
  listener: TEXT,
  client: TEXT,
  agent_user: TEXT,
  method: TEXT,
  scheme: TEXT,
  host: TEXT,
  port: 'integer',
  path: TEXT,
  query: TEXT,
  protocol: TEXT,
  status: 'integer',
  decision: TEXT,
  rule_id: TEXT,
  code: TEXT,
  reason: TEXT,
  error: TEXT,
  injected: TEXT,
  bytes_up: 'bigint',
  bytes_down: 'bigint',
  ttfb_ms: 'double precision',
  total_ms: 'double precision',
  request_headers: TEXT,
  response_headers: TEXT,
  llm_provider: TEXT,
  llm_model: TEXT,
  llm_input_tokens: 'bigint',
  llm_output_tokens: 'bigint',
  llm_stop_reason: TEXT,
  llm_tools: TEXT,
};
const NOT_NULL = new Set(['flow_id', 'started_at', 'entry', 'listener', 'client', 'protocol', 'decision', 'bytes_up', 'bytes_down']);

const migrations = [
  // 1: everything the SQLite store held at its schema 6, with instances (its schema 8), in one step.
  `CREATE TABLE flows (
     id bigint PRIMARY KEY,
     instance text NOT NULL,
     ${Object.entries(COLUMN_TYPES)
       .map(([c, t]) => `${c} ${t}${NOT_NULL.has(c) ? ' NOT NULL' : ''}`)
       .join(',\n     ')},
     hash text NOT NULL,
     prev_hash text NOT NULL,
     fts tsvector NOT NULL
   );
   ALTER TABLE flows ADD CONSTRAINT flows_flow_id_key UNIQUE (flow_id);
   -- Assigned by the writers under the write lock (batch.cjs), so ids grow in commit order.
   CREATE SEQUENCE flows_id_seq OWNED BY flows.id;
   CREATE INDEX flows_started_at ON flows (started_at);
   CREATE INDEX flows_host_id ON flows (host, id);
   CREATE INDEX flows_decision_id ON flows (decision, id);
   CREATE INDEX flows_instance_id ON flows (instance, id);
   CREATE INDEX flows_fts ON flows USING gin (fts);
   CREATE TABLE chunks (
     id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     sha256 bytea NOT NULL UNIQUE,
     data bytea NOT NULL,
     deflated smallint NOT NULL,
     text smallint NOT NULL,
     owner bigint NOT NULL,
     last_ref bigint NOT NULL
   );
   CREATE INDEX chunks_last_ref ON chunks (last_ref);
   CREATE INDEX chunks_owner ON chunks (owner);
   CREATE TABLE bodies (
     flow_id bigint NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
     direction text NOT NULL CHECK (direction IN ('request', 'response')),
     content_type text,
     encoding text,
     size bigint NOT NULL,
     truncated smallint NOT NULL,
     chunks bytea NOT NULL,
     PRIMARY KEY (flow_id, direction)
   );
   CREATE TABLE findings (
     id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     flow_id bigint NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
     rule_id text NOT NULL,
     location text NOT NULL,
     action text NOT NULL,
     preview text
   );
   CREATE INDEX findings_flow ON findings (flow_id);
   CREATE TABLE instances (
     name text PRIMARY KEY,
     head_id bigint NOT NULL,
     head_hash text NOT NULL,
     first_seen bigint NOT NULL,
     last_seen bigint NOT NULL
   );`,
  // 2: what agents did and may still do, as the SQLite store's schema 7 (docs/audit.md#sessions):
  // LLM sessions and their turns and the MCP calls (derived by the writer, sessions.cjs and
  // mcp.cjs), and budget counters (proxy/budgets/), shared by every instance on this store.
  `CREATE TABLE llm_sessions (
     id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     agent text NOT NULL,
     provider text NOT NULL,
     first_flow bigint NOT NULL,
     last_flow bigint NOT NULL,
     started_at bigint NOT NULL,
     last_at bigint NOT NULL,
     turns integer NOT NULL,
     first_key bytea NOT NULL,
     history bytea NOT NULL
   );
   CREATE INDEX llm_sessions_continue ON llm_sessions (agent, first_key, last_at);
   CREATE INDEX llm_sessions_last_at ON llm_sessions (last_at);
   CREATE INDEX llm_sessions_last_flow ON llm_sessions (last_flow);
   CREATE TABLE session_turns (
     flow_id bigint PRIMARY KEY REFERENCES flows (id) ON DELETE CASCADE,
     session_id bigint NOT NULL,
     turn integer NOT NULL,
     messages integer NOT NULL,
     new_from integer NOT NULL,
     response_id text,
     tools text
   );
   CREATE INDEX session_turns_session ON session_turns (session_id, turn);
   CREATE INDEX session_turns_response ON session_turns (response_id);
   CREATE TABLE mcp_calls (
     flow_id bigint NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
     seq integer NOT NULL,
     method text NOT NULL,
     tool text,
     rpc_id text,
     arguments text,
     PRIMARY KEY (flow_id, seq)
   );
   CREATE INDEX mcp_calls_tool ON mcp_calls (tool);
   CREATE TABLE budget_counters (
     budget text NOT NULL,
     agent text NOT NULL,
     metric text NOT NULL,
     window_start bigint NOT NULL,
     used bigint NOT NULL,
     PRIMARY KEY (budget, agent, metric, window_start)
   );
   CREATE INDEX budget_counters_window ON budget_counters (window_start);`,
];

const SCHEMA_VERSION = migrations.length;

/** Advisory lock keys: airlock's class ("arl" + purpose) and a number from the schema's name, so two stores in one database do not wait on each other. */
const PURPOSE = { migrate: 1, write: 2, retention: 3 };
function lockKeys(schema, purpose) {
  return [0x61726c00 + PURPOSE[purpose], crypto.createHash('sha256').update(schema).digest().readInt32BE(0)];
}

/** A quoted identifier (the schema's name comes from the policy). */
function ident(name) {
  return `"${String(name).replace(/"/g, '""')}"`;
}

/**
 * Brings the schema up to date; resolves with the versions this call applied (empty when another
 * instance did, or nothing was missing). `by` (the instance) is recorded with each version.
 */
async function migrate(pool, schema, by) {
  const client = await pool.connect();
  const [k1, k2] = lockKeys(schema, 'migrate');
  let broken = false;
  try {
    await client.query('SELECT pg_advisory_lock($1, $2)', [k1, k2]);
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${ident(schema)}.airlock_schema (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now(), applied_by text NOT NULL)`,
      );
      const current = Number((await client.query(`SELECT coalesce(max(version), 0) AS v FROM ${ident(schema)}.airlock_schema`)).rows[0].v);
      if (current > SCHEMA_VERSION) throw new Error(`the PostgreSQL flow store schema version ${current} is newer than this airlock (${SCHEMA_VERSION})`);
      const applied = [];
      for (let v = current; v < SCHEMA_VERSION; v++) {
        await client.query('BEGIN');
        try {
          await client.query(`SET LOCAL search_path TO ${ident(schema)}`);
          await client.query(migrations[v]);
          await client.query(`INSERT INTO ${ident(schema)}.airlock_schema (version, applied_by) VALUES ($1, $2)`, [v + 1, by]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          throw err;
        }
        applied.push(v + 1);
      }
      return applied;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1, $2)', [k1, k2]).catch(() => {
        broken = true;
      });
    }
  } catch (err) {
    broken = true;
    throw err;
  } finally {
    // A connection that failed mid-way may still hold the lock: it is closed, not reused.
    client.release(broken);
  }
}

/** The schema's version (0: not created yet). */
async function schemaVersion(pool, schema) {
  const exists = (await pool.query('SELECT to_regclass($1) IS NOT NULL AS e', [`${ident(schema)}.airlock_schema`])).rows[0].e;
  if (!exists) return 0;
  return Number((await pool.query(`SELECT coalesce(max(version), 0) AS v FROM ${ident(schema)}.airlock_schema`)).rows[0].v);
}

module.exports = { COLUMN_TYPES, SCHEMA_VERSION, migrate, schemaVersion, lockKeys, ident };

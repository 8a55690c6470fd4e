// Versioned migrations, applied in order; PRAGMA user_version records how far a file has come.
import type Database from 'better-sqlite3';

/** Bytes (characters, for pre-existing rows) of each body that full-text search indexes; batch.cjs uses the same cap. */
export const FTS_BODY_CAP = 256 * 1024;
/** The URL as indexed: scheme://host:port/path?query (same text as batch.cjs builds). */
const FTS_URL_SQL = `coalesce(f.scheme, '') || '://' || coalesce(f.host, '') || ':' || coalesce(f.port, '') || coalesce(f.path, '')
          || CASE WHEN f.query IS NOT NULL THEN '?' || f.query ELSE '' END`;
/** Text-like content types (batch.cjs TEXTUAL). */
const FTS_TEXTUAL_SQL = `(b.content_type LIKE 'text/%' OR b.content_type LIKE '%json%' OR b.content_type LIKE '%xml%'
          OR b.content_type LIKE '%javascript%' OR b.content_type LIKE '%x-www-form-urlencoded%' OR b.content_type LIKE '%yaml%'
          OR b.content_type LIKE '%csv%' OR b.content_type LIKE '%graphql%')`;

const migrations: string[] = [
  // 1: flows with headers; bodies and findings get their own tables in later versions.
  `CREATE TABLE flows (
     id INTEGER PRIMARY KEY,
     flow_id TEXT NOT NULL UNIQUE,
     started_at INTEGER NOT NULL,
     entry TEXT NOT NULL,
     listener TEXT NOT NULL,
     client TEXT NOT NULL,
     agent_user TEXT,
     method TEXT,
     scheme TEXT,
     host TEXT,
     port INTEGER,
     path TEXT,
     query TEXT,
     protocol TEXT NOT NULL,
     status INTEGER,
     decision TEXT NOT NULL,
     rule_id TEXT,
     code TEXT,
     reason TEXT,
     error TEXT,
     injected TEXT,
     bytes_up INTEGER NOT NULL,
     bytes_down INTEGER NOT NULL,
     ttfb_ms REAL,
     total_ms REAL,
     request_headers TEXT,
     response_headers TEXT
   );
   CREATE INDEX flows_started_at ON flows(started_at);
   CREATE INDEX flows_host ON flows(host, started_at);
   CREATE INDEX flows_decision ON flows(decision, started_at);`,
  // 2: the audit trail (docs/audit.md): body prefixes, DLP findings, and a hash chain over flows.
  `ALTER TABLE flows ADD COLUMN hash TEXT;
   ALTER TABLE flows ADD COLUMN prev_hash TEXT;
   CREATE TABLE bodies (
     flow_id INTEGER NOT NULL REFERENCES flows(id) ON DELETE CASCADE,
     direction TEXT NOT NULL CHECK (direction IN ('request', 'response')),
     content_type TEXT,
     encoding TEXT,
     size INTEGER NOT NULL,
     truncated INTEGER NOT NULL,
     data BLOB,
     PRIMARY KEY (flow_id, direction)
   );
   CREATE TABLE findings (
     id INTEGER PRIMARY KEY,
     flow_id INTEGER NOT NULL REFERENCES flows(id) ON DELETE CASCADE,
     rule_id TEXT NOT NULL,
     location TEXT NOT NULL,
     action TEXT NOT NULL,
     preview TEXT
   );
   CREATE INDEX findings_flow ON findings(flow_id);`,
  // 3: full-text search (docs/audit.md, proxy/store/search.ts). Contentless: the index keeps no
  // copy of the text, rowid = flows.id. The writer fills it for new flows (batch.cjs); flows
  // written before this version are indexed here from their stored columns and bodies.
  `CREATE VIRTUAL TABLE flows_fts USING fts5(
     url, headers, bodies,
     content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
   );
   INSERT INTO flows_fts (rowid, url, headers, bodies)
   SELECT f.id,
          ${FTS_URL_SQL},
          coalesce(f.request_headers, '') || char(10) || coalesce(f.response_headers, ''),
          coalesce((SELECT group_concat(substr(CAST(b.data AS TEXT), 1, ${FTS_BODY_CAP}), char(10)) FROM bodies b
                     WHERE b.flow_id = f.id AND b.encoding IS NULL AND ${FTS_TEXTUAL_SQL}), '')
     FROM flows f;
   CREATE TRIGGER flows_fts_delete AFTER DELETE ON flows BEGIN
     DELETE FROM flows_fts WHERE rowid = old.id;
   END;`,
  // 4: LLM calls (proxy/llm.ts): model, token usage, stop reason and tool names (a JSON array).
  // NULL for every other flow and for flows written before this version.
  `ALTER TABLE flows ADD COLUMN llm_provider TEXT;
   ALTER TABLE flows ADD COLUMN llm_model TEXT;
   ALTER TABLE flows ADD COLUMN llm_input_tokens INTEGER;
   ALTER TABLE flows ADD COLUMN llm_output_tokens INTEGER;
   ALTER TABLE flows ADD COLUMN llm_stop_reason TEXT;
   ALTER TABLE flows ADD COLUMN llm_tools TEXT;`,
  // 5: newest-first listing filtered by one host or one decision: (host, id) and (decision, id)
  // let SQLite walk backwards and stop at the page size instead of sorting every match
  // (bench/search.ts: 439 ms -> under 1 ms for a host with 300,000 flows).
  `CREATE INDEX flows_host_id ON flows(host, id);
   CREATE INDEX flows_decision_id ON flows(decision, id);`,
  // 6: bodies stored by content (docs/audit.md, chunks.cjs): a body is a list of chunks (the
  // elements of a JSON body, content-defined pieces of anything else), each kept once however
  // many flows send it again, as an agent resends its conversation every turn. A flow's body row
  // keeps its metadata and `chunks` (the chunk ids, LEB128) instead of `data`; rows written
  // before keep their `data`. A chunk's text is indexed once, in the full-text row of its
  // `owner` (the flow that first stored it); `last_ref` is a flow that refers to it, at most
  // batch.cjs TOUCH_LAG flows before the newest one, so retention (which deletes the oldest flows
  // first) knows when it is no longer needed. `deflated`:
  // `data` is raw-deflated (the SHA-256 is of the bytes as sent).
  `CREATE TABLE chunks (
     id INTEGER PRIMARY KEY,
     sha256 BLOB NOT NULL UNIQUE,
     data BLOB NOT NULL,
     deflated INTEGER NOT NULL,
     text INTEGER NOT NULL,
     owner INTEGER NOT NULL,
     last_ref INTEGER NOT NULL
   );
   CREATE INDEX chunks_last_ref ON chunks(last_ref);
   CREATE INDEX chunks_owner ON chunks(owner);
   ALTER TABLE bodies ADD COLUMN chunks BLOB;`,
  // 7: what agents did and may still do (docs/audit.md#sessions, docs/policy.md#budgets). Tables of
  // their own, derived from the flows and their bodies by the writer (sessions.cjs) and so outside
  // the hash chain; plain tables and indexes.
  // llm_sessions: a conversation of one agent (agent_user, else "listener:ADDR"): LLM calls whose
  // message history extends the previous call's. `first_key` (the first message's hash) and
  // `history` (8-byte hashes of the last call's messages) find the session a new call continues.
  // session_turns: one row per LLM call of a session; messages from `new_from` on are new in it;
  // `tools`: the tools its answer called (JSON array).
  // mcp_calls: the JSON-RPC calls of MCP requests (method, tool, arguments as stored, DLP-redacted).
  // budget_counters: what each agent used of each budget per window (proxy/budgets/), shared by
  // every airlock process writing this store.
  `CREATE TABLE llm_sessions (
     id INTEGER PRIMARY KEY,
     agent TEXT NOT NULL,
     provider TEXT NOT NULL,
     first_flow INTEGER NOT NULL,
     last_flow INTEGER NOT NULL,
     started_at INTEGER NOT NULL,
     last_at INTEGER NOT NULL,
     turns INTEGER NOT NULL,
     first_key BLOB NOT NULL,
     history BLOB NOT NULL
   );
   CREATE INDEX llm_sessions_continue ON llm_sessions(agent, first_key, last_at);
   CREATE INDEX llm_sessions_last_at ON llm_sessions(last_at);
   CREATE INDEX llm_sessions_last_flow ON llm_sessions(last_flow);
   CREATE TABLE session_turns (
     flow_id INTEGER PRIMARY KEY REFERENCES flows(id) ON DELETE CASCADE,
     session_id INTEGER NOT NULL,
     turn INTEGER NOT NULL,
     messages INTEGER NOT NULL,
     new_from INTEGER NOT NULL,
     response_id TEXT,
     tools TEXT
   );
   CREATE INDEX session_turns_session ON session_turns(session_id, turn);
   CREATE INDEX session_turns_response ON session_turns(response_id);
   CREATE TABLE mcp_calls (
     flow_id INTEGER NOT NULL REFERENCES flows(id) ON DELETE CASCADE,
     seq INTEGER NOT NULL,
     method TEXT NOT NULL,
     tool TEXT,
     rpc_id TEXT,
     arguments TEXT,
     PRIMARY KEY (flow_id, seq)
   );
   CREATE INDEX mcp_calls_tool ON mcp_calls(tool);
   CREATE TABLE budget_counters (
     budget TEXT NOT NULL,
     agent TEXT NOT NULL,
     metric TEXT NOT NULL,
     window_start INTEGER NOT NULL,
     used INTEGER NOT NULL,
     PRIMARY KEY (budget, agent, metric, window_start)
   );
   CREATE INDEX budget_counters_window ON budget_counters(window_start);`,
  // 8: instances (docs/audit.md, "Several instances"): each flow names the airlock instance that
  // handled it (store.instance), and each instance extends a hash chain of its own; `instances`
  // keeps each chain's head, so a chain continues (and its end is checked) whatever retention
  // deleted. Flows from before carry no instance: they stay one chain of their own.
  `ALTER TABLE flows ADD COLUMN instance TEXT;
   CREATE INDEX flows_instance_id ON flows(instance, id);
   CREATE TABLE instances (
     name TEXT PRIMARY KEY,
     head_id INTEGER NOT NULL,
     head_hash TEXT NOT NULL,
     first_seen INTEGER NOT NULL,
     last_seen INTEGER NOT NULL
   );`,
];

/** The schema version this airlock writes. */
export const SCHEMA_VERSION = migrations.length;

/** Applies the migrations up to `target` (default: all; a lower target is for tests of upgrades). */
export function migrate(db: Database.Database, target = migrations.length): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length) {
    throw new Error(`flow store schema version ${current} is newer than this airlock (${migrations.length})`);
  }
  for (let v = current; v < target; v++) {
    db.transaction(() => {
      db.exec(migrations[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

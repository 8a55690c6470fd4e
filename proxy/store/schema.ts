// Versioned migrations, applied in order; PRAGMA user_version records how far a file has come.
import type Database from 'better-sqlite3';

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
];

/** The schema version this airlock writes. */
export const SCHEMA_VERSION = migrations.length;

export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length) {
    throw new Error(`flow store schema version ${current} is newer than this airlock (${migrations.length})`);
  }
  for (let v = current; v < migrations.length; v++) {
    db.transaction(() => {
      db.exec(migrations[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

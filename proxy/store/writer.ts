// Batched flow writer: flows queue in memory and are written in one transaction per batch,
// so the proxy's request path never waits on a per-row fsync.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Flow } from '../flow.ts';
import { migrate } from './schema.ts';

const BATCH = 500;
const FLUSH_MS = 50;
/** Past this many queued flows, record() writes synchronously: backpressure, never a silent drop. */
const MAX_QUEUE = 20_000;

export class FlowStore {
  readonly db: Database.Database;
  private queue: Flow[] = [];
  private timer: NodeJS.Timeout | undefined;
  private insert: Database.Statement;
  readonly stats = { written: 0, highWater: 0, batches: 0 };

  constructor(file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    migrate(this.db);
    this.insert = this.db.prepare(`INSERT INTO flows (
      flow_id, started_at, entry, listener, client, agent_user, method, scheme, host, port, path, query,
      protocol, status, decision, rule_id, code, reason, error, injected, bytes_up, bytes_down, ttfb_ms,
      total_ms, request_headers, response_headers)
      VALUES (@id, @startedAt, @entry, @listener, @client, @agentUser, @method, @scheme, @host, @port,
      @path, @query, @protocol, @status, @decision, @ruleId, @code, @reason, @error, @injected, @bytesUp,
      @bytesDown, @ttfbMs, @totalMs, @requestHeaders, @responseHeaders)`);
  }

  record(flow: Flow): void {
    this.queue.push(flow);
    if (this.queue.length > this.stats.highWater) this.stats.highWater = this.queue.length;
    if (this.queue.length >= MAX_QUEUE) this.flush();
    else if (this.queue.length >= BATCH) setImmediate(() => this.flush());
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.db.transaction((flows: Flow[]) => {
      for (const f of flows) this.insert.run(toRow(f));
    })(batch);
    this.stats.written += batch.length;
    this.stats.batches++;
  }

  close(): void {
    this.flush();
    this.db.close();
  }
}

function toRow(f: Flow): Record<string, unknown> {
  return {
    id: f.id,
    startedAt: f.startedAt,
    entry: f.entry,
    listener: f.listener,
    client: f.client,
    agentUser: f.agentUser ?? null,
    method: f.method ?? null,
    scheme: f.scheme ?? null,
    host: f.host ?? null,
    port: f.port ?? null,
    path: f.path ?? null,
    query: f.query ?? null,
    protocol: f.protocol,
    status: f.status ?? null,
    decision: f.decision,
    ruleId: f.ruleId ?? null,
    code: f.code ?? null,
    reason: f.reason ?? null,
    error: f.error ?? null,
    injected: f.injected?.length ? JSON.stringify(f.injected) : null,
    bytesUp: f.bytesUp,
    bytesDown: f.bytesDown,
    ttfbMs: f.ttfbMs ?? null,
    totalMs: f.totalMs ?? null,
    requestHeaders: f.requestHeaders ? JSON.stringify(f.requestHeaders) : null,
    responseHeaders: f.responseHeaders ? JSON.stringify(f.responseHeaders) : null,
  };
}

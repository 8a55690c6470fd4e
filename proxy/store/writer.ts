// The flow store. record() only queues a row; batches go to a writer thread that inserts them in
// one transaction each, so neither inserts nor WAL checkpoints (fsync) stall the proxy's thread.
// Bodies (capped prefixes, see capture.ts) travel with their flow in one transferred blob.
// What happens when the store cannot write (backlog, probes, refusing or serving unrecorded) is
// writer-thread.ts and availability.ts.
import type Database from 'better-sqlite3';
import { createRequire } from 'node:module';
import { type StoredBody, storedBodies } from '../capture.ts';
import type { Flow } from '../flow.ts';
import type { BodyMeta } from './batch.ts';
import { llmApi, llmInfo, type LlmApi, type LlmInfo } from '../llm.ts';
import { storedFinding } from '../dlp/record.ts';
import type { OnUnavailable, StoreEvent, StoreStatus } from './availability.ts';
import type { PendingBatch } from './backlog.ts';
import { openStoreFile } from './open.ts';
import { llmValues, toRow } from './rows.ts';
import type { MinFree } from './space.ts';
import { type CounterRow, type PgState, type RetentionResult, WriterThread } from './writer-thread.ts';

export type { CounterRow } from './writer-thread.ts';

/** What budgets keep in the store (proxy/budgets/budgets.ts uses it). */
export interface CounterStore {
  claim(key: [string, string, string, number], want: number, max: number): Promise<number | null>;
  add(rows: CounterRow[]): void;
  read(from: number): Promise<CounterRow[] | null>;
  /** The same read, synchronously on this thread's connection (at start). */
  readNow(from: number): CounterRow[];
}

export type { PgState, RetentionResult } from './writer-thread.ts';

/** The PostgreSQL store (store.postgres): where it is, and the local spool for when it cannot take writes. */
export interface PgTarget {
  /** postgres://user:password@host:port/db?sslmode=verify-full (a secret: never logged). */
  url: string;
  schema: string;
  spool: { path: string; maxBytes: number };
  /** A write in progress this long means PostgreSQL is slow: it and what waits behind it are spooled (default 5 s). */
  slowMs?: number;
  /** Per statement (default 30 s); a write past it fails and its batch is spooled. */
  statementTimeoutMs?: number;
  connectTimeoutMs?: number;
}

/** A SQLite file (the embedded default), or PostgreSQL. */
export type StoreTarget = string | { postgres: PgTarget };

const BATCH = 200;
/**
 * A batch is sent early once its bodies reach this size. Kept small: the batch's blob counts as
 * V8 external memory until the next GC, and V8 starts a mark-compact once external memory fills
 * the old generation's room. Measured when that room was ~8 MB: with 4 MiB blobs agent traffic
 * (184 KB bodies) paid ~3.5 mark-compacts a second, with 1 MiB ~1 (bench/agent-cpu.ts: 7-12 % less
 * CPU per request). airlock now starts with 32 MB of room (proxy/airlock.js), which removes most
 * of them either way. Measured again with that room and the external memory watch
 * (memory-watch.ts): 1 MiB and 4 MiB gave the same CPU and peak RSS within this machine's noise.
 */
const BATCH_BYTES = 1024 * 1024;
const FLUSH_MS = 20;
const NO_BODIES: StoredBody[] = [];

type Queued = [row: unknown[], bodies: StoredBody[]];

/** Default seconds between retention runs; AIRLOCK_RETENTION_INTERVAL_MS or the option overrides. */
const RETENTION_INTERVAL_MS = 60_000;

export interface FlowStoreOptions {
  /** store.retention from the policy; no limit set means no retention runs. */
  retention?: { maxAgeMs?: number; maxBytes?: number };
  /** How often the writer thread enforces retention (tests use a short interval). */
  retentionIntervalMs?: number;
  /** store.on_unavailable: while the store cannot write, refuse new requests (default) or serve them unrecorded. */
  onUnavailable?: OnUnavailable;
  /** store.min_free: free space kept on the store's file system; at or below it the store counts as full. */
  minFree?: MinFree;
  /** State changes and dropped flows (main.ts logs them); default: one JSON line on stderr. */
  onEvent?: (e: StoreEvent) => void;
  /** An LLM call's fields, once read from its stored bodies (budgets count its tokens). */
  onLlm?: (flow: Flow, info: LlmInfo) => void;
  /**
   * store.instance: the airlock instance whose flows these are; they carry its name and extend its
   * own hash chain. Required for PostgreSQL; without it a SQLite store keeps the chain of flows
   * without an instance (as before schema 8).
   */
  instance?: string | null;
}

export class FlowStore {
  readonly stats = { written: 0, failed: 0, highWater: 0, batches: 0, syncWrites: 0, retentionDeleted: 0, retentionRuns: 0 };
  readonly kind: 'sqlite' | 'postgres';
  private connection: Database.Database | undefined;
  private readonly thread: WriterThread;
  private batch: Queued[] = [];
  private batchBytes = 0;
  /** Flows whose bodies are still being decoded. */
  private preparing = 0;
  private timer: NodeJS.Timeout | undefined;
  private prepWaiters: (() => void)[] = [];
  private readers: (() => void)[] = [];
  private readonly onLlm: FlowStoreOptions['onLlm'];

  constructor(target: StoreTarget, opts: FlowStoreOptions = {}) {
    this.onLlm = opts.onLlm;
    const common = {
      retention: retentionOf(opts),
      onUnavailable: opts.onUnavailable ?? 'refuse',
      minFree: opts.minFree,
      onEvent: opts.onEvent ?? ((e: StoreEvent) => process.stderr.write(`${JSON.stringify({ level: e.level, msg: e.msg, ...e.fields })}\n`)),
    } as const;
    if (typeof target !== 'string') {
      const pg = target.postgres;
      if (!opts.instance) throw new Error('the PostgreSQL flow store needs an instance name (store.instance)');
      this.kind = 'postgres';
      this.thread = new WriterThread({
        ...common,
        script: 'proxy/store/pg/writer-worker.cjs',
        workerData: {
          url: pg.url,
          schema: pg.schema,
          instance: opts.instance,
          spool: pg.spool,
          slowMs: pg.slowMs,
          statementTimeoutMs: pg.statementTimeoutMs,
          connectTimeoutMs: pg.connectTimeoutMs,
          pg: createRequire(import.meta.url).resolve('pg'),
        },
      });
    } else {
      const file = target;
      this.kind = 'sqlite';
      this.connection = openStoreFile(file);
      this.thread = new WriterThread({
        ...common,
        script: 'proxy/store/writer-worker.cjs',
        workerData: { file, instance: opts.instance ?? null },
        sqlite: {
          file,
          instance: opts.instance ?? null,
          db: () => this.db,
          closeConnections: () => {
            for (const close of this.readers) close();
            try {
              this.connection?.close();
            } catch {
              // closing a connection to a deleted or failing file: nothing to keep
            }
          },
          openDb: () => {
            this.connection = openStoreFile(file);
          },
        },
      });
    }
    // The thread's counters, seen through this object's stats (as before the thread had them).
    const t = this.thread.stats;
    Object.defineProperties(this.stats, {
      written: { get: () => t.written, enumerable: true },
      failed: { get: () => t.failed, enumerable: true },
      syncWrites: { get: () => t.syncWrites, enumerable: true },
      retentionDeleted: { get: () => t.retentionDeleted, enumerable: true },
      retentionRuns: { get: () => t.retentionRuns, enumerable: true },
    });
  }

  /** This thread's connection: migrations, reads, and the overload fallback. A new one after the file was deleted and made anew. SQLite only. */
  get db(): Database.Database {
    if (!this.connection) throw new Error('the PostgreSQL flow store has no SQLite connection');
    return this.connection;
  }

  /** PostgreSQL and its local spool as the writer thread last reported them (the PostgreSQL store only). */
  pg(): PgState | undefined {
    return this.thread.pg;
  }

  /**
   * `close` runs when the store file was deleted or replaced under airlock, before a new one is
   * opened at its path: a reader with a connection of its own (the web UI) closes it then, and
   * opens one again when it next needs it.
   */
  onReopen(close: () => void): void {
    this.readers.push(close);
  }

  /** Whether the store writes, what airlock does meanwhile, and what to tell agents (availability.ts). */
  get availability() {
    return this.thread.availability;
  }

  status(): StoreStatus {
    return this.thread.availability.status();
  }

  /** Free bytes on the store's file system and the floor airlock keeps there, as last checked. */
  space(): { free: number; floor: number } {
    return this.thread.space;
  }

  record(flow: Flow): void {
    const row = toRow(flow);
    const captured = flow.bodies;
    if (!captured) return this.enqueue(this.complete(row, flow, NO_BODIES), NO_BODIES);
    flow.bodies = undefined; // the flow may outlive this call (metrics, log); the bytes need not
    const bodies = storedBodies(captured, flow.requestHeaders, flow.responseHeaders);
    if (!(bodies instanceof Promise)) return this.enqueue(this.complete(row, flow, bodies), bodies);
    this.preparing++;
    bodies.then(
      (b) => this.prepared(this.complete(row, flow, b), b),
      () => this.prepared(this.complete(row, flow, NO_BODIES), NO_BODIES),
    );
  }

  /** A flow whose bodies a worker already made ready for the store (storedBodies, proxy/workers/). */
  recordStored(flow: Flow, bodies: StoredBody[]): void {
    this.enqueue(this.complete(toRow(flow), flow, bodies), bodies);
  }

  /**
   * The row with its LLM columns (schema 4), then the DLP findings and what the writer derives
   * tables from (schema 7), each one JSON element after the columns (batch.cjs).
   */
  private complete(row: unknown[], flow: Flow, bodies: StoredBody[]): unknown[] {
    const api = flow.method === 'POST' ? llmApi(flow.path) : null;
    const info = api ? llmOf(flow, bodies) : null;
    row.push(...llmValues(info));
    const findings = flow.findings?.length ? JSON.stringify(flow.findings.map(storedFinding)) : null;
    const derived = api || flow.mcp ? JSON.stringify(derivedOf(api, info, flow)) : null;
    if (findings || derived) row.push(findings);
    if (derived) row.push(derived);
    if (info && this.onLlm) this.onLlm(flow, info);
    return row;
  }

  /** Flows recorded but not yet committed (the backlog included). */
  queueDepth(): number {
    return this.preparing + this.thread.pending() + this.batch.length;
  }

  /** Flows waiting in memory because the store could not write them yet. */
  backlog(): number {
    return this.thread.backlogFlows();
  }

  /**
   * Resolves once every flow recorded so far is committed, or waits in the backlog. PostgreSQL:
   * committed there, spooled flows replayed too, unless PostgreSQL cannot take writes (then they
   * wait in the spool). close() flushes first, so a graceful stop leaves nothing in the spool that
   * PostgreSQL could have taken.
   */
  async flush(): Promise<void> {
    while (this.preparing > 0) await new Promise<void>((resolve) => this.prepWaiters.push(resolve));
    this.send();
    await this.thread.flush();
    if (this.kind === 'postgres') await this.thread.spoolDrained();
  }

  /** Budget counters kept in the store (proxy/budgets/), through the writer thread. */
  get counters(): CounterStore {
    const t = this.thread;
    return {
      claim: (key, want, max) => t.claim(key, want, max),
      add: (rows) => t.addCounters(rows),
      read: (from) => t.readCounters(from),
      readNow: (from) => {
        // PostgreSQL: no connection on this thread; the first read through the writer thread follows within a second.
        if (!this.connection) return [];
        try {
          return this.connection.prepare('SELECT budget, agent, metric, window_start, used FROM budget_counters WHERE window_start >= ?').raw().all(from) as CounterRow[];
        } catch {
          return [];
        }
      },
    };
  }

  /** Runs retention now on the writer thread (after the flows already sent); resolves with what it did. */
  async enforceRetention(): Promise<RetentionResult> {
    await this.flush();
    return this.thread.retain();
  }

  async close(): Promise<void> {
    await this.flush();
    await this.thread.close();
    this.connection?.close();
  }

  private prepared(row: unknown[], bodies: StoredBody[]): void {
    this.preparing--;
    this.enqueue(row, bodies);
    if (this.preparing === 0) for (const w of this.prepWaiters.splice(0)) w();
  }

  private enqueue(row: unknown[], bodies: StoredBody[]): void {
    this.batch.push([row, bodies]);
    for (const b of bodies) this.batchBytes += b.data.length;
    const queued = this.queueDepth();
    if (queued > this.stats.highWater) this.stats.highWater = queued;
    if (this.batch.length >= BATCH || this.batchBytes >= BATCH_BYTES) this.send();
    else this.timer ??= setTimeout(() => this.send(), FLUSH_MS);
  }

  private send(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.batch.length === 0) return;
    const queued = this.batch;
    const bytes = this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    this.stats.batches++;
    this.thread.send(pack(queued, bytes));
  }
}

function retentionOf(opts: FlowStoreOptions): { maxAgeMs?: number; maxBytes?: number; intervalMs: number } | null {
  const r = opts.retention;
  if (!r || (r.maxAgeMs === undefined && r.maxBytes === undefined)) return null;
  const env = Number(process.env.AIRLOCK_RETENTION_INTERVAL_MS);
  const intervalMs = opts.retentionIntervalMs ?? (Number.isFinite(env) && env > 0 ? env : RETENTION_INTERVAL_MS);
  return { maxAgeMs: r.maxAgeMs, maxBytes: r.maxBytes, intervalMs };
}

/**
 * An LLM call's fields: read once per flow from the stored (decoded, capped, scrubbed) bodies,
 * and only for a POST to an LLM API path; every other flow gets NULLs.
 */
function llmOf(flow: Flow, bodies: StoredBody[]): LlmInfo | null {
  let request: Buffer | null = null;
  let response: string | null = null;
  let contentType: string | null = null;
  for (const b of bodies) {
    if (b.encoding !== null) continue; // still compressed (an unknown coding): nothing to read
    if (b.direction === 'request') request = b.data;
    else {
      response = b.data.toString('utf8');
      contentType = b.contentType;
    }
  }
  return llmInfo(flow.host, flow.path, request, contentType, response);
}

/** What batch.cjs files into llm_sessions / session_turns and mcp_calls for this flow. */
function derivedOf(api: LlmApi | null, info: LlmInfo | null, flow: Flow): { api?: LlmApi; called?: string[]; mcp?: Flow['mcp'] } {
  return { ...(api ? { api } : {}), ...(info?.called.length ? { called: info.called } : {}), ...(flow.mcp ? { mcp: flow.mcp } : {}) };
}

/**
 * A batch as the writer thread takes it: positional rows and body descriptors as one JSON string
 * (cheaper to hand across threads than structured-cloning rows), and every body's bytes copied
 * once into one blob whose ArrayBuffer is transferred, not copied. A body whose pieces the DLP
 * scanner already hashed carries their ranges, and their SHA-256s follow the bodies in the blob.
 */
function pack(queued: Queued[], bytes: number): PendingBatch {
  const rows: unknown[][] = new Array(queued.length);
  const bodies: BodyMeta[] = [];
  let digestBytes = 0;
  for (const [, bs] of queued) for (const b of bs) if (b.pieces) digestBytes += 32 * b.pieces.digests.length;
  // allocUnsafeSlow: an ArrayBuffer of its own (never the shared pool), so it can be transferred.
  const blob = bytes + digestBytes === 0 ? undefined : Buffer.allocUnsafeSlow(bytes + digestBytes);
  let offset = 0;
  let digestAt = bytes;
  for (let i = 0; i < queued.length; i++) {
    const [row, bs] = queued[i];
    rows[i] = row;
    for (const b of bs) {
      if (b.data.length) b.data.copy(blob!, offset); // a body DLP stopped before releasing a byte keeps its size, no data
      const meta = [i, b.direction, b.contentType, b.encoding, b.size, b.truncated ? 1 : 0, offset, b.data.length] as const;
      if (b.pieces) {
        bodies.push([...meta, b.pieces.ranges, digestAt]);
        for (const d of b.pieces.digests) digestAt += d.copy(blob!, digestAt);
      } else bodies.push([...meta]);
      offset += b.data.length;
    }
  }
  return { json: JSON.stringify({ rows, bodies }), blob: blob?.buffer as ArrayBuffer | undefined, count: rows.length, bytes: bytes + digestBytes };
}

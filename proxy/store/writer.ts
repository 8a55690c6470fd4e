// The flow store. record() only queues a row; batches go to a writer thread that inserts them in
// one transaction each, so neither inserts nor WAL checkpoints (fsync) stall the proxy's thread.
// Bodies (capped prefixes, see capture.ts) travel with their flow in one transferred blob.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { type StoredBody, storedBodies } from '../capture.ts';
import type { Flow } from '../flow.ts';
import { packageFile } from '../package-file.ts';
import { type BodyMeta, createBatchWriter } from './batch.ts';
import { llmInfo, llmProvider } from '../llm.ts';
import { storedFinding } from '../dlp/record.ts';
import { COLUMNS, llmValues, NO_LLM, STORED_COLUMNS, toRow } from './rows.ts';
import { migrate } from './schema.ts';

const BATCH = 200;
/** A batch is sent early once its bodies reach this size. */
const BATCH_BYTES = 4 * 1024 * 1024;
const FLUSH_MS = 20;
/** Past this many rows (or body bytes) the writer has not confirmed, record() writes on this
 * thread: the proxy slows down (backpressure) rather than dropping a flow or growing without bound. */
const MAX_IN_FLIGHT = 20_000;
const MAX_IN_FLIGHT_BYTES = 64 * 1024 * 1024;
const NO_BODIES: StoredBody[] = [];

type Queued = [row: unknown[], bodies: StoredBody[]];

/** Default seconds between retention runs; AIRLOCK_RETENTION_INTERVAL_MS or the option overrides. */
const RETENTION_INTERVAL_MS = 60_000;

export interface FlowStoreOptions {
  /** store.retention from the policy; no limit set means no retention runs. */
  retention?: { maxAgeMs?: number; maxBytes?: number };
  /** How often the writer thread enforces retention (tests use a short interval). */
  retentionIntervalMs?: number;
}

export interface RetentionResult {
  deleted: number;
  /** Bytes the store uses afterwards (used pages * page size). */
  bytes: number;
}

export class FlowStore {
  /** This thread's connection: migrations, reads, and the overload fallback. */
  readonly db: Database.Database;
  readonly stats = { written: 0, failed: 0, highWater: 0, batches: 0, syncWrites: 0, retentionDeleted: 0, retentionRuns: 0 };
  private worker: Worker;
  private batch: Queued[] = [];
  private batchBytes = 0;
  private inFlight = 0;
  private inFlightBytes = 0;
  /** Flows whose bodies are still being decoded. */
  private preparing = 0;
  private timer: NodeJS.Timeout | undefined;
  private waiters: (() => void)[] = [];
  private prepWaiters: (() => void)[] = [];
  private fallback: ReturnType<typeof createBatchWriter> | undefined;
  private retentionWaiters = new Map<number, (r: RetentionResult) => void>();
  private retentionSeq = 0;

  constructor(file: string, opts: FlowStoreOptions = {}) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // The store holds what agents sent: owner-only, and SQLite gives -wal/-shm the same mode.
    fs.closeSync(fs.openSync(file, 'a', 0o600));
    fs.chmodSync(file, 0o600);
    this.db = new Database(file);
    // A new store gives freed pages back to the file system (retention runs incremental_vacuum).
    // auto_vacuum can only be chosen before the first table exists, and before WAL is enabled.
    // 16 KiB pages suit rows that carry headers and bodies (bench/writer.ts: +19% inserts).
    if (this.db.pragma('user_version', { simple: true }) === 0 && this.db.pragma('page_count', { simple: true }) === 0) {
      this.db.pragma('page_size = 16384');
      this.db.pragma('auto_vacuum = INCREMENTAL');
    }
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
    migrate(this.db);
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(packageFile('proxy/store/writer-worker.cjs'), {
      workerData: { file, columns: STORED_COLUMNS, hashed: COLUMNS.length, driver, retention: retentionOf(opts) },
      // The writer holds one batch at a time: a small heap keeps the second isolate cheap.
      // (Body bytes arrive as a transferred ArrayBuffer, outside the heap.)
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 },
    });
    this.worker.on('message', (m: WorkerMessage) => (m.retained ? this.retained(m.retained, m.seq) : this.confirmed(m)));
    this.worker.on('error', (err) => process.stderr.write(`airlock: flow writer failed: ${err.message}\n`));
  }

  record(flow: Flow): void {
    const row = toRow(flow);
    const captured = flow.bodies;
    if (!captured) return this.enqueue(withFindings(withLlm(row, flow, NO_BODIES), flow), NO_BODIES);
    flow.bodies = undefined; // the flow may outlive this call (metrics, log); the bytes need not
    const bodies = storedBodies(captured, flow.requestHeaders, flow.responseHeaders);
    if (!(bodies instanceof Promise)) return this.enqueue(withFindings(withLlm(row, flow, bodies), flow), bodies);
    this.preparing++;
    bodies.then(
      (b) => this.prepared(withFindings(withLlm(row, flow, b), flow), b),
      () => this.prepared(withFindings(withLlm(row, flow, NO_BODIES), flow), NO_BODIES),
    );
  }

  /** Flows recorded but not yet committed. */
  queueDepth(): number {
    return this.preparing + this.inFlight + this.batch.length;
  }

  /** Resolves once every flow recorded so far is committed. */
  async flush(): Promise<void> {
    while (this.preparing > 0) await new Promise<void>((resolve) => this.prepWaiters.push(resolve));
    this.send();
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Runs retention now on the writer thread (after the flows already sent); resolves with what it did. */
  async enforceRetention(): Promise<RetentionResult> {
    await this.flush();
    const seq = ++this.retentionSeq;
    return new Promise((resolve) => {
      this.retentionWaiters.set(seq, resolve);
      this.worker.postMessage({ retain: true, seq });
    });
  }

  private retained(r: RetentionResult & { error?: string }, seq: number | undefined): void {
    this.stats.retentionRuns++;
    this.stats.retentionDeleted += r.deleted;
    if (r.error) process.stderr.write(`airlock: flow retention failed: ${r.error}\n`);
    const waiter = seq === undefined ? undefined : this.retentionWaiters.get(seq);
    if (waiter) {
      this.retentionWaiters.delete(seq!);
      waiter({ deleted: r.deleted, bytes: r.bytes });
    }
  }

  async close(): Promise<void> {
    await this.flush();
    await new Promise<void>((resolve) => {
      this.worker.on('message', (m: { closed?: boolean }) => m.closed && resolve());
      this.worker.postMessage({ close: true });
    });
    await this.worker.terminate();
    this.db.close();
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
    const { rows, bodies, blob } = pack(queued, bytes);
    if (this.inFlight >= MAX_IN_FLIGHT || this.inFlightBytes >= MAX_IN_FLIGHT_BYTES) return this.writeHere(rows, bodies, blob);
    this.inFlight += rows.length;
    this.inFlightBytes += bytes;
    // Rows and body descriptors as one JSON string (cheaper to hand across threads than
    // structured-cloning rows); the body bytes in one blob whose ArrayBuffer is transferred.
    const json = JSON.stringify({ rows, bodies });
    if (bytes === 0) this.worker.postMessage({ json, count: rows.length, bytes });
    else this.worker.postMessage({ json, blob: blob.buffer, count: rows.length, bytes }, [blob.buffer as ArrayBuffer]);
  }

  private writeHere(rows: unknown[][], bodies: BodyMeta[], blob: Buffer): void {
    this.fallback ??= createBatchWriter(this.db, STORED_COLUMNS, COLUMNS.length);
    this.fallback(rows, bodies, blob);
    this.stats.written += rows.length;
    this.stats.syncWrites++;
  }

  private confirmed(m: { written?: number; failed?: number; bytes?: number; error?: string }): void {
    if (m.written) this.stats.written += m.written;
    if (m.failed) {
      this.stats.failed += m.failed;
      process.stderr.write(`airlock: could not record ${m.failed} flows: ${m.error}\n`);
    }
    this.inFlight -= (m.written ?? 0) + (m.failed ?? 0);
    this.inFlightBytes -= m.bytes ?? 0;
    if (this.inFlight === 0) for (const w of this.waiters.splice(0)) w();
  }
}

type WorkerMessage = {
  written?: number;
  failed?: number;
  bytes?: number;
  error?: string;
  retained?: RetentionResult & { error?: string };
  seq?: number;
};

function retentionOf(opts: FlowStoreOptions): { maxAgeMs?: number; maxBytes?: number; intervalMs: number } | null {
  const r = opts.retention;
  if (!r || (r.maxAgeMs === undefined && r.maxBytes === undefined)) return null;
  const env = Number(process.env.AIRLOCK_RETENTION_INTERVAL_MS);
  const intervalMs = opts.retentionIntervalMs ?? (Number.isFinite(env) && env > 0 ? env : RETENTION_INTERVAL_MS);
  return { maxAgeMs: r.maxAgeMs, maxBytes: r.maxBytes, intervalMs };
}

/**
 * The row with its LLM columns (schema 4): read once per flow from the stored (decoded, capped,
 * scrubbed) bodies, and only for a POST to an LLM API path; every other flow gets NULLs.
 */
/** DLP findings travel as one JSON element after the columns (batch.cjs writes the findings rows). */
function withFindings(row: unknown[], flow: Flow): unknown[] {
  if (flow.findings?.length) row.push(JSON.stringify(flow.findings.map(storedFinding)));
  return row;
}

function withLlm(row: unknown[], flow: Flow, bodies: StoredBody[]): unknown[] {
  if (flow.method !== 'POST' || !llmProvider(flow.path)) {
    row.push(...NO_LLM);
    return row;
  }
  let request: string | null = null;
  let response: string | null = null;
  let contentType: string | null = null;
  for (const b of bodies) {
    if (b.encoding !== null) continue; // still compressed (an unknown coding): nothing to read
    if (b.direction === 'request') request = b.data.toString('utf8');
    else {
      response = b.data.toString('utf8');
      contentType = b.contentType;
    }
  }
  row.push(...llmValues(llmInfo(flow.host, flow.path, request, contentType, response)));
  return row;
}

/** Positional rows, body descriptors, and every body's bytes copied once into one unpooled blob. */
function pack(queued: Queued[], bytes: number): { rows: unknown[][]; bodies: BodyMeta[]; blob: Buffer } {
  const rows: unknown[][] = new Array(queued.length);
  const bodies: BodyMeta[] = [];
  // allocUnsafeSlow: an ArrayBuffer of its own (never the shared pool), so it can be transferred.
  const blob = bytes === 0 ? Buffer.alloc(0) : Buffer.allocUnsafeSlow(bytes);
  let offset = 0;
  for (let i = 0; i < queued.length; i++) {
    const [row, bs] = queued[i];
    rows[i] = row;
    for (const b of bs) {
      b.data.copy(blob, offset);
      bodies.push([i, b.direction, b.contentType, b.encoding, b.size, b.truncated ? 1 : 0, offset, b.data.length]);
      offset += b.data.length;
    }
  }
  return { rows, bodies, blob };
}

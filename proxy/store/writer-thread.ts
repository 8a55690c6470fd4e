// Gets batches of flows into SQLite through the writer thread (writer-worker.cjs), whatever the
// store's file system does. A batch the store cannot take comes back whole and waits in a bounded
// backlog (backlog.ts); the store is then unavailable (availability.ts) until a probe with backoff
// finds it writable and the backlog is written, oldest first, one batch at a time, so the hash
// chain simply continues. A deleted store file is closed and a new one opened at its path; a
// failed writer thread is started again.
import type Database from 'better-sqlite3';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { packageFile } from '../package-file.ts';
import { type OnUnavailable, type StoreEvent, type StoreProblem, StoreAvailability } from './availability.ts';
import { Backlog, type PendingBatch } from './backlog.ts';
import { createBatchWriter } from './batch.ts';
import { removeOrphanedSidecars } from './open.ts';
import { COLUMNS, STORED_COLUMNS } from './rows.ts';
import { classify, type MinFree } from './space.ts';

/** Past this many rows (or body bytes) the writer has not confirmed, batches are written on this
 * thread: the proxy slows down (backpressure) rather than dropping a flow or growing without bound. */
const MAX_IN_FLIGHT = 20_000;
const MAX_IN_FLIGHT_BYTES = 64 * 1024 * 1024;
/** How often the writer thread checks the store file and its file system between writes. */
const CHECK_INTERVAL_MS = 1000;

export interface RetentionResult {
  deleted: number;
  /** Bytes the store uses afterwards (used pages * page size). */
  bytes: number;
}

/** What the PostgreSQL writer thread reports about PostgreSQL and its spool (pg/writer-worker.cjs). */
export interface PgState {
  /** null until the first connection was tried. */
  up: boolean | null;
  since: number;
  error: string | null;
  spool: { flows: number; bytes: number; maxBytes: number; full: boolean; path: string };
  /** Flows written from the spool to PostgreSQL, and put in the spool, since start. */
  replayed: number;
  spooled: number;
}

export interface WriterThreadOptions {
  /** The writer thread's script (writer-worker.cjs, or pg/writer-worker.cjs) and what it is given besides the common fields. */
  script: string;
  workerData: Record<string, unknown>;
  retention: { maxAgeMs?: number; maxBytes?: number; intervalMs: number } | null;
  onUnavailable: OnUnavailable;
  minFree?: MinFree;
  onEvent: (e: StoreEvent) => void;
  /** SQLite only: the store file, and the proxy thread's connection to it (overload fallback, reopening a deleted file). */
  sqlite?: {
    file: string;
    /** The proxy thread's connection. */
    db: () => Database.Database;
    /** The instance flows written on this thread (the overload fallback) belong to. */
    instance: string | null;
    /**
     * Before a deleted or replaced store file is given up: every other connection of this process
     * to it closes first, so the last one to close (this thread's, read-write) checkpoints its WAL
     * and removes its -wal and -shm, which would otherwise be read into a file now at the path.
     */
    closeConnections: () => void;
    /** Opens the proxy thread's connection on the file now at the path (creating a new store). */
    openDb: () => void;
  };
}

type Reply = {
  written?: number;
  rejected?: number;
  rejectedError?: string;
  failed?: number;
  problem?: StoreProblem | null;
  json?: string;
  blob?: ArrayBuffer;
  bytes?: number;
  retry?: boolean;
  seq?: number;
  health?: StoreProblem | null;
  space?: { free: number; floor: number };
  probed?: boolean;
  wrote?: boolean;
  attached?: boolean;
  detached?: boolean;
  closed?: boolean;
  retained?: RetentionResult & { error?: string };
  budget?: { ok: boolean; granted?: number; rows?: CounterRow[] };
  event?: StoreEvent;
  pg?: PgState;
  /** Flows the store refused when replaying them (PostgreSQL's spool); already acknowledged. */
  dropped?: number;
  error?: string;
};

/** [budget, agent, metric (the limit's key), window_start, used or delta] */
export type CounterRow = [string, string, string, number, number];

export class WriterThread {
  readonly stats = { written: 0, failed: 0, syncWrites: 0, retentionDeleted: 0, retentionRuns: 0 };
  readonly availability: StoreAvailability;
  /** Free bytes on the store's file system and the floor kept there, as last seen. */
  space = { free: NaN, floor: NaN };
  /** PostgreSQL and its spool as last reported (the PostgreSQL store only). */
  pg: PgState | undefined;
  private worker: Worker | undefined;
  private readonly backlog = new Backlog();
  private inFlight = 0;
  private inFlightBytes = 0;
  private waiters: (() => void)[] = [];
  private calls = new Map<number, (r: Reply) => void>();
  private seq = 0;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  /** A backlog batch is being written (one at a time, in order). */
  private draining = false;
  private drained = 0;
  private closing = false;
  private fallback: { db: Database.Database; write: ReturnType<typeof createBatchWriter> } | undefined;

  constructor(private readonly opts: WriterThreadOptions) {
    this.availability = new StoreAvailability(opts.onUnavailable, opts.onEvent, () => this.backlog.flows);
    this.start();
  }

  /** Flows sent and not yet confirmed, plus those waiting in the backlog. */
  pending(): number {
    return this.inFlight + this.backlog.flows;
  }

  backlogFlows(): number {
    return this.backlog.flows;
  }

  send(b: PendingBatch): void {
    if (!this.availability.ok || !this.worker) return this.hold(b);
    if (this.inFlight >= MAX_IN_FLIGHT || this.inFlightBytes >= MAX_IN_FLIGHT_BYTES) {
      if (this.opts.sqlite) return this.writeHere(b);
      // The PostgreSQL writer spools what PostgreSQL is slow to take: this far behind, it is stuck.
      this.hold(b);
      return this.unavailable({ kind: 'behind', message: `the flow writer thread is ${this.inFlight} flows behind` });
    }
    this.post(b, false);
  }

  /** Resolves once nothing sent is unconfirmed (the backlog may still hold flows). */
  async flush(): Promise<void> {
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Claims up to `want` of what is left under `max` in the store (every process's claims count); null when the store cannot be used. */
  async claim(key: [string, string, string, number], want: number, max: number): Promise<number | null> {
    const r = await this.call({ budget: { claim: key, want, max } });
    return r.budget?.ok ? (r.budget.granted ?? 0) : null;
  }

  /** Adds to counters in the store, in order with every claim and read sent after it. */
  addCounters(rows: CounterRow[]): void {
    this.worker?.postMessage({ budget: { add: rows } });
  }

  /** Counters of windows that started at or after `from`, as the store holds them now; null when it cannot be read. */
  async readCounters(from: number): Promise<CounterRow[] | null> {
    const r = await this.call({ budget: { read: from } });
    return r.budget?.ok ? (r.budget.rows ?? []) : null;
  }

  /** The PostgreSQL writer: resolves once nothing waits in its spool either, unless PostgreSQL cannot take writes. */
  async spoolDrained(): Promise<void> {
    await this.call({ drained: true });
  }

  async retain(): Promise<RetentionResult> {
    const r = await this.call({ retain: true });
    return { deleted: r.retained?.deleted ?? 0, bytes: r.retained?.bytes ?? 0 };
  }

  /** Writes what it can (the backlog too, if the store writes again), then stops the thread. */
  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.probeTimer);
    await this.flush();
    while (this.probing || this.draining) await sleep(10);
    if (this.backlog.length > 0 && this.worker) {
      if (this.availability.kind === 'deleted' && this.opts.sqlite) await this.reopen();
      const r = await this.call({ probe: true });
      if (!r.problem) {
        this.drainNext();
        while (this.draining) await sleep(10);
      }
    }
    const lost = this.backlog.flows;
    while (this.backlog.shift());
    this.availability.drop('shutdown', lost);
    const w = this.worker;
    if (w) {
      await this.call({ close: true });
      await w.terminate();
    }
  }

  private start(): void {
    const w = new Worker(packageFile(this.opts.script), {
      workerData: {
        ...this.opts.workerData,
        columns: STORED_COLUMNS,
        hashed: COLUMNS.length,
        driver: createRequire(import.meta.url).resolve('better-sqlite3'),
        retention: this.opts.retention,
        minFree: this.opts.minFree,
        checkIntervalMs: CHECK_INTERVAL_MS,
      },
      // The writer holds one batch at a time: a small heap keeps the second isolate cheap.
      // (Body bytes arrive as a transferred ArrayBuffer, outside the heap.)
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 },
    });
    this.worker = w;
    w.on('message', (m: Reply) => this.onMessage(m));
    w.on('error', (err) => this.writerFailed(w, err.message));
    w.on('exit', (code) => this.writerFailed(w, `it exited with code ${code}`));
  }

  private onMessage(m: Reply): void {
    if (m.space) this.space = m.space;
    if (m.pg) this.pg = m.pg;
    if (m.event) this.opts.onEvent(m.event);
    if (m.dropped) {
      this.stats.failed += m.dropped;
      this.availability.drop('rejected', m.dropped, m.error);
    }
    // Reports only (events, dropped flows, PostgreSQL's state): nothing to confirm.
    const reportOnly = m.written === undefined && m.failed === undefined && m.health === undefined && m.seq === undefined && !m.attached && !m.retained && !m.closed;
    if (reportOnly) return;
    if (m.retained) {
      this.stats.retentionRuns++;
      this.stats.retentionDeleted += m.retained.deleted;
      if (m.retained.error) this.opts.onEvent({ level: 'error', msg: 'flow retention failed', fields: { error: m.retained.error } });
    }
    if (m.health !== undefined) return this.checked(m.health);
    if (m.attached && m.seq === undefined && m.problem) return this.unavailable(m.problem);
    if (m.seq !== undefined) {
      const resolve = this.calls.get(m.seq);
      this.calls.delete(m.seq);
      return resolve?.(m);
    }
    if (m.closed || m.attached || m.retained) return;
    this.confirmed(m);
  }

  private post(b: PendingBatch, retry: boolean): void {
    this.inFlight += b.count;
    this.inFlightBytes += b.bytes;
    const msg = { json: b.json, blob: b.blob, count: b.count, bytes: b.bytes, retry };
    if (b.blob) this.worker!.postMessage(msg, [b.blob]);
    else this.worker!.postMessage(msg);
  }

  private confirmed(m: Reply): void {
    this.inFlight -= (m.written ?? 0) + (m.rejected ?? 0) + (m.failed ?? 0);
    this.inFlightBytes -= m.bytes ?? 0;
    if (m.written) this.stats.written += m.written;
    if (m.rejected) {
      this.stats.failed += m.rejected;
      this.availability.drop('rejected', m.rejected, m.rejectedError);
    }
    if (m.failed && m.problem) {
      const b: PendingBatch = { json: m.json!, blob: m.blob, count: m.failed, bytes: m.bytes ?? 0 };
      if (m.retry) this.backlog.unshift(b);
      else this.hold(b);
      this.availability.writeFailed(m.problem);
      this.scheduleProbe();
    }
    if (m.retry) {
      this.draining = false;
      if (!m.failed) {
        this.drained += m.written ?? 0;
        this.drainNext();
      }
    }
    if (this.inFlight === 0) for (const w of this.waiters.splice(0)) w();
  }

  /** Keeps a batch for later; past the backlog's bounds it is dropped and counted. */
  private hold(b: PendingBatch): void {
    if (!this.backlog.push(b)) this.availability.drop('backlog_full', b.count);
  }

  /** The overload fallback: this thread writes the batch itself. */
  private writeHere(b: PendingBatch): void {
    const db = this.opts.sqlite!.db();
    if (this.fallback?.db !== db) this.fallback = { db, write: createBatchWriter(db, STORED_COLUMNS, COLUMNS.length, false, this.opts.sqlite!.instance) };
    try {
      const { rows, bodies } = JSON.parse(b.json);
      this.fallback.write(rows, bodies, b.blob ? Buffer.from(b.blob) : Buffer.alloc(0));
      this.stats.written += b.count;
      this.stats.syncWrites++;
    } catch (err) {
      // Whatever it was, the writer thread retries it (flow by flow, if it was the batch).
      this.hold(b);
      this.availability.writeFailed(classify(err) ?? { kind: 'io', message: (err as Error).message });
      this.scheduleProbe();
    }
  }

  /** The writer thread's look at the store once a second (stat, access, utimes, statfs). */
  private checked(problem: StoreProblem | null): void {
    if (problem && this.availability.ok) this.unavailable(problem);
  }

  private unavailable(p: StoreProblem): void {
    this.availability.unavailable(p);
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    if (this.probeTimer || this.probing || this.closing) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      void this.probe();
    }, this.availability.nextProbeDelay());
  }

  private async probe(): Promise<void> {
    if (this.probing || this.draining || this.closing || this.availability.ok) return;
    this.probing = true;
    try {
      this.availability.remind();
      if (!this.worker) this.start();
      if (this.availability.kind === 'deleted' && this.opts.sqlite) await this.reopen();
      const r = await this.call({ probe: true });
      if (!r.problem) this.drainNext();
      else if (r.wrote) this.availability.writeFailed(r.problem);
      else this.availability.unavailable(r.problem);
    } finally {
      this.probing = false;
    }
    if (!this.availability.ok && !this.draining) this.scheduleProbe();
  }

  /** Writes the next backlog batch; an empty backlog means the store is in use again. */
  private drainNext(): void {
    if (this.draining || !this.worker) return;
    const b = this.backlog.shift();
    if (!b) {
      this.availability.recovered(this.drained);
      this.drained = 0;
      return;
    }
    this.draining = true;
    this.post(b, true);
  }

  /**
   * The store file was deleted (or replaced) under airlock: both threads close it (the space of a
   * deleted file is only freed then) and open a new store at the path. Its hash chain starts anew.
   */
  private async reopen(): Promise<void> {
    const sqlite = this.opts.sqlite!;
    await this.call({ detach: true });
    try {
      sqlite.closeConnections();
      removeOrphanedSidecars(sqlite.file);
      sqlite.openDb();
    } catch (err) {
      this.availability.unavailable(classify(err) ?? { kind: 'io', message: (err as Error).message });
      return;
    }
    const r = await this.call({ attach: true });
    if (r.problem) return this.availability.unavailable(r.problem);
    this.opts.onEvent({ level: 'warn', msg: 'flow store file was deleted or replaced: writing to a new store at its path (its hash chain starts anew)', fields: { store: sqlite.file } });
  }

  private call(msg: Record<string, unknown>): Promise<Reply> {
    const w = this.worker;
    if (!w) return Promise.resolve({ problem: { kind: 'writer', message: 'the flow writer thread is not running' } });
    const seq = ++this.seq;
    return new Promise((resolve) => {
      this.calls.set(seq, resolve);
      w.postMessage({ ...msg, seq });
    });
  }

  /** The writer thread died: the batches it held are lost (counted), and it is started again on the next probe. */
  private writerFailed(w: Worker, message: string): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    if (this.closing) {
      for (const resolve of this.calls.values()) resolve({});
      this.calls.clear();
      for (const resolve of this.waiters.splice(0)) resolve();
      return;
    }
    this.availability.drop('writer_failed', this.inFlight);
    this.inFlight = 0;
    this.inFlightBytes = 0;
    this.draining = false;
    const problem: StoreProblem = { kind: 'writer', message: `the flow writer thread failed: ${message}` };
    for (const resolve of this.calls.values()) resolve({ problem });
    this.calls.clear();
    for (const resolve of this.waiters.splice(0)) resolve();
    this.availability.writeFailed(problem);
    this.scheduleProbe();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

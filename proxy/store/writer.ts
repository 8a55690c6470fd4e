// The flow store. record() only queues a row; batches go to a writer thread that inserts them in
// one transaction each, so neither inserts nor WAL checkpoints (fsync) stall the proxy's thread.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { Flow } from '../flow.ts';
import { packageFile } from '../package-file.ts';
import { INSERT_FLOW, toRow } from './rows.ts';
import { migrate } from './schema.ts';

const BATCH = 200;
const FLUSH_MS = 20;
/** Past this many rows the writer has not confirmed, record() writes on this thread: the proxy
 * slows down (backpressure) rather than dropping a flow or growing without bound. */
const MAX_IN_FLIGHT = 20_000;

export class FlowStore {
  /** This thread's connection: migrations, reads, and the overload fallback. */
  readonly db: Database.Database;
  readonly stats = { written: 0, failed: 0, highWater: 0, batches: 0, syncWrites: 0 };
  private worker: Worker;
  private batch: unknown[][] = [];
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private waiters: (() => void)[] = [];
  private fallback: Database.Statement | undefined;

  constructor(file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    migrate(this.db);
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(packageFile('proxy/store/writer-worker.cjs'), {
      workerData: { file, sql: INSERT_FLOW, driver },
      // The writer holds one batch at a time: a small heap keeps the second isolate cheap.
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 },
    });
    this.worker.on('message', (m: { written?: number; failed?: number; error?: string }) => this.confirmed(m));
    this.worker.on('error', (err) => process.stderr.write(`airlock: flow writer failed: ${err.message}\n`));
  }

  record(flow: Flow): void {
    this.batch.push(toRow(flow));
    const queued = this.inFlight + this.batch.length;
    if (queued > this.stats.highWater) this.stats.highWater = queued;
    if (this.batch.length >= BATCH) this.send();
    else this.timer ??= setTimeout(() => this.send(), FLUSH_MS);
  }

  /** Flows recorded but not yet committed. */
  queueDepth(): number {
    return this.inFlight + this.batch.length;
  }

  /** Resolves once every flow recorded so far is committed. */
  flush(): Promise<void> {
    this.send();
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
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

  private send(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.batch.length === 0) return;
    const rows = this.batch;
    this.batch = [];
    this.stats.batches++;
    if (this.inFlight >= MAX_IN_FLIGHT) return this.writeHere(rows);
    this.inFlight += rows.length;
    // One JSON string per batch: cheaper to hand across threads than structured-cloning rows.
    this.worker.postMessage({ json: JSON.stringify(rows), count: rows.length });
  }

  private writeHere(rows: unknown[][]): void {
    this.fallback ??= this.db.prepare(INSERT_FLOW);
    const stmt = this.fallback;
    this.db.transaction(() => rows.forEach((r) => stmt.run(r)))();
    this.stats.written += rows.length;
    this.stats.syncWrites++;
  }

  private confirmed(m: { written?: number; failed?: number; error?: string }): void {
    if (m.written) this.stats.written += m.written;
    if (m.failed) {
      this.stats.failed += m.failed;
      process.stderr.write(`airlock: could not record ${m.failed} flows: ${m.error}\n`);
    }
    this.inFlight -= (m.written ?? 0) + (m.failed ?? 0);
    if (this.inFlight === 0) for (const w of this.waiters.splice(0)) w();
  }
}

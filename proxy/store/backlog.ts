// Batches of flows the store could not write yet, held in memory in order until it can. Bounded in
// flows and bytes: past a bound a new batch is not taken (the caller counts it as dropped), so an
// outage costs at most this much memory and keeps the flows nearest to its start.

/** A batch as the writer thread takes it: rows and body descriptors as JSON, body bytes in one buffer. */
export interface PendingBatch {
  json: string;
  blob?: ArrayBuffer;
  count: number;
  /** Body bytes in blob. */
  bytes: number;
}

export const BACKLOG_MAX_FLOWS = 10_000;
export const BACKLOG_MAX_BYTES = 64 * 1024 * 1024;

export class Backlog {
  private items: PendingBatch[] = [];
  flows = 0;
  bytes = 0;

  constructor(
    private readonly maxFlows = BACKLOG_MAX_FLOWS,
    private readonly maxBytes = BACKLOG_MAX_BYTES,
  ) {}

  get length(): number {
    return this.items.length;
  }

  /** Adds at the end; false (and not added) when it would pass a bound. */
  push(b: PendingBatch): boolean {
    if (this.flows + b.count > this.maxFlows || this.bytes + sizeOf(b) > this.maxBytes) return false;
    this.items.push(b);
    this.account(b, 1);
    return true;
  }

  /** A batch taken out to be written that failed again goes back first, whatever the bounds. */
  unshift(b: PendingBatch): void {
    this.items.unshift(b);
    this.account(b, 1);
  }

  shift(): PendingBatch | undefined {
    const b = this.items.shift();
    if (b) this.account(b, -1);
    return b;
  }

  private account(b: PendingBatch, sign: 1 | -1): void {
    this.flows += sign * b.count;
    this.bytes += sign * sizeOf(b);
  }
}

/** Memory a batch holds: its body bytes and its JSON (two bytes a character, as V8 may store it). */
function sizeOf(b: PendingBatch): number {
  return b.bytes + 2 * b.json.length;
}

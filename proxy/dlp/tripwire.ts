// A literal search for values that must never leave (another rule's placeholders), over a
// stream: a tail that could be the start of one is held until the next chunk decides it, so a
// request is refused before any byte of a placeholder is released. Per chunk: one indexOf per
// value over the chunk, and a look at the few bytes where chunks join.
const EMPTY = Buffer.alloc(0);

export type TripStep = { out: Buffer } | { hit: number };

export class Tripwire {
  private carry: Buffer = EMPTY;
  private readonly longest: number;

  /** `values`: non-empty; a hit names the index of the value found. */
  constructor(private readonly values: readonly Buffer[]) {
    this.longest = Math.max(0, ...values.map((v) => v.length));
  }

  /** Index of the first value found in `b`, or -1. */
  find(b: Buffer): number {
    for (let i = 0; i < this.values.length; i++) if (b.indexOf(this.values[i]) >= 0) return i;
    return -1;
  }

  /** The bytes now safe to release, or the value found. */
  push(chunk: Buffer): TripStep {
    let hit: number;
    if (this.carry.length) {
      // Where the chunks join: the carry plus enough of the chunk to complete any value.
      hit = this.find(Buffer.concat([this.carry, chunk.subarray(0, this.longest - 1)]));
      if (hit >= 0) return { hit };
    }
    hit = this.find(chunk);
    if (hit >= 0) return { hit };
    const buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    const keep = this.pendingPrefix(buf);
    this.carry = keep ? Buffer.from(buf.subarray(buf.length - keep)) : EMPTY;
    return { out: keep ? buf.subarray(0, buf.length - keep) : buf };
  }

  /** What was held back (the stream ended: it was no value). */
  end(): Buffer {
    const rest = this.carry;
    this.carry = EMPTY;
    return rest;
  }

  /** Length of the longest tail of `buf` that is a proper prefix of some value. */
  private pendingPrefix(buf: Buffer): number {
    const from = Math.max(0, buf.length - this.longest + 1);
    let best = 0;
    for (const v of this.values) {
      for (let at = buf.indexOf(v[0], from); at >= 0; at = buf.indexOf(v[0], at + 1)) {
        const k = buf.length - at;
        if (k >= v.length || k <= best) continue;
        if (buf.compare(v, 0, k, at, buf.length) === 0) best = k;
      }
    }
    return best;
  }
}

// What airlock has already scanned: for each piece of content (a JSON element of a body, see
// native/dlp/src/chunker.h), keyed by a keyed digest of its bytes (a random key per process), the
// matches every rule found in it — rule, offsets, encoding and the masked preview, never the
// secret. An agent resends its whole conversation every turn; with this only what is new in a
// turn is scanned. Actions are decided per request (segments.ts), so a remembered match is
// blocked, redacted or logged exactly as a fresh one.
import { LRUCache } from 'lru-cache';
import type { Remembered } from './scan.ts';

/** Pieces remembered (least recently used forgotten first). A clean piece costs ~100 bytes, one with matches more. */
const DEFAULT_ENTRIES = 65_536;
const NONE: readonly Remembered[] = Object.freeze([]);

export class ScanCache {
  readonly stats = { hits: 0, misses: 0 };
  private readonly lru: LRUCache<string, readonly Remembered[]>;

  constructor(entries = DEFAULT_ENTRIES) {
    this.lru = new LRUCache({ max: entries });
  }

  get size(): number {
    return this.lru.size;
  }

  /** `tag`: the piece's keyed digest (16 bytes). */
  get(tag: Buffer): readonly Remembered[] | undefined {
    const hit = this.lru.get(tag.toString('latin1'));
    if (hit) this.stats.hits++;
    else this.stats.misses++;
    return hit;
  }

  set(tag: Buffer, matches: readonly Remembered[]): void {
    this.lru.set(tag.toString('latin1'), matches.length ? matches : NONE);
  }
}

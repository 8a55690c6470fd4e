// A JSON body scanned piece by piece: the native chunker (native/dlp/src/chunker.h) cuts it after
// each element of the arrays at its top two levels (an LLM call's messages, tools, system blocks),
// each piece is scanned on its own — with every rule, so the result holds for any request — and
// remembered (cache.ts); a piece seen before is not scanned again. No rule can match across the
// `},{` between two elements, so this finds what a scan of the whole body finds
// (test/unit/dlp-segments.test.ts), and with the cache on or off the findings, actions and bytes
// released are the same by construction. Anything that is not JSON goes to one StreamScanner.
import { ScanCache } from './cache.ts';
import type { Engine } from './engine.ts';
import { mask } from './mask.ts';
import { type Chunks, type NativeChunker, type NativeMatch, nativeAddon } from './native.ts';
import { dedupe, type Remembered } from './scan.ts';
import type { Finding, Rules } from './stream.ts';
import { FindingLog, StreamScanner } from './stream.ts';

/** An open piece longer than this is scanned as a stream instead of held whole (and not remembered). */
const MAX_HELD = 512 * 1024;
/** Consecutive small elements travel as one piece of at least this many bytes (fewer, larger scans). */
const MIN_PIECE = 1024;
/** Pieces shorter than this are scanned every time: remembering them costs more than scanning. */
const MIN_REMEMBERED = 256;
const NONE: readonly Remembered[] = [];

/** One cache per compiled rule set: what a piece holds depends on the rules and nothing else. */
const caches = new WeakMap<object, ScanCache>();
export function cacheOf(engine: Engine): ScanCache {
  const key = engine.native ?? engine;
  let c = caches.get(key);
  if (!c) caches.set(key, (c = new ScanCache()));
  return c;
}

export interface BodyScanner {
  readonly findings: Finding[];
  readonly dropped: number;
  readonly blocked: Finding | undefined;
  /** What the last push or end released, as the store may keep it (every finding redacted), when it differs. */
  readonly lastStored: Buffer | undefined;
  push(chunk: Buffer): Buffer | null;
  end(): Buffer | null;
  /**
   * The pieces the last push or end released unchanged into the stored copy, with their SHA-256
   * (the store keeps a body by those digests and need not hash it again): [start, end) in
   * stored-copy offsets.
   */
  takePieces?(): StoredPieces | undefined;
}

/** Pieces of a stored copy and their SHA-256s: ranges [s0, e0, s1, e1, ...], digests 32 bytes each. */
export interface StoredPieces {
  ranges: number[];
  digests: Buffer[];
}

export class SegmentedScanner implements BodyScanner {
  private readonly log: FindingLog;
  private readonly chunker: NativeChunker;
  /** Set once the body turns out not to be JSON: everything goes through it. */
  private whole: StreamScanner | undefined;
  /** Bytes of the open piece not yet scanned. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** Stream offsets: where the open piece starts, and of the next byte pushed. */
  private start = 0;
  private pos = 0;
  /** The open piece, once too long to hold: scanned as a stream. */
  private streaming: StreamScanner | undefined;
  private stored: Buffer | undefined;
  /** Bytes of the stored copy released so far, and the unchanged pieces among the last release's. */
  private storedPos = 0;
  private pieces: StoredPieces | undefined;

  private readonly cache: ScanCache | null;
  private readonly minRemembered: number;
  private readonly keepStored: boolean;

  constructor(
    private readonly rules: Rules,
    location: string,
    keepStored = false,
    sameLength = false,
    /** `cache` null: nothing remembered; the sizes are for tests that cut every element apart. */
    opts: { cache?: ScanCache | null; minPiece?: number; minRemembered?: number } = {},
  ) {
    const addon = nativeAddon();
    if (!addon || !rules.engine.native) throw new Error('scanning piece by piece needs the native scanner');
    this.cache = opts.cache === undefined ? cacheOf(rules.engine) : opts.cache;
    this.minRemembered = opts.minRemembered ?? MIN_REMEMBERED;
    // Hashed for the cache, and for the store when it keeps a copy (it takes the digests as they are).
    this.chunker = new addon.Chunker(false, this.cache !== null || keepStored, opts.minPiece ?? MIN_PIECE);
    this.keepStored = keepStored;
    this.log = new FindingLog(rules, location, keepStored, sameLength);
  }

  get findings(): Finding[] {
    return this.log.findings;
  }
  get dropped(): number {
    return this.log.dropped;
  }
  get blocked(): Finding | undefined {
    return this.log.blocked;
  }
  get lastStored(): Buffer | undefined {
    return this.whole ? this.whole.lastStored : this.stored;
  }

  takePieces(): StoredPieces | undefined {
    const p = this.pieces;
    this.pieces = undefined;
    return p;
  }

  push(chunk: Buffer): Buffer | null {
    if (this.log.blocked) return null;
    if (this.whole) return this.whole.push(chunk);
    const ends = this.chunker.feed(chunk);
    if (this.chunker.mode() === 2) return this.becomeWhole(chunk);
    return this.release(chunk, ends, false);
  }

  end(): Buffer | null {
    if (this.log.blocked) return null;
    if (this.whole) return this.whole.end();
    return this.release(Buffer.alloc(0), this.chunker.finish(), true);
  }

  /** Not JSON: one stream scanner for the whole body, from its first byte. */
  private becomeWhole(chunk: Buffer): Buffer | null {
    this.whole = new StreamScanner(this.rules, this.log.location, false, false, false, { log: this.log, base: 0 });
    for (const b of this.held) this.whole.push(b);
    this.held = [];
    return this.whole.push(chunk);
  }

  /** What this chunk lets out: the pieces it completes, scanned (or remembered) and committed in order. */
  private release(chunk: Buffer, ends: Chunks | null, final: boolean): Buffer | null {
    const parts: { out: Buffer; stored: Buffer | undefined }[] = [];
    let storedPos = this.storedPos;
    const note = (out: Buffer | null, stored: Buffer | undefined) => {
      if (out !== null && (out.length || stored?.length)) {
        parts.push({ out, stored });
        storedPos += (stored ?? out).length;
      }
      return out !== null;
    };
    const chunkAt = this.pos;
    this.pos += chunk.length;
    let rest = chunk;
    let restAt = chunkAt;
    // Held bytes and this chunk up to its last cut, copied once into one buffer: the pieces are
    // views of it, and when no rule changes them it is released as it is (no copy per piece).
    const lastCut = ends?.[0].at(-1);
    let afterCuts: Buffer | undefined;
    if (lastCut !== undefined && this.held.length && !this.streaming) {
      rest = Buffer.concat([...this.held, chunk.subarray(0, lastCut - chunkAt)]);
      restAt = this.start;
      afterCuts = chunk.subarray(lastCut - chunkAt);
      this.held = [];
      this.heldBytes = 0;
    }
    // The pieces this chunk completes: [bytes, stream offset, keyed tag, SHA-256].
    const pieces: [Buffer, number, Buffer, Buffer][] = [];
    for (let i = 0; ends && i < ends[0].length; i++) {
      const cut = ends[0][i] - restAt;
      const tail = rest.subarray(0, cut);
      rest = rest.subarray(cut);
      restAt += cut;
      if (this.streaming) {
        // The long piece ends here: finish its stream first (its findings come before the rest).
        if (!note(this.streaming.push(tail), this.streaming.lastStored)) return null;
        if (!note(this.streaming.end(), this.streaming.lastStored)) return null;
        this.streaming = undefined;
      } else {
        pieces.push([this.held.length ? Buffer.concat([...this.held, tail]) : tail, this.start, ends[3].subarray(16 * i, 16 * i + 16), ends[1].subarray(32 * i, 32 * i + 32)]);
        this.held = [];
        this.heldBytes = 0;
      }
      this.start = ends[0][i];
    }
    const matches = this.matchesOf(pieces);
    const actions = this.rules.actions;
    for (let i = 0; i < pieces.length; i++) {
      const [bytes, at, , sha] = pieces[i];
      const from = storedPos;
      if (!note(this.log.commit(bytes, 0, bytes.length, matches[i], at), this.log.lastStored)) return null;
      // A piece no rule changed is stored as it came: its digest is the stored bytes' digest.
      if (this.keepStored && bytes.length && matches[i].every((m) => actions[m.rule.index] === 'off')) {
        this.pieces ??= { ranges: [], digests: [] };
        this.pieces.ranges.push(from, from + bytes.length);
        this.pieces.digests.push(sha);
      }
    }
    if (afterCuts) rest = afterCuts;
    if (rest.length) {
      if (this.streaming) {
        if (!note(this.streaming.push(rest), this.streaming.lastStored)) return null;
      } else {
        this.held.push(rest);
        this.heldBytes += rest.length;
        if (this.heldBytes > MAX_HELD) {
          // Too long to hold: from now on this piece is a stream (not remembered).
          this.streaming = new StreamScanner(this.rules, this.log.location, false, false, false, { log: this.log, base: this.start });
          for (const b of this.held.splice(0)) if (!note(this.streaming.push(b), this.streaming.lastStored)) return null;
          this.heldBytes = 0;
        }
      }
    }
    if (final && this.streaming && !note(this.streaming.end(), this.streaming.lastStored)) return null;
    this.storedPos = storedPos;
    this.stored = parts.some((p) => p.stored !== undefined) ? Buffer.concat(parts.map((p) => p.stored ?? p.out)) : undefined;
    return parts.length === 1 ? parts[0].out : (adjacent(parts) ?? Buffer.concat(parts.map((p) => p.out)));
  }

  /** Every rule's matches in each piece: remembered, or scanned in one native call for all the new ones. */
  private matchesOf(pieces: [Buffer, number, Buffer, Buffer][]): (readonly Remembered[])[] {
    const out: (readonly Remembered[])[] = new Array(pieces.length);
    const fresh: number[] = [];
    for (let i = 0; i < pieces.length; i++) {
      const known = this.cache && pieces[i][0].length >= this.minRemembered ? this.cache.get(pieces[i][2]) : undefined;
      if (known) out[i] = known;
      else fresh.push(i);
    }
    if (fresh.length === 0) return out;
    const engine = this.rules.engine;
    const found = engine.native!.scanPieces(
      fresh.map((i) => pieces[i][0]),
      allRules(engine),
    );
    fresh.forEach((i, k) => {
      const ms = found[k] ? remembered(engine, found[k]!) : NONE;
      out[i] = ms;
      if (this.cache && pieces[i][0].length >= this.minRemembered) this.cache.set(pieces[i][2], ms);
    });
    return out;
  }
}

/** Parts that lie one after another in one buffer (nothing redacted), as one view of it; else undefined. */
function adjacent(parts: { out: Buffer }[]): Buffer | undefined {
  if (parts.length === 0) return undefined;
  const first = parts[0].out;
  let end = first.byteOffset + first.length;
  for (let i = 1; i < parts.length; i++) {
    const b = parts[i].out;
    if (b.buffer !== first.buffer || b.byteOffset !== end) return undefined;
    end += b.length;
  }
  return Buffer.from(first.buffer, first.byteOffset, end - first.byteOffset);
}

const ALL = new WeakMap<Engine, Uint8Array>();
function allRules(engine: Engine): Uint8Array {
  let m = ALL.get(engine);
  if (!m) ALL.set(engine, (m = new Uint8Array(engine.rules.length).fill(1)));
  return m;
}

/** Native matches validated, de-duplicated, and with the secret replaced by its masked preview. */
function remembered(engine: Engine, found: NativeMatch[]): Remembered[] {
  const ms = [];
  for (const [r, start, end, sStart, sEnd, via, bytes] of found) {
    const rule = engine.rules[r];
    const secret = bytes.toString('utf8');
    if (rule.rule.validate && !rule.rule.validate(secret)) continue;
    ms.push({ rule, start, end, sStart, sEnd, via, secret });
  }
  return dedupe(ms).map(({ secret, ...m }) => ({ ...m, preview: mask(secret) }));
}

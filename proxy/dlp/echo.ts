// Scrubs the credentials airlock injected from what an upstream sends back, so an echoing (or
// malicious) upstream can never hand a key to the agent: every form of echo-forms.ts, spelled as
// echo-match.ts reads it, is replaced with `[redacted:injected]` padded to the same length
// (same length in, same length out: Content-Length stays true).
//
// Cost per chunk, when the rule injects a key: one 4-byte sample every few bytes looked up in a
// bitset (raw copies of any form), a native indexOf per escape character (`%`, `\`, `&`) and line
// break, and a character-by-character read only around an escape or break that could be part
// of a form, and over the tail that could still become one. Streaming: only that tail is held.
import { credentialValues, echoForms } from './echo-forms.ts';
import { escapeAt, gapAt, INTRODUCERS, inGap, matchAt, maxWidth, MORE, NO, PARTIAL, units } from './echo-match.ts';

export const ECHO_MARKER = '[redacted:injected]';
const EMPTY = Buffer.alloc(0);
const EMPTY_LIST: readonly number[] = [];
const GRAM = 4;
/** Forms shorter than this are searched with indexOf instead of sampling. */
const SAMPLED = 12;
/** A form cut off at the end of a body or a stored copy is scrubbed from this many characters. */
const CUT_MIN = 6;
/**
 * A stream holds back a possible copy that has this many characters before a line break at the
 * end of a chunk. With fewer, they are released (a line ending in a letter that starts a form
 * would otherwise wait for the next chunk: SSE, logs) and the next chunk is checked for the rest.
 */
const HELD_BEFORE_BREAK = 4;

/** The compiled forms of a rule's secrets: built once per rule, shared by its requests. */
export class EchoSet {
  readonly forms: Buffer[];
  /** The widest text one occurrence can take: what a stream holds back at most. */
  readonly window: number;
  private readonly short: Buffer[] = [];
  private readonly step: number;
  private readonly bits = new Uint32Array(1 << 11);
  private readonly grams = new Map<number, [form: number, offset: number][]>();
  /** Forms by first character. */
  private readonly byFirst: number[][] = Array.from({ length: 256 }, () => []);
  /** Bytes that occur in some form. */
  private readonly inForm = new Uint8Array(256);
  /** Room to join the bytes around a line break or an escape (straddled(), escapedPiece()). */
  private readonly scratch = Buffer.alloc(2 * GRAM - 1);
  private readonly shortest: number;
  /** Bytes that may begin an occurrence: 1 a form's first byte, 2 an escape's first. */
  private readonly starts = new Uint8Array(256);
  /** The first two bytes of each form. */
  private readonly pairs = new Uint8Array(1 << 16);
  private readonly longest: number;

  constructor(secrets: readonly string[]) {
    const forms = new Map<string, Buffer>();
    for (const s of secrets) for (const v of credentialValues(s)) for (const f of echoForms(Buffer.from(v))) forms.set(f.toString('latin1'), f);
    this.forms = [...forms.values()].filter((f) => f.length > 0);
    let longest = 0;
    let shortestSampled = Infinity;
    this.forms.forEach((f, n) => {
      longest = Math.max(longest, f.length);
      this.byFirst[f[0]].push(n);
      for (const c of f) this.inForm[c] = 1;
      if (f.length < SAMPLED) this.short.push(f);
      else shortestSampled = Math.min(shortestSampled, f.length);
      // Every 4-byte piece of every form: sampling finds raw copies of the long ones; a line
      // break is read around when the pieces on its two sides join into one (straddled()).
      for (let k = 0; k + GRAM <= f.length; k++) {
        const g = gramAt(f, k);
        const h = hash(g);
        this.bits[h >>> 5] |= 1 << (h & 31);
        const list = this.grams.get(g);
        if (list) list.push([n, k]);
        else this.grams.set(g, [[n, k]]);
      }
    });
    // Every run of `shortestSampled` bytes holds a sample position followed by GRAM bytes.
    this.step = Number.isFinite(shortestSampled) ? shortestSampled - GRAM + 1 : 0;
    this.window = maxWidth(longest);
    this.longest = longest;
    this.shortest = Math.min(...this.forms.map((f) => f.length));
    for (const f of this.forms) {
      this.starts[f[0]] = 1;
      if (f.length > 1) this.pairs[(f[0] << 8) | f[1]] = 1;
    }
    for (const c of INTRODUCERS) this.starts[c] = 2;
  }

  /**
   * Scrubs `b` into a copy (never writes into `b`). `final`: nothing follows; otherwise `hold` is
   * how many bytes at the end could still begin an occurrence (the caller keeps them for the next
   * chunk, with `spans`: what is already known to be scrubbed there). `cut`: a final text that was
   * cut short (or a body's end), whose trailing partial copy of a form, CUT_MIN characters or
   * more, is scrubbed too. `prior`: spans known from an earlier chunk ([start, end) pairs);
   * `rests`: [form, k] pairs, forms whose first k characters and a line break ended the earlier
   * chunk (released): their rest at the start of `b` is scrubbed. `rests` out: the same for the next chunk.
   */
  scrub(
    b: Buffer,
    final: boolean,
    cut = final,
    prior: readonly number[] = EMPTY_LIST,
    rests: readonly number[] = EMPTY_LIST,
  ): { out: Buffer; hold: number; spans: number[]; rests: number[] } {
    const s: Scan = { b, end: b.length, spans: [...prior], hold: b.length, final, cut, rests: [], again: [] };
    for (let r = 0; r < rests.length; r += 2) this.rest(s, rests[r], rests[r + 1]);
    this.raw(b, s.spans);
    // Escaped or broken copies hold an escape or a line break: read around each that could.
    let done = 0;
    for (const at of this.triggers(b)) {
      const from = Math.max(done, at - this.window);
      if (at + 1 > from) this.read(s, from, at + 1);
      done = Math.max(done, at + 1);
    }
    // What remains at the end is a raw beginning of a form (trailing spaces allowed: a line break may follow).
    if (!final || cut) this.rawTail(s);
    // Bytes held anyway: a released beginning is held with them instead (and found again whole).
    let next = s.again;
    if (s.hold === s.end) next = s.rests.filter((_, i) => i % 3 !== 2);
    else for (let r = 2; r < s.rests.length; r += 3) s.hold = Math.min(s.hold, s.rests[r]);
    return { out: s.spans.length ? replaced(b, s.spans) : b, hold: s.end - s.hold, spans: s.spans, rests: next };
  }

  /** The rest of form n after its first k characters, at the start of the text (a gap first). */
  private rest(s: Scan, n: number, k: number): void {
    const g = gapAt(s.b, 0, s.end, true);
    const m = g === MORE ? PARTIAL : matchAt(s.b, g === NO ? 0 : g, s.end, this.forms[n].subarray(k));
    if (m >= 0) s.spans.push(0, m);
    else if (m <= PARTIAL && !s.final) {
      s.hold = 0; // still undecided: all of it waits, and is checked again
      s.again.push(n, k);
    }
  }

  /** Raw copies only (unescaped, unbroken): cheap, for text the agent wrote (request bodies). */
  scrubRaw(b: Buffer): Buffer {
    const spans: number[] = [];
    this.raw(b, spans);
    return spans.length ? replaced(b, spans) : b;
  }

  /** Only a copy cut off at the end (a stored copy, already scrubbed as it streamed, cut at the cap). */
  scrubCut(b: Buffer): Buffer {
    const from = Math.max(0, b.length - this.window);
    const r = this.scrub(b.subarray(from), true, true);
    return r.spans.length ? Buffer.concat([b.subarray(0, from), r.out]) : b;
  }

  /** Every occurrence (escaped, broken, or cut by the end) starting in b[from, to). */
  private read(s: Scan, from: number, to: number): void {
    const { b, end } = s;
    for (let t = from; t < to; t++) {
      const x = b[t];
      if (this.starts[x] === 0) continue;
      // Two raw bytes that begin no form: the common case, decided without reading further.
      if (this.starts[x] === 1 && t + 1 < end && SPECIAL[b[t + 1]] === 0 && this.pairs[(x << 8) | b[t + 1]] === 0) continue;
      const e = this.starts[x] === 2 ? escapeAt(b, t, end) : NO;
      if (e === MORE) this.partial(s, t, 0, -1);
      const first = this.byFirst[x];
      const alt = e >= 0 && (e & 0xff) !== x ? this.byFirst[e & 0xff] : EMPTY_LIST;
      for (let k = 0; k < first.length + alt.length; k++) {
        const n = k < first.length ? first[k] : alt[k - first.length];
        const m = matchAt(b, t, end, this.forms[n]);
        if (m >= 0) s.spans.push(t, m);
        else if (m <= PARTIAL) this.partial(s, t, m, n);
      }
    }
  }

  /** A possible occurrence of form n from b[t] to the end (m: what matchAt said; n -1: an escape cut short). */
  private partial(s: Scan, t: number, m: number, n: number): void {
    const k = n < 0 ? 0 : units(m);
    if (s.final) {
      if (s.cut && k >= CUT_MIN) s.spans.push(t, s.end);
    } else if (n >= 0 && inGap(m) && k < HELD_BEFORE_BREAK) s.rests.push(n, k, t);
    else s.hold = Math.min(s.hold, t);
  }

  /** A raw beginning of a form at the end of the text (matchAt says how far it goes). */
  private rawTail(s: Scan): void {
    const { b, end } = s;
    let e = end;
    while (e > 0 && end - e < 16 && isSpace(b[e - 1])) e--;
    for (let t = Math.max(0, e - this.longest); t < e; t++) {
      const first = this.byFirst[b[t]];
      for (const n of first) {
        const m = matchAt(b, t, end, this.forms[n]);
        if (m <= PARTIAL) this.partial(s, t, m, n);
      }
    }
  }

  /** Raw (unescaped, unbroken) copies of every form: sampled 4-byte grams, indexOf for short forms. */
  private raw(b: Buffer, spans: number[]): void {
    for (const f of this.short) for (let at = b.indexOf(f); at >= 0; at = b.indexOf(f, at + 1)) spans.push(at, at + f.length);
    if (this.step === 0) return;
    for (let i = 0; i + GRAM <= b.length; i += this.step) {
      const h = hash(gramAt(b, i));
      if ((this.bits[h >>> 5] & (1 << (h & 31))) === 0) continue;
      for (const [n, k] of this.grams.get(gramAt(b, i)) ?? []) {
        const f = this.forms[n];
        const s = i - k;
        if (s >= 0 && s + f.length <= b.length && b.compare(f, 0, f.length, s, s + f.length) === 0) spans.push(s, s + f.length);
      }
    }
  }

  /**
   * Whether an escape at b[at] (decoding to v, `width` bytes) could be part of a copy: the decoded
   * text from it on, or the three raw form bytes before it and it, make a 4-byte piece of some
   * form. (In a copy of at least 7 characters with an escape, its first escape passes one of the
   * two; shorter forms make every escape of a form byte count.)
   */
  private escapedPiece(b: Buffer, at: number, v: number, width: number): boolean {
    if (this.shortest < 2 * GRAM - 1) return true;
    const end = b.length;
    const join = this.scratch;
    join[GRAM - 1] = v;
    // Forward: v and the next three characters, escaped or not, line breaks skipped.
    let n = 1;
    for (let j = at + width, steps = 0; n < GRAM && j < end && steps < 8; steps++) {
      const g = gapAt(b, j, end);
      if (g >= 0) {
        j = g;
        continue;
      }
      const e = escapeAt(b, j, end);
      if (e === MORE) return true;
      join[GRAM - 1 + n++] = e >= 0 ? e & 0xff : b[j];
      j += e >= 0 ? e >> 8 : 1;
    }
    if (n < GRAM || this.grams.has(gramAt(join, GRAM - 1))) return true; // at the end of the text: possible
    // Backward: three raw form bytes, then v.
    let k = 0;
    for (let i = at, steps = 0; k < GRAM - 1 && steps < 32; steps++) {
      if (i === 0) return true;
      const x = b[i - 1];
      if (isSpace(x)) i--;
      else if (this.inForm[x] === 1 && SPECIAL[x] === 0) {
        join[GRAM - 2 - k++] = x;
        i--;
      } else break;
    }
    return k === GRAM - 1 && this.grams.has(gramAt(join, 0));
  }

  /** Sorted positions of escapes and line breaks that could be part of a copy. */
  private triggers(b: Buffer): number[] {
    const out: number[] = [];
    for (const c of INTRODUCERS) {
      for (let at = b.indexOf(c); at >= 0; at = b.indexOf(c, at + 1)) {
        const e = escapeAt(b, at, b.length);
        if (e === MORE) out.push(at); // cut by the end: decided with the next chunk
        if (e < 0) continue;
        const v = e & 0xff;
        if (v === 0x0a || v === 0x0d ? this.straddled(b, at, at + (e >> 8)) : this.inForm[v] === 1 && this.escapedPiece(b, at, v, e >> 8)) out.push(at);
      }
    }
    for (const c of [0x0a, 0x0d]) {
      for (let at = b.indexOf(c); at >= 0; at = b.indexOf(c, at + 1)) if (this.straddled(b, at, at + 1)) out.push(at);
    }
    return out.sort((x, y) => x - y);
  }

  /**
   * Whether a line break at b[from, to) could sit inside a copy: the form bytes on its two sides
   * (whitespace and escaped line breaks skipped) join into a 4-byte piece of some form. A side
   * at the edge of the text is unknown: possible.
   */
  private straddled(b: Buffer, from: number, to: number): boolean {
    const end = b.length;
    const join = this.scratch; // [3 bytes before, then up to 3 after]
    let nb = 0;
    let i = from;
    for (let steps = 0; i > 0 && nb < GRAM - 1 && steps < 32; steps++) {
      const x = b[i - 1];
      if (isSpace(x)) i--;
      else if (i >= 2 && b[i - 2] === 0x5c && (x === 0x6e || x === 0x72 || x === 0x74)) i -= 2;
      else if (i >= 3 && b[i - 3] === 0x25 && isSpace(escapeAt(b, i - 3, end) & 0xff)) i -= 3;
      else if (this.inForm[x] === 1) {
        join[GRAM - 2 - nb++] = x;
        i--;
      } else break;
    }
    let na = 0;
    let j = to;
    for (let steps = 0; j < end && na < GRAM - 1 && steps < 32; steps++) {
      const x = b[j];
      const e = isSpace(x) ? NO : escapeAt(b, j, end);
      if (isSpace(x)) j++;
      else if (e >= 0 && isSpace(e & 0xff)) j += e >> 8;
      else if (e === NO && this.inForm[x] === 1) {
        join[GRAM - 1 + na++] = x;
        j++;
      } else break;
    }
    if ((nb < GRAM - 1 && i === 0) || (na < GRAM - 1 && j >= end)) return true;
    // The pieces that cross the break: from the earliest 'before' byte kept, ending after it.
    for (let k = GRAM - 1 - nb; k < GRAM - 1; k++) {
      if (k + GRAM <= GRAM - 1 + na && this.grams.has(gramAt(join, k))) return true;
    }
    return false;
  }
}

/** Space, tab, CR or LF. */
function isSpace(x: number): boolean {
  return x === 0x20 || x === 0x09 || x === 0x0a || x === 0x0d;
}

/** The rule's secrets as an EchoSet, or null when it injects none. */
export function echoSetOf(secrets: readonly string[]): EchoSet | null {
  const given = secrets.filter((s) => s.length > 0);
  return given.length ? new EchoSet(given) : null;
}

/** Scrubs a whole value (a header, an error text, a stored body; `cut` when it was cut short). */
export function scrubEchoes(set: EchoSet, b: Buffer, cut = false): { out: Buffer; scrubbed: boolean } {
  const r = set.scrub(b, true, cut);
  return { out: r.out, scrubbed: r.spans.length > 0 };
}

/**
 * Stream-safe scrubbing: only a tail that could still become an occurrence is held back, as it
 * arrived (so an occurrence that completes later is read from the original bytes), with the
 * part of it that an earlier occurrence already covers. Which bytes are scrubbed does not depend
 * on how the stream was cut (bench/fuzz-props-secrets.ts).
 */
export class EchoScrubber {
  private carry: Buffer = EMPTY;
  private carried: number[] = [];
  private rests: number[] = [];

  constructor(private readonly set: EchoSet) {}

  push(chunk: Buffer): Buffer {
    return this.step(this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk, false);
  }

  /** The rest; a copy cut off at the very end (a truncated echo) is scrubbed too. */
  end(): Buffer {
    return this.carry.length ? this.step(this.carry, true) : EMPTY;
  }

  private step(buf: Buffer, final: boolean): Buffer {
    const r = this.set.scrub(buf, final, final, this.carried, this.rests);
    const from = buf.length - r.hold;
    this.rests = r.rests;
    this.carry = r.hold ? Buffer.from(buf.subarray(from)) : EMPTY;
    this.carried = [];
    for (let k = 0; k < r.spans.length; k += 2) {
      if (r.spans[k + 1] > from) this.carried.push(Math.max(0, r.spans[k] - from), r.spans[k + 1] - from);
    }
    return r.hold ? r.out.subarray(0, from) : r.out;
  }
}

function gramAt(b: Buffer, i: number): number {
  return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
}

function hash(g: number): number {
  return Math.imul(g, 0x9e3779b1) >>> 16;
}

/** Bytes after which the next character may be escaped or broken: an escape's first byte, '+', whitespace. */
const SPECIAL = new Uint8Array(256);
for (const c of [...INTRODUCERS, 0x2b, 0x20, 0x09, 0x0a, 0x0d]) SPECIAL[c] = 1;

interface Scan {
  b: Buffer;
  end: number;
  /** [start, end) pairs to overwrite. */
  spans: number[];
  /** Where the bytes that must wait for the next chunk begin. */
  hold: number;
  final: boolean;
  cut: boolean;
  /** [form, k, t]: a beginning released before a line break at the end, whose rest the next chunk is checked for. */
  rests: number[];
  /** [form, k]: rests still undecided at the start of this text (it is all held). */
  again: number[];
}

/** A copy of `b` with each [start, end) span (overlaps merged) overwritten by the marker. */
function replaced(b: Buffer, spans: number[]): Buffer {
  const out = Buffer.from(b);
  const order = Array.from({ length: spans.length / 2 }, (_, k) => k).sort((x, y) => spans[2 * x] - spans[2 * y]);
  let s = -1;
  let e = -1;
  const flush = () => {
    if (s >= 0) out.write(fit(e - s), s, 'latin1');
  };
  for (const k of order) {
    const [a, z] = [spans[2 * k], spans[2 * k + 1]];
    if (a <= e) e = Math.max(e, z);
    else {
      flush();
      [s, e] = [a, z];
    }
  }
  flush();
  return out;
}

function fit(n: number): string {
  return ECHO_MARKER.length <= n ? ECHO_MARKER + '*'.repeat(n - ECHO_MARKER.length) : '*'.repeat(n);
}

// Decoded views of a byte buffer, so a secret is found however the agent encoded it: JSON string
// escapes (`\n`, `\uXXXX`, `\/`), URL percent-encoding, and base64 segments. A view maps every
// decoded position back to the raw bytes, so a finding can name (and redact) the raw span.

export interface View {
  buf: Buffer;
  /** Raw position of the first raw byte behind decoded position `d`. */
  rawStart(d: number): number;
  /** Raw position just after the raw bytes behind decoded position `d - 1`. */
  rawEnd(d: number): number;
  /** The first decoded position whose raw start is >= `raw`. */
  fromRaw(raw: number): number;
}

/**
 * Decoded output is a sequence of segments: copied runs (1:1) and decoded escapes (n:m).
 * Arrays of segment starts in both coordinates; segment i spans [dec[i], dec[i+1]).
 */
class SegmentView implements View {
  constructor(
    readonly buf: Buffer,
    private readonly dec: number[],
    private readonly raw: number[],
    private readonly literal: boolean[],
    private readonly rawLength: number,
  ) {}

  private segment(d: number): number {
    let lo = 0;
    let hi = this.dec.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.dec[mid] <= d) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  rawStart(d: number): number {
    if (d >= this.buf.length) return this.rawLength;
    const i = this.segment(d);
    return this.literal[i] ? this.raw[i] + (d - this.dec[i]) : this.raw[i];
  }

  rawEnd(d: number): number {
    if (d <= 0) return 0;
    const i = this.segment(d - 1);
    if (this.literal[i]) return this.raw[i] + (d - this.dec[i]);
    return i + 1 < this.raw.length ? this.raw[i + 1] : this.rawLength;
  }

  fromRaw(raw: number): number {
    // Segments are few (one per escape); a linear walk from the end would also do, but keep it log.
    let lo = 0;
    let hi = this.raw.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.raw[mid] <= raw) lo = mid;
      else hi = mid - 1;
    }
    if (this.raw.length === 0) return 0;
    if (this.literal[lo]) return Math.min(this.dec[lo] + (raw - this.raw[lo]), lo + 1 < this.dec.length ? this.dec[lo + 1] : this.buf.length);
    return raw === this.raw[lo] ? this.dec[lo] : lo + 1 < this.dec.length ? this.dec[lo + 1] : this.buf.length;
  }
}

/** Builds a SegmentView by copying literal runs and appending decoded escapes. */
class ViewBuilder {
  private parts: Buffer[] = [];
  private length = 0;
  private dec: number[] = [];
  private raw: number[] = [];
  private literal: boolean[] = [];
  constructor(private readonly src: Buffer) {}

  copy(from: number, to: number): void {
    if (to <= from) return;
    this.mark(from, true);
    this.parts.push(this.src.subarray(from, to));
    this.length += to - from;
  }

  decoded(rawFrom: number, bytes: Buffer): void {
    this.mark(rawFrom, false);
    this.parts.push(bytes);
    this.length += bytes.length;
  }

  private mark(rawFrom: number, literal: boolean): void {
    this.dec.push(this.length);
    this.raw.push(rawFrom);
    this.literal.push(literal);
  }

  build(): View {
    return new SegmentView(Buffer.concat(this.parts, this.length), this.dec, this.raw, this.literal, this.src.length);
  }
}

const BACKSLASH = 0x5c;
const PERCENT = 0x25;
const SIMPLE_ESCAPES: Record<number, number> = { 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09, 0x62: 0x08, 0x66: 0x0c, 0x2f: 0x2f, 0x5c: 0x5c, 0x22: 0x22, 0x27: 0x27 };

/** JSON (and JS) string escapes decoded; null when the buffer has no backslash. */
export function jsonUnescapeView(src: Buffer): View | null {
  let at = src.indexOf(BACKSLASH);
  if (at < 0) return null;
  const b = new ViewBuilder(src);
  let copied = 0;
  while (at >= 0 && at + 1 < src.length) {
    const next = src[at + 1];
    const simple = SIMPLE_ESCAPES[next];
    let consumed = 0;
    let out: Buffer | undefined;
    if (simple !== undefined) {
      consumed = 2;
      out = Buffer.of(simple);
    } else if (next === 0x75 /* u */ && at + 6 <= src.length) {
      const hi = hex4(src, at + 2);
      if (hi >= 0) {
        consumed = 6;
        let code = hi;
        // A surrogate pair is two escapes for one code point.
        if (hi >= 0xd800 && hi < 0xdc00 && src[at + 6] === BACKSLASH && src[at + 7] === 0x75 && at + 12 <= src.length) {
          const lo = hex4(src, at + 8);
          if (lo >= 0xdc00 && lo < 0xe000) {
            code = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
            consumed = 12;
          }
        }
        out = Buffer.from(String.fromCodePoint(code), 'utf8');
      }
    }
    if (out) {
      b.copy(copied, at);
      b.decoded(at, out);
      copied = at + consumed;
      at = src.indexOf(BACKSLASH, copied);
    } else {
      at = src.indexOf(BACKSLASH, at + 1);
    }
  }
  if (copied === 0) return null;
  b.copy(copied, src.length);
  return b.build();
}

/** Percent-encoding decoded (and `+` as a space in forms); null when there is nothing to decode. */
export function urlDecodeView(src: Buffer, plusIsSpace: boolean): View | null {
  const b = new ViewBuilder(src);
  let copied = 0;
  let any = false;
  let at = nextUrlEscape(src, 0, plusIsSpace);
  while (at >= 0) {
    if (src[at] === PERCENT) {
      const v = hex2(src, at + 1);
      if (v >= 0) {
        b.copy(copied, at);
        b.decoded(at, Buffer.of(v));
        copied = at + 3;
        any = true;
      }
    } else {
      b.copy(copied, at);
      b.decoded(at, Buffer.of(0x20));
      copied = at + 1;
      any = true;
    }
    at = nextUrlEscape(src, Math.max(copied, at + 1), plusIsSpace);
  }
  if (!any) return null;
  b.copy(copied, src.length);
  return b.build();
}

function nextUrlEscape(src: Buffer, from: number, plusIsSpace: boolean): number {
  const p = src.indexOf(PERCENT, from);
  if (!plusIsSpace) return p;
  const s = src.indexOf(0x2b, from);
  return p < 0 ? s : s < 0 ? p : Math.min(p, s);
}

/** A view stacked on another: positions map through both. */
export function stack(outer: View, inner: View): View {
  return {
    buf: inner.buf,
    rawStart: (d) => outer.rawStart(inner.rawStart(d)),
    rawEnd: (d) => outer.rawEnd(inner.rawEnd(d)),
    fromRaw: (raw) => inner.fromRaw(outer.fromRaw(raw)),
  };
}

export const IDENTITY = (buf: Buffer): View => ({ buf, rawStart: (d) => d, rawEnd: (d) => d, fromRaw: (r) => r });

function hex4(b: Buffer, at: number): number {
  const x = hex2(b, at);
  const y = hex2(b, at + 2);
  return x < 0 || y < 0 ? -1 : (x << 8) | y;
}

function hex2(b: Buffer, at: number): number {
  if (at + 2 > b.length) return -1;
  const x = hexDigit(b[at]);
  const y = hexDigit(b[at + 1]);
  return x < 0 || y < 0 ? -1 : (x << 4) | y;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}
